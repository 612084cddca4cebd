"""FramePack's aspect buckets: the sizes its transformer was trained at, around a base
resolution. An image goes to the bucket nearest its aspect ratio, scaled to cover it
and centre-cropped — the pipeline itself would stretch it."""

from __future__ import annotations

from PIL import Image

# FramePack's table at a base of 640, (height, width).
BUCKETS_640 = (
    (416, 960), (448, 864), (480, 832), (512, 768), (544, 704), (576, 672), (608, 640),
    (640, 608), (672, 576), (704, 544), (768, 512), (832, 480), (864, 448), (960, 416),
)  # fmt: skip
MULTIPLE = 16  # the VAE (8) times the transformer's patch (2)


def buckets(base: int) -> list[tuple[int, int]]:
    """The table scaled to `base`, each side a multiple of 16."""
    scale = base / 640

    def side(value: int) -> int:
        return max(MULTIPLE, round(value * scale / MULTIPLE) * MULTIPLE)

    return sorted({(side(h), side(w)) for h, w in BUCKETS_640})


def nearest_bucket(width: int, height: int, base: int) -> tuple[int, int]:
    """(height, width) of the bucket whose aspect ratio is nearest the image's."""
    aspect = width / height
    return min(buckets(base), key=lambda hw: abs(hw[1] / hw[0] - aspect))


def fit_to_bucket(image: Image.Image, bucket: tuple[int, int]) -> Image.Image:
    """Scale to cover the bucket, then crop its centre."""
    height, width = bucket
    scale = max(width / image.width, height / image.height)
    size = (max(width, round(image.width * scale)), max(height, round(image.height * scale)))
    resized = image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    left, top = (size[0] - width) // 2, (size[1] - height) // 2
    return resized.crop((left, top, left + width, top + height))
