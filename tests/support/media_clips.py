"""Test clips with real content: noise that costs bits, so fitting has work to do."""

from __future__ import annotations

import io
import itertools
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


def reds(video: Path | bytes | bytearray) -> list[int]:
    """The red of each frame's centre, in order: the fake providers' clips are one colour
    a frame, their red stepping by 7 (tests/support/fakes/media.py)."""

    source = io.BytesIO(video) if isinstance(video, bytes | bytearray) else str(video)
    with av.open(source) as container:
        shades = []
        for frame in container.decode(video=0):
            image = frame.to_image()
            shades.append(int(image.getpixel((image.width // 2, image.height // 2))[0]))
    return shades


def steps_between(shades: list[int]) -> list[int]:
    """Each frame's change of red from the one before, modulo 256 (the shade wraps)."""
    return [(after - before) % 256 for before, after in itertools.pairwise(shades)]
