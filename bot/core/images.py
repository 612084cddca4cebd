"""Image intake: whatever a user sent becomes a sane RGB image, or a clear refusal.

Formats are allow-listed at open (Pillow would otherwise try every plugin), the byte
size is capped before decoding, the pixel count the header declares is capped before
anything is decoded, EXIF orientation is applied, the first frame of an animation is taken, and
transparency is composited on white. All of it is blocking: call it in a thread.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError
from pillow_heif import register_heif_opener

from bot.core import messages
from providers import ImageInput

register_heif_opener()  # HEIC/HEIF from phones
# Pillow warns between its limit and twice it; we refuse by our own (lower) limit
# first, so its warning would only be noise. Set once at import, never from a thread.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "HEIF", "AVIF")


class ImageRejected(Exception):
    """A user-facing refusal: `reason` is a short code, `str()` the sentence to show."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class IntakeLimits:
    max_bytes: int = 25 * 1024 * 1024
    max_pixels: int = 50_000_000  # decompression-bomb limit
    min_side: int = 64
    max_side: int = 12_000


def load_image(data: bytes, limits: IntakeLimits = IntakeLimits()) -> Image.Image:
    """Decode, validate and normalise to RGB. Raises ImageRejected."""
    if not data:
        raise ImageRejected("empty", messages.IMAGE_EMPTY)
    if len(data) > limits.max_bytes:
        raise ImageRejected(
            "too_many_bytes", messages.image_too_many_bytes(len(data), limits.max_bytes)
        )
    try:
        # Pillow's own bomb check (a warning, an error at twice its limit) is global
        # state; ours is an explicit count of the pixels the header declares, before
        # anything is decoded, and changes nothing for other threads.
        image: Image.Image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
        width, height = image.size
        if width * height > limits.max_pixels:
            raise ImageRejected("too_many_pixels", messages.IMAGE_TOO_MANY_PIXELS)
        _check_dimensions(width, height, limits)
        image.seek(0)  # the first frame of a GIF / animated WebP
        image.load()
    except Image.DecompressionBombError:  # far over Pillow's own limit, at open
        raise ImageRejected("too_many_pixels", messages.IMAGE_TOO_MANY_PIXELS) from None
    except UnidentifiedImageError:
        declared = _png_header_size(data)
        if declared is not None and 0 in declared:
            # Pillow will not even identify a 0×0 PNG; say what is really wrong.
            _check_dimensions(*declared, limits)
        raise ImageRejected("unsupported", messages.IMAGE_UNSUPPORTED) from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise ImageRejected("corrupt", messages.IMAGE_CORRUPT) from None
    # In place: without it Pillow copies every image, rotated or not.
    ImageOps.exif_transpose(image, in_place=True)
    return _flatten(image)


def _png_header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR, without decoding anything."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return None


def _check_dimensions(width: int, height: int, limits: IntakeLimits) -> None:
    if min(width, height) < limits.min_side:
        raise ImageRejected("too_small", messages.image_too_small(width, height, limits.min_side))
    if max(width, height) > limits.max_side:
        raise ImageRejected("too_large", messages.image_too_large(width, height, limits.max_side))


def _flatten(image: Image.Image) -> Image.Image:
    """RGB, with any transparency composited on white (not black, as a bare convert does)."""
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        return background
    return image if image.mode == "RGB" else image.convert("RGB")


def for_remote(image: Image.Image, max_side: int = 1280) -> ImageInput:
    """Re-encode for a remote API: longest side at most `max_side`, high-quality JPEG."""
    if max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92, optimize=True)
    return ImageInput(data=buffer.getvalue(), mime_type="image/jpeg")
