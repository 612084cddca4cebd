"""Image intake: every accepted format comes out as a sane RGB image; everything else
gets its own clear refusal."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.core.images import (
    ImageRejected,
    for_remote,
    load_image,
)
from tests.support.images import png_with_header_size


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "AVIF", "HEIF"])
def test_each_allowed_format_loads_as_rgb(fmt: str) -> None:
    source = Image.new("RGB", (320, 200), (30, 120, 200))
    image = load_image(encode(source, fmt))
    assert image.mode == "RGB" and image.size == (320, 200)


def test_exif_orientation_is_applied() -> None:
    source = Image.new("RGB", (300, 100), (10, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    assert load_image(encode(source, "JPEG", exif=exif)).size == (100, 300)


def test_transparency_is_composited_on_white() -> None:
    source = Image.new("RGBA", (100, 100), (255, 0, 0, 0))  # fully transparent red
    assert load_image(encode(source, "PNG")).getpixel((50, 50)) == (255, 255, 255)


def test_animated_gif_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (100, 100), color) for color in ((255, 0, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    red, _, blue = load_image(data).getpixel((50, 50))
    assert red > 200 and blue < 50


@pytest.mark.parametrize(
    ("data", "reason", "words"),
    [
        (b"", "empty", "empty"),
        (b"%PDF-1.7 not an image", "unsupported", "not an image I can read"),
        (encode(Image.new("RGB", (100, 100)), "BMP"), "unsupported", "PNG, JPEG, WebP"),
        (encode(Image.new("RGB", (200, 200)), "PNG")[:120], "corrupt", "damaged"),
        (png_with_header_size(0, 0), "too_small", "0×0"),
        (encode(Image.new("RGB", (40, 400)), "PNG"), "too_small", "at least 64"),
        (encode(Image.new("1", (13_000, 100)), "PNG"), "too_large", "13000×100"),
        (encode(Image.new("1", (8_000, 8_000)), "PNG"), "too_many_pixels", "too many pixels"),
        (png_with_header_size(60_000, 60_000), "too_many_pixels", "too many pixels"),
    ],
)
def test_bad_images_get_their_own_message(data: bytes, reason: str, words: str) -> None:
    with pytest.raises(ImageRejected) as caught:
        load_image(data)
    assert caught.value.reason == reason
    assert words in str(caught.value)


def test_byte_cap_is_checked_before_decoding() -> None:
    from bot.core.images import IntakeLimits

    with pytest.raises(ImageRejected, match="the most I take is 1 MiB") as caught:
        load_image(b"\x89PNG" + b"\0" * (2 * 2**20), IntakeLimits(max_bytes=2**20))
    assert caught.value.reason == "too_many_bytes"


def test_remote_copy_is_a_bounded_jpeg() -> None:
    remote = for_remote(Image.new("RGB", (4000, 1000), (1, 2, 3)))
    assert remote.mime_type == "image/jpeg"
    assert Image.open(io.BytesIO(remote.data)).size == (1280, 320)


def test_the_bomb_check_changes_no_global_state() -> None:
    """Pillow's limit and the warning filters are process-wide; intake runs in worker
    threads, so it must never change them, not even for the length of a call."""
    import threading
    import warnings

    from PIL import Image

    noise = Image.effect_noise((2500, 2500), 64).convert("RGB")  # slow to decode
    data = encode(noise, "PNG")
    before_limit, before_filters = Image.MAX_IMAGE_PIXELS, list(warnings.filters)
    seen: set[object] = set()
    worker = threading.Thread(target=load_image, args=(data,))
    worker.start()
    while worker.is_alive():
        seen.add(Image.MAX_IMAGE_PIXELS)
        seen.add(len(warnings.filters))
    worker.join()
    assert seen <= {before_limit, len(before_filters)}
    with pytest.raises(ImageRejected) as refused:
        load_image(png_with_header_size(9_000, 9_000))  # 81 Mpx: under Pillow's own limit
    assert refused.value.reason == "too_many_pixels"
    assert before_limit == Image.MAX_IMAGE_PIXELS and warnings.filters == before_filters
