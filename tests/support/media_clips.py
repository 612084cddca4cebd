"""Test clips with real content: noise that costs bits, so fitting has work to do."""

from __future__ import annotations

import random
from pathlib import Path

import av
from PIL import Image


def noisy_clip(
    path: Path, *, seconds: float, width: int, height: int, bitrate: int, fps: int = 30
) -> Path:
    """H.264 at a constant `bitrate` of moving noise: about bitrate x seconds / 8 bytes."""
    rng = random.Random(7)
    tiles = [Image.effect_noise((width, height), 60 + 10 * i).convert("RGB") for i in range(6)]
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = bitrate
        stream.options = {
            "preset": "ultrafast",
            "x264-params": "nal-hrd=cbr",
            "minrate": str(bitrate),
            "maxrate": str(bitrate),
            "bufsize": str(bitrate),
        }
        frames = [av.VideoFrame.from_image(tile) for tile in tiles]
        for _ in range(round(seconds * fps)):
            for packet in stream.encode(frames[rng.randrange(len(frames))]):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
