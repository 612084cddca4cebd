"""Frames to an MP4 the chat apps play everywhere: H.264 yuv420p at 30 fps, CRF 17,
faststart. The engine hands back a compact file, never raw frames (a GPU worker on
another machine sends it over the network)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np

FPS = 30
CRF = 17


def write_mp4(frames: Iterable[np.ndarray], path: Path, *, fps: int = FPS) -> Path:
    """`frames`: H x W x 3 uint8 arrays, all the same size (even sides)."""
    with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
        stream = None
        for frame in frames:
            if stream is None:
                stream = out.add_stream("libx264", rate=fps)
                stream.height, stream.width = frame.shape[:2]
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": str(CRF), "preset": "medium"}
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        if stream is None:
            raise ValueError("no frames to encode")
        for packet in stream.encode():
            out.mux(packet)
    return path
