"""Fitting videos to upload limits: encode time and size against the limit.

    python bench/delivery.py

Makes noisy test clips (costly to compress, like real motion), then fits each to a
platform limit: Discord's default 10 MiB, Discord boost tier 2 (50 MiB), Telegram
bots (50 MB) and a tight 8 MiB.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.core.media import fit_to_limit, probe
from tests.support.media_clips import noisy_clip

MiB = 2**20
CASES = [
    # (label, seconds, width, height, source bitrate, limit)
    ("6 s 480p", 6, 832, 480, 4_000_000, 10 * MiB),
    ("20 s 480p", 20, 832, 480, 6_000_000, 10 * MiB),
    ("60 s 720p", 60, 1280, 720, 3_000_000, 10 * MiB),
    ("60 s 720p", 60, 1280, 720, 3_000_000, 8 * MiB),
    ("60 s 720p", 60, 1280, 720, 8_000_000, 50 * 1000 * 1000),
]


def main() -> None:
    print(
        f"{'clip':<10} {'source MiB':>10} {'limit MiB':>9} {'result MiB':>10} "
        f"{'height':>6} {'tries':>5} {'seconds':>8}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for n, (label, seconds, width, height, bitrate, limit) in enumerate(CASES):
            source = noisy_clip(
                Path(tmp) / f"src{n}.mp4",
                seconds=seconds,
                width=width,
                height=height,
                bitrate=bitrate,
            )
            start = time.perf_counter()
            fitted = fit_to_limit(source, limit, Path(tmp) / f"work{n}")
            elapsed = time.perf_counter() - start
            assert probe(fitted.path).frames == round(seconds * 30)
            print(
                f"{label:<10} {source.stat().st_size / MiB:10.2f} {limit / MiB:9.2f} "
                f"{fitted.size_bytes / MiB:10.2f} {fitted.height:6d} {fitted.attempts:5d} "
                f"{elapsed:8.2f}"
            )


if __name__ == "__main__":
    main()
