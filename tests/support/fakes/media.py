"""Small real MP4s for the fakes to serve, encoded with PyAV (H.264, yuv420p)."""

from __future__ import annotations

import io
from functools import lru_cache

import av
from PIL import Image

# Tiny stand-ins for the real sizes, keeping the aspect ratio (H.264 wants even sides).
SIZES = {
    ("480p", "16:9"): (64, 36),
    ("480p", "9:16"): (36, 64),
    ("720p", "16:9"): (96, 54),
    ("720p", "9:16"): (54, 96),
}


@lru_cache(maxsize=32)
def make_mp4(frames: int, width: int, height: int, fps: int = 30) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "35"}
        for n in range(frames):
            shade = (n * 7) % 256
            image = Image.new("RGB", (width, height), (shade, 255 - shade, 128))
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()
