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
from providers.prompts import TimedPrompt, timed_prompts

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


LORA_NAME = r"^[a-z0-9][a-z0-9_-]{0,31}$"
MAX_LORAS = 2


class LoraChoice(BaseModel):
    """A LoRA the operator installed, by its name, and its weight (None: the
    operator's default for it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(pattern=LORA_NAME)]
    weight: Annotated[float, Field(ge=0, le=2)] | None = None


def parse_loras(text: str) -> tuple[LoraChoice, ...]:
    """`wave`, `wave:0.7`, `wave:0.7, glow` as users and recipes write them. Raises
    ValueError (for the user) for anything else or more than MAX_LORAS."""
    choices = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, _, weight = part.partition(":")
        try:
            value = float(weight) if weight else None
            choices.append(LoraChoice(name=name.strip().lower(), weight=value))
        except ValueError:  # pydantic's ValidationError is one too
            raise ValueError(
                f"“{part}” is not a LoRA choice: write name or name:0.7 (weight 0..2)"
            ) from None
    if len(choices) > MAX_LORAS:
        raise ValueError(f"at most {MAX_LORAS} LoRAs at once")
    return tuple(choices)


def format_loras(loras: tuple[LoraChoice, ...]) -> str:
    return ",".join(
        lora.name if lora.weight is None else f"{lora.name}:{lora.weight:g}" for lora in loras
    )


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
    loras: Annotated[tuple[LoraChoice, ...], Field(max_length=MAX_LORAS)] = ()
    # A cheap try. Remote APIs take nothing for it (the bot lowers resolution and steps
    # itself); the local engine also samples it with its draft step cache.
    draft: bool = False
    # An Extend's earlier video, a file of the bot's own: the local engine samples on
    # with its last frames as history (FramePack-F1); the others start from `image`,
    # its last frame.
    continues: Path | None = None

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
        timed_prompts(self.prompt)  # a timed prompt that does not read is refused here
        return self

    @property
    def sections(self) -> tuple[TimedPrompt, ...]:
        """The prompt's timed parts (`[0s: …] [2s: …]`); () for a plain prompt."""
        return timed_prompts(self.prompt)

    @property
    def frames(self) -> int:
        if self.num_frames is not None:
            return self.num_frames
        if self.duration is not None:
            return round(self.duration * FPS)
        return DEFAULT_FRAMES

    @property
    def length_set(self) -> bool:
        """Whether a length was asked for (else each model makes its default)."""
        return self.num_frames is not None or self.duration is not None

    @property
    def seconds(self) -> float:
        """The length asked for (the bot's default when none was)."""
        return self.duration if self.duration is not None else self.frames / FPS


# A requested length within this much of a model's range is made at the range's end
# (fal's Wan makes 81 frames at 16 fps, 5.06 s: "5 s" is that).
LENGTH_SLACK_S = 0.1


def _number(value: float) -> str:
    """A range bound or a length as users read it: 5.06 -> "5.1", 10.0 -> "10"."""
    return f"{round(value, 1):g}"


def plain_number(value: float) -> str:
    """A bound or a value as written: 2147483647, 1.01, 10."""
    return str(int(value)) if value == int(value) else f"{value:g}"


@dataclass(frozen=True)
class Length:
    """How long one model's videos can be, in the unit its API takes: frames at the
    model's own frame rate, or whole seconds. Users always speak in seconds (or in
    frames at 30 fps, which is seconds too); this converts."""

    low: int
    high: int
    unit: Literal["frames", "seconds"] = "frames"
    fps: int = FPS  # the frame rate the frames are counted at (frames unit)

    @property
    def _per_second(self) -> int:
        return self.fps if self.unit == "frames" else 1

    @property
    def seconds_range(self) -> tuple[float, float]:
        return self.low / self._per_second, self.high / self._per_second

    def accepts(self, seconds: float) -> bool:
        low, high = self.seconds_range
        return low - LENGTH_SLACK_S <= seconds <= high + LENGTH_SLACK_S

    def value_for(self, seconds: float) -> int:
        """What the API is sent for a length: the nearest it takes."""
        return min(self.high, max(self.low, round(seconds * self._per_second)))

    def made_seconds(self, seconds: float) -> float:
        """How long the video made for a requested length really is."""
        return self.value_for(seconds) / self._per_second

    def describe(self) -> str:
        low, high = self.seconds_range
        return f"{_number(low)} to {_number(high)} s"


Bounds = tuple[float, float]


