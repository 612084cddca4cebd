"""A job's request as its row keeps it: typed, frozen, and the one place that knows
the row's keys. It turns back into the generation request (a resume, a re-run) and
into the options of a follow-up (Retry, Extend).

Rows written by any earlier version open: a key a version did not write takes its
default, a key this version does not know is ignored."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.core.api import Requester
from providers import GenerationRequest, ImageInput, Mode, ModelFamily
from providers.contract import FPS, AspectRatio, Resolution
from storage import JobRecord


class StoredRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    # What the generation request said, images apart (they are files beside the row).
    mode: Mode | None = None
    model: ModelFamily = ModelFamily.FRAMEPACK
    prompt: str
    negative_prompt: str = ""
    seed: int | None = None
    aspect_ratio: AspectRatio = "auto"
    resolution: Resolution = "480p"
    num_frames: int | None = None
    duration: float | None = None
    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    cfg_scale: float | None = None
    strength: float | None = None
    enable_safety_checker: bool = True
    # What the bot adds.
    has_last_image: bool = False
    frames: int = 180  # the video's length (at 30 fps), as the model makes it
    channel_key: str | None = None
    role_keys: tuple[str, ...] = ()
    safety: bool = True  # the checks were on for this job (its prompt, images, output)

    @classmethod
    def of(
        cls, generation: GenerationRequest, seconds: float, who: Requester, *, safety: bool
    ) -> StoredRequest:
        return cls(
            **generation.model_dump(exclude={"image", "last_image"}),
            has_last_image=generation.last_image is not None,
            frames=round(seconds * FPS),
            channel_key=who.channel_key,
            role_keys=who.role_keys,
            safety=safety,
        )

    @classmethod
    def of_job(cls, job: JobRecord) -> StoredRequest:
        return cls.model_validate(job.request)

    def row(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @property
    def seconds(self) -> float:
        return self.frames / FPS

    def generation(self, image: ImageInput, last_image: ImageInput | None) -> GenerationRequest:
        """The request as the providers take it, with the job's images."""
        asked = self.model_dump(exclude=_ADDED)
        return GenerationRequest(**asked, image=image, last_image=last_image)

    def follow_up_options(self, provider: str, *, with_last_frame: bool) -> dict[str, Any]:
        """The options a follow-up job is asked with: this job's, in the user's terms
        (a new seed: none is carried over)."""
        options = {
            "provider": provider,
            "model": self.model,
            "resolution": self.resolution,
            "aspect_ratio": self.aspect_ratio,
            "num_frames": self.frames,
            "negative_prompt": self.negative_prompt,
            "steps": self.num_inference_steps,
            "guidance": self.guidance_scale,
            "cfg_scale": self.cfg_scale,
            "strength": self.strength if with_last_frame else None,
        }
        return {key: value for key, value in options.items() if value is not None}


_ADDED = {"has_last_image", "frames", "channel_key", "role_keys", "safety"}
