"""Small real MP4s for the fakes to serve, encoded with PyAV (H.264, yuv420p)."""

from __future__ import annotations

import io
from functools import lru_cache

import av
from PIL import Image

# Small stand-ins for the real sizes, near their aspect ratio (H.264 wants even sides),
# and no smaller than an image the bot takes: an Extend starts from a video's last frame.
SIZES = {
    ("480p", "16:9"): (112, 64),
    ("480p", "9:16"): (64, 112),
    ("720p", "16:9"): (192, 108),
    ("720p", "9:16"): (108, 192),
}


@lru_cache(maxsize=32)
def make_mp4(frames: int, width: int, height: int, fps: int = 30, shade: int = 0) -> bytes:
    """Frame n is one colour, its red (shade + 7n) mod 256: consecutive frames differ,
    and where a clip starts can be read from its first frame."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "35"}
        for n in range(frames):
            red = (shade + n * 7) % 256
            image = Image.new("RGB", (width, height), (red, 255 - red, 128))
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()
