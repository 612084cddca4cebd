"""A job's request as its row keeps it: typed, frozen, and the one place that knows
the row's keys. It turns back into the generation request (a resume, a re-run) and
into the options of a follow-up (Retry, Extend, HD, Remix) and into the recipe the
MP4 carries.

Rows written by any earlier version open: a key a version did not write takes its
default, a key this version does not know is ignored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.core.api import FollowUp, Requester
from providers import GenerationRequest, ImageInput, Mode, ModelFamily
from providers.contract import FPS, AspectRatio, LoraChoice, Resolution, format_loras
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
    loras: tuple[LoraChoice, ...] = ()
    # What the bot adds.
    has_last_image: bool = False
    frames: int = 180  # the video's length (at 30 fps), as the model makes it
    channel_key: str | None = None
    role_keys: tuple[str, ...] = ()
    safety: bool = True  # the checks were on for this job (its prompt, images, output)
    loop: bool = False  # the last image is the first
    draft: bool = False
    asked_steps: int | None = None  # a draft's steps as the user gave them (None: unset)
    # An Extend: the job whose video this one carries on, and that video's frames.
    extends: str | None = None
    earlier_frames: int = 0
    # Stopped and kept: the length asked (`frames` is then what was made).
    asked_frames: int | None = None
    locale: str = "en-US"  # the requester's: the job's status reads so
    caption_locale: str | None = None  # what the posted video's caption reads (else locale)

    @classmethod
    def of(
        cls,
        generation: GenerationRequest,
        seconds: float,
        who: Requester,
        *,
        safety: bool,
        **added: Any,
    ) -> StoredRequest:
        """`added`: what the bot adds beyond the generation (loop, draft, extends...)."""
        return cls(
            **generation.model_dump(exclude={"image", "last_image", "continues"}),
            has_last_image=generation.last_image is not None,
            frames=round(seconds * FPS),
            channel_key=who.channel_key,
            role_keys=who.role_keys,
            locale=who.locale,
            caption_locale=who.server_locale,
            safety=safety,
            **added,
        )

    @classmethod
    def of_job(cls, job: JobRecord) -> StoredRequest:
        return cls.model_validate(job.request)

    def row(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @property
    def seconds(self) -> float:
        """The length this job makes (an Extend: its new part)."""
        return self.frames / FPS

    @property
    def total_frames(self) -> int:
        """The length of the video this job delivers: an Extend joins its part (less the
        frame it starts from, which the earlier video ends on) to the earlier video."""
        return self.earlier_frames + self.frames - 1 if self.extends else self.frames

    def kept(self, frames: int) -> StoredRequest:
        """This request as a job stopped and kept after `frames` frames."""
        return self.model_copy(update={"frames": frames, "asked_frames": self.frames})

    @property
    def user_steps(self) -> int | None:
        """The steps the user asked for (a draft sends fewer when none were asked)."""
        return self.asked_steps if self.draft else self.num_inference_steps

    def generation(
        self, image: ImageInput, last_image: ImageInput | None, continues: Path | None = None
    ) -> GenerationRequest:
        """The request as the providers take it, with the job's images (and an
        Extend's earlier video)."""
        asked = self.model_dump(exclude=_ADDED)
        return GenerationRequest(**asked, image=image, last_image=last_image, continues=continues)

    def follow_up_options(
        self, provider: str, kind: FollowUp, *, seed: int | None, with_last_frame: bool
    ) -> dict[str, Any]:
        """The options a follow-up job is asked with, in the user's terms: this job's,
        changed as `kind` says. `seed`: the seed this job's video was made with; HD
        and Remix keep it, Retry and Extend take a new one."""
        options: dict[str, Any] = {
            "provider": provider,
            "model": self.model,
            "resolution": self.resolution,
            "aspect_ratio": self.aspect_ratio,
            "num_frames": self.asked_frames or self.frames,  # a kept job: as first asked
            "negative_prompt": self.negative_prompt,
            "steps": self.user_steps,
            "guidance": self.guidance_scale,
            "cfg_scale": self.cfg_scale,
            "strength": self.strength if with_last_frame else None,
            "loop": self.loop,
            "draft": self.draft,
            "lora": format_loras(self.loras) or None,
        }
        if kind in (FollowUp.HD, FollowUp.REMIX):
            options["seed"] = seed if seed is not None else self.seed
        if kind is FollowUp.HD:
            options.update(draft=False, resolution="720p")
        if kind is FollowUp.EXTEND:
            options["loop"] = False  # a continuation starts from one frame, ends anywhere
        return {key: value for key, value in options.items() if value is not None}


_ADDED = {
    "has_last_image",
    "frames",
    "channel_key",
    "role_keys",
    "safety",
    "loop",
    "asked_steps",
    "extends",
    "earlier_frames",
    "asked_frames",
    "locale",
    "caption_locale",
}
