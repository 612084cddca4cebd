"""How a video was made, carried inside its MP4 as metadata tags (ffprobe and PyAV show
them), so that a video forwarded anywhere can be made again: `framepack-bot generate
--from VIDEO.mp4` reads it back.

One tag per setting, named as the CLI's options are; values are text. A tag this
version does not know is ignored; a video without `made_by` is not ours."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from bot.core.request import StoredRequest
from providers import Mode, ModelFamily
from providers.contract import AspectRatio, Resolution, format_loras, parse_loras

MADE_BY = "framepack-bot"


class NotARecipe(Exception):
    """The video carries no recipe of ours, or one that does not read."""


class Recipe(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    prompt: str
    negative_prompt: str = ""
    seed: int | None = None
    model: ModelFamily = ModelFamily.FRAMEPACK
    provider: str
    mode: Mode = Mode.IMAGE_TO_VIDEO
    frames: int  # the request's length at 30 fps (an Extend: its new part's)
    steps: int | None = None
    guidance: float | None = None
    cfg_scale: float | None = None
    strength: float | None = None
    resolution: Resolution = "480p"
    aspect_ratio: AspectRatio = "auto"
    loop: bool = False
    draft: bool = False
    loras: str = ""  # as users write them: "wave:0.7,glow"
    # An Extend's request starts from this frame of the (joined) video, not the first.
    starts_at_frame: int = 0

    @field_validator("loras")
    @classmethod
    def _loras_read(cls, value: str) -> str:
        parse_loras(value)  # a ValueError here is a recipe that does not read
        return value

    @classmethod
    def of(cls, stored: StoredRequest, provider: str, seed: int | None) -> Recipe:
        return cls(
            prompt=stored.prompt,
            negative_prompt=stored.negative_prompt,
            seed=seed if seed is not None else stored.seed,
            model=stored.model,
            provider=provider,
            mode=stored.mode or Mode.IMAGE_TO_VIDEO,
            frames=stored.frames,
            steps=stored.num_inference_steps,
            guidance=stored.guidance_scale,
            cfg_scale=stored.cfg_scale,
            strength=stored.strength,
            resolution=stored.resolution,
            aspect_ratio=stored.aspect_ratio,
            loop=stored.loop,
            draft=stored.draft,
            loras=format_loras(stored.loras),
            starts_at_frame=stored.earlier_frames - 1 if stored.extends else 0,
        )

    @property
    def has_last_image(self) -> bool:
        """The request had a last frame of its own (not a loop's, which is the first)."""
        return self.mode is Mode.FIRST_LAST_FRAME and not self.loop

    def tags(self) -> dict[str, str]:
        values = self.model_dump(mode="json", exclude_none=True)
        tags = {key: _text(value) for key, value in values.items() if value != ""}
        return {"made_by": MADE_BY, **tags}

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> Recipe:
        if tags.get("made_by") != MADE_BY:
            raise NotARecipe("the video carries no framepack-bot recipe")
        try:
            return cls.model_validate({key: value for key, value in tags.items() if value != ""})
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"])
            raise NotARecipe(f"its recipe does not read ({where}: {error['msg']})") from None

    def generation_fields(self) -> dict[str, Any]:
        """The recipe as GenerationRequest fields (images apart)."""
        return {
            "model": self.model,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "seed": self.seed,
            "aspect_ratio": self.aspect_ratio,
            "resolution": self.resolution,
            "num_frames": self.frames,
            "num_inference_steps": self.steps,
            "guidance_scale": self.guidance,
            "cfg_scale": self.cfg_scale,
            "strength": self.strength,
            "loras": parse_loras(self.loras),
        }


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