@dataclass(frozen=True)
class ModelSpec:
    """What one provider can do with one model family, as its documentation says. A
    range of None: the option cannot be set there."""

    endpoint: dict[Mode, str]  # the provider's model/app id per mode
    length: Length = Length(30, 1800)
    aspect_ratios: tuple[str, ...] = ("16:9", "9:16")
    resolutions: tuple[str, ...] = ("480p", "720p")
    steps: tuple[int, int] | None = None
    guidance: Bounds | None = (0, 32)
    cfg: Bounds | None = None
    strength: Bounds | None = None
    # None: the provider picks the seed and does not say which.
    seed: tuple[int, int] | None = (0, MAX_SEED)
    negative_prompt: bool = True
    safety_switch: bool = True  # whether enable_safety_checker can be sent
    timed_prompts: bool = False  # a prompt per section of time ([0s: …] [2s: …])
    loras: bool = False  # takes LoRAs the operator installed
    whole_scales: bool = False  # guidance and cfg scales are integers there

    @property
    def default_seconds(self) -> float:
        """The length a job that sets none gets: the one nearest the bot's default."""
        return self.length.made_seconds(DEFAULT_FRAMES / FPS)

    def made_seconds(self, request: GenerationRequest) -> float:
        """How long the video made for this request is."""
        return self.length.made_seconds(request.seconds)

    def length_value(self, request: GenerationRequest) -> int:
        """The length as this model's API takes it (frames at its rate, or seconds)."""
        return self.length.value_for(request.seconds)

    def problems(self, request: GenerationRequest) -> list[str]:
        """What in the request this model cannot do, in the user's terms."""
        problems = []
        if request.mode not in self.endpoint:
            problems.append(f"{request.model} does not do {request.mode} jobs")
        if request.length_set and not self.length.accepts(request.seconds):
            problems.append(
                f"{request.model} makes {self.length.describe()} of video here, "
                f"not {_number(request.seconds)} s"
            )
        if request.aspect_ratio != "auto" and request.aspect_ratio not in self.aspect_ratios:
            offered = ", ".join(self.aspect_ratios) or "only the image's own"
            problems.append(f"aspect ratio {request.aspect_ratio} is not offered ({offered})")
        if request.resolution not in self.resolutions:
            problems.append(
                f"resolution {request.resolution} is not offered ({', '.join(self.resolutions)})"
            )
        for option, bounds in (
            ("seed", self.seed),
            ("num_inference_steps", self.steps),
            ("guidance_scale", self.guidance),
            ("cfg_scale", self.cfg),
            ("strength", self.strength),
        ):
            value = getattr(request, option)
            if value is None:
                continue
            if bounds is None:
                problems.append(f"{option} cannot be set here")
            elif not bounds[0] <= value <= bounds[1]:
                low, high = (plain_number(bound) for bound in bounds)
                problems.append(f"{option} must be {low} to {high} here, not {plain_number(value)}")
            elif self.whole_scales and option.endswith("_scale") and value != int(value):
                problems.append(f"{option} must be a whole number here, not {plain_number(value)}")
        if request.negative_prompt and not self.negative_prompt:
            problems.append("negative_prompt is not taken here")
        if request.loras and not self.loras:
            problems.append("LoRAs work on the local engine only")
        if len({lora.name for lora in request.loras}) < len(request.loras):
            problems.append("each LoRA once")
        if request.sections and not self.timed_prompts:
            problems.append(
                "a prompt per section ([0s: …] [2s: …]) works on the local engine only; "
                "write one prompt for the whole video here"
            )
        return problems


@dataclass(frozen=True)
class Capabilities:
    models: dict[ModelFamily, ModelSpec]
    cancel: bool
    webhooks: bool

    def spec_for(self, provider: str, request: GenerationRequest) -> ModelSpec:
        spec = self.models.get(request.model)
        if spec is None:
            offered = ", ".join(sorted(self.models))
            raise InvalidInputError(
                f"no {request.model} model here (offers {offered})", provider=provider
            )
        return spec

    def check(self, provider: str, request: GenerationRequest) -> ModelSpec:
        """The spec that serves the request, or InvalidInputError saying why none can."""
        spec = self.spec_for(provider, request)
        problems = spec.problems(request)
        if problems:
            raise InvalidInputError("; ".join(problems), provider=provider)
        return spec


def settle(request: GenerationRequest, spec: ModelSpec) -> GenerationRequest:
    """The request with its length pinned: one that sets none gets the model's default
    (the length nearest the bot's own default that the model makes), so the cost, the
    status, a fallback provider and a Retry all mean the same video."""
    if request.length_set:
        return request
    return request.model_copy(update={"duration": spec.default_seconds})


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
    keep_s: float | None = None  # what a Stop-and-keep would give now (None: it cannot)


@dataclass(frozen=True)
class Succeeded:
    video_url: str = field(repr=False)
    seed: int | None = None
    timings: dict[str, float] = field(default_factory=dict)
    kept_frames: int | None = None  # stopped and kept: the frames made, fewer than asked


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


class Keeps(Protocol):
    """A backend that can stop a running job and hand back what it finished (the local
    engine on FramePack-F1): it says so with Running.keep_s, ends with Succeeded's
    kept_frames."""

    async def keep(self, handle: Handle) -> bool: ...


def keeper(provider: Provider) -> Keeps | None:
    return provider if callable(getattr(provider, "keep", None)) else None  # type: ignore[return-value]


def lost_with_restart(provider: Provider, handle: dict[str, Any] | None) -> bool:
    """A job of such a backend that this process does not run: it died with the last."""
    knows = getattr(provider, "knows", None)
    if not reruns_lost_jobs(provider) or not callable(knows):
        return False
    return handle is None or not knows(handle)
