"""The contract every backend speaks: the request, capabilities, handle, events, result."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, model_validator

from providers.errors import InvalidInputError, ProviderError

FPS = 30
DEFAULT_FRAMES = 180  # 6 s, FramePack's usual length
MAX_SEED = 9_999_999_999


class Mode(StrEnum):
    IMAGE_TO_VIDEO = "image-to-video"
    FIRST_LAST_FRAME = "first-last-frame"


class ModelFamily(StrEnum):
    FRAMEPACK = "framepack"
    FRAMEPACK_F1 = "framepack-f1"
    WAN_FLF2V = "wan-flf2v"


ImageMime = Literal["image/png", "image/jpeg", "image/webp"]
AspectRatio = Literal["16:9", "9:16", "auto"]
Resolution = Literal["480p", "720p"]


class ImageInput(BaseModel):
    """Image bytes as they will travel (a data URI or an upload), never a URL: chat
    platform URLs can carry a bot token."""

    model_config = ConfigDict(frozen=True)

    data: bytes = Field(repr=False, min_length=1)
    mime_type: ImageMime

    def size(self) -> tuple[int, int]:
        """(width, height) from the header; the pixels are not decoded."""
        with Image.open(io.BytesIO(self.data)) as image:
            return image.size


class GenerationRequest(BaseModel):
    """One video job, in the vocabulary the providers document. Options left unset
    (None) take the provider's default; a provider refuses a set option it cannot honour."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Mode | None = None  # derived from last_image when unset
    model: ModelFamily = ModelFamily.FRAMEPACK
    prompt: Annotated[str, Field(min_length=1, max_length=500)]
    negative_prompt: Annotated[str, Field(max_length=500)] = ""
    image: ImageInput
    last_image: ImageInput | None = None
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] | None = None
    aspect_ratio: AspectRatio = "auto"
    resolution: Resolution = "480p"
    # Length: frames at 30 fps, or seconds; not both.
    num_frames: Annotated[int, Field(ge=30, le=1800)] | None = None
    duration: Annotated[float, Field(ge=1, le=60)] | None = None
    num_inference_steps: Annotated[int, Field(ge=4, le=50)] | None = None
    guidance_scale: Annotated[float, Field(ge=0, le=32)] | None = None
    cfg_scale: Annotated[float, Field(ge=0, le=32)] | None = None
    strength: Annotated[float, Field(ge=0, le=1)] | None = None  # last-frame influence
    enable_safety_checker: bool = True

    @property
    def job_mode(self) -> Mode:
        """The mode, never None (validation derives it from last_image)."""
        return self.mode or (Mode.FIRST_LAST_FRAME if self.last_image else Mode.IMAGE_TO_VIDEO)

    @property
    def end_image(self) -> ImageInput:
        """The last frame of a first-last-frame job (validation guarantees one)."""
        if self.last_image is None:
            raise ValueError("this job has no last frame")
        return self.last_image

    @model_validator(mode="after")
    def _consistent(self) -> GenerationRequest:
        derived = Mode.FIRST_LAST_FRAME if self.last_image else Mode.IMAGE_TO_VIDEO
        if self.mode is None:
            object.__setattr__(self, "mode", derived)
        elif self.mode is not derived:
            raise ValueError(
                "a first-last-frame job needs last_image"
                if self.mode is Mode.FIRST_LAST_FRAME
                else "last_image is only for first-last-frame jobs"
            )
        if self.num_frames is not None and self.duration is not None:
            raise ValueError("give num_frames or duration, not both")
        if self.strength is not None and self.mode is not Mode.FIRST_LAST_FRAME:
            raise ValueError("strength applies to first-last-frame jobs only")
        if self.model is ModelFamily.WAN_FLF2V and self.mode is not Mode.FIRST_LAST_FRAME:
            raise ValueError("wan-flf2v needs a first and a last frame")
        if self.model is ModelFamily.FRAMEPACK_F1 and self.mode is Mode.FIRST_LAST_FRAME:
            raise ValueError("framepack-f1 takes no last frame")
        return self

    @property
    def frames(self) -> int:
        if self.num_frames is not None:
            return self.num_frames
        if self.duration is not None:
            return round(self.duration * FPS)
        return DEFAULT_FRAMES

    @property
    def seconds(self) -> float:
        return self.frames / FPS


@dataclass(frozen=True)
class ModelSpec:
    """What one provider can do with one model family."""

    endpoint: dict[Mode, str]  # the provider's model/app id per mode
    frames: tuple[int, int] | None = (30, 1800)  # None: length is set in seconds
    seconds: tuple[float, float] | None = None
    aspect_ratios: tuple[str, ...] = ("16:9", "9:16")
    resolutions: tuple[str, ...] = ("480p", "720p")
    steps: bool = False
    guidance: bool = True
    cfg: bool = False
    strength: bool = False
    negative_prompt: bool = True
    seed: bool = True  # False: the provider picks the seed and does not say which
    safety_switch: bool = True  # whether enable_safety_checker can be sent


