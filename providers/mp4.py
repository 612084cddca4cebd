"""A structural MP4 check: the top-level boxes must tile the file exactly and include
`ftyp`, `moov` and `mdat`. Catches truncated downloads and error pages saved as .mp4
without decoding anything (written here because the check is 30 lines and needs no
codec; PyAV would decode, which is slower and still accepts some truncated files)."""

from __future__ import annotations

import struct
from pathlib import Path

REQUIRED = {b"ftyp", b"moov", b"mdat"}


def mp4_problem(path: Path) -> str | None:
    """None when the file is a structurally whole MP4, else what is wrong."""
    size = path.stat().st_size
    seen: list[bytes] = []
    offset = 0
    with path.open("rb") as f:
        while offset < size:
            f.seek(offset)
            header = f.read(8)
            if len(header) < 8:
                return f"truncated box header at byte {offset}"
            box_size, box_type = struct.unpack(">I4s", header)
            if box_size == 1:  # 64-bit size follows
                large = f.read(8)
                if len(large) < 8:
                    return f"truncated box header at byte {offset}"
                box_size = struct.unpack(">Q", large)[0]
            elif box_size == 0:  # the box runs to the end of the file
                box_size = size - offset
            if box_size < 8:
                return f"invalid box size {box_size} at byte {offset}"
            if offset + box_size > size:
                return f"{box_type.decode('latin-1')} box runs past the end (truncated)"
            if not seen and box_type != b"ftyp":
                return "not an MP4 (no ftyp box first)"
            seen.append(box_type)
            offset += box_size
    missing = REQUIRED - set(seen)
    if missing:
        return "missing " + ", ".join(sorted(m.decode() for m in missing)) + " box"
    return None