@dataclass(frozen=True)
class Capabilities:
    models: dict[ModelFamily, ModelSpec]
    cancel: bool
    webhooks: bool

    def check(self, provider: str, request: GenerationRequest) -> ModelSpec:
        """The spec that serves the request, or InvalidInputError saying why none can."""
        spec = self.models.get(request.model)
        if spec is None:
            offered = ", ".join(sorted(self.models))
            raise InvalidInputError(
                f"no {request.model} model here (offers {offered})", provider=provider
            )
        problems = []
        if request.mode not in spec.endpoint:
            problems.append(f"{request.model} does not do {request.mode} jobs")
        if spec.frames is not None and not spec.frames[0] <= request.frames <= spec.frames[1]:
            problems.append(
                f"{request.model} makes {spec.frames[0]} to {spec.frames[1]} frames,"
                f" not {request.frames}"
            )
        if spec.seconds is not None:
            low, high = spec.seconds
            if not low <= request.seconds <= high:
                problems.append(
                    f"{request.model} makes {low:g} to {high:g} s of video, "
                    f"not {request.seconds:g} s"
                )
        if request.aspect_ratio != "auto" and request.aspect_ratio not in spec.aspect_ratios:
            problems.append(
                f"aspect ratio {request.aspect_ratio} is not offered "
                f"({', '.join(spec.aspect_ratios)})"
            )
        if request.resolution not in spec.resolutions:
            problems.append(
                f"resolution {request.resolution} is not offered ({', '.join(spec.resolutions)})"
            )
        for option, supported in (
            ("seed", spec.seed),
            ("num_inference_steps", spec.steps),
            ("guidance_scale", spec.guidance),
            ("cfg_scale", spec.cfg),
            ("strength", spec.strength),
        ):
            if getattr(request, option) is not None and not supported:
                problems.append(f"{option} cannot be set here")
        if request.negative_prompt and not spec.negative_prompt:
            problems.append("negative_prompt is not taken here")
        if problems:
            raise InvalidInputError("; ".join(problems), provider=provider)
        return spec


def pick_aspect_ratio(request: GenerationRequest, offered: tuple[str, ...]) -> str:
    """The request's ratio, or for "auto" the offered one closest to the image's."""
    if request.aspect_ratio != "auto":
        return request.aspect_ratio
    width, height = request.image.size()

    def distance(ratio: str) -> float:
        w, h = (int(part) for part in ratio.split(":"))
        return abs(width / height - w / h)

    return min(offered, key=distance)


class Handle(BaseModel):
    """Everything needed to find a submitted job again, saved before the first poll.
    JSON-serialisable: `handle.model_dump(mode="json")` / `Handle.model_validate(data)`."""

    model_config = ConfigDict(frozen=True)

    provider: str
    endpoint: str
    request_id: str
    seed: int | None  # None where the provider picks it and does not tell
    submitted_at: float  # epoch seconds; the deadline counts from here, across restarts
    urls: dict[str, str] = {}
    extra: dict[str, Any] = {}


@dataclass(frozen=True)
class Queued:
    position: int | None = None
    eta_s: float | None = None  # until the job starts, where the backend can tell
    note: str | None = None  # a passing trouble the user should hear about (job kept)


@dataclass(frozen=True)
class Running:
    progress: float | None = None  # 0..1 when the provider says
    logs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Succeeded:
    video_url: str = field(repr=False)
    seed: int | None = None
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Failed:
    error: ProviderError


Event = Queued | Running | Succeeded | Failed


@dataclass(frozen=True)
class VideoResult:
    path: Path
    size_bytes: int
    seed: int | None
    timings: dict[str, float]


@dataclass(frozen=True)
class JobTag:
    """Who a job is for, for backends that queue it themselves (the GPU pool): the
    bot's job id (the queue holds no duplicate of it while it is queued or running),
    the user (served round-robin) and the user's roles (operators may give some
    priority). Remote providers ignore it."""

    job_id: str
    user: str
    roles: tuple[str, ...] = ()


class Provider(Protocol):
    """What the job service and the CLI use of a backend: the remote clients
    (providers.remote.RemoteProvider) and the local engine (providers.local)."""

    @property
    def name(self) -> str: ...

    @property
    def capabilities(self) -> Capabilities: ...

    def check(self, request: GenerationRequest) -> ModelSpec: ...

    async def submit(self, request: GenerationRequest, tag: JobTag | None = None) -> Handle: ...

    def watch(self, handle: Handle) -> AsyncIterator[Event]: ...

    async def fetch_result(self, handle: Handle, done: Succeeded, dest: Path) -> VideoResult: ...

    async def cancel(self, handle: Handle) -> bool: ...

    async def aclose(self) -> None: ...


def reruns_lost_jobs(provider: Provider) -> bool:
    """A backend whose jobs die with this process (the local engine) and cost nothing
    to run again: after a restart they are run again, not refunded."""
    return bool(getattr(provider, "reruns_lost_jobs", False))


def lost_with_restart(provider: Provider, handle: dict[str, Any] | None) -> bool:
    """A job of such a backend that this process does not run: it died with the last."""
    knows = getattr(provider, "knows", None)
    if not reruns_lost_jobs(provider) or not callable(knows):
        return False
    return handle is None or not knows(handle)
