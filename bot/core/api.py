"""What adapters hand in and get back: who asked and where, the request, the service's
answers and updates, and the delivery contract each platform fulfils."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from bot.config import ProviderName
from providers import ModelFamily
from providers.contract import MAX_SEED as MAX_SEED

# Adapters read these here: they never import providers or storage themselves.
from storage import JobRecord as JobRecord
from storage import JobState as JobState


@dataclass(frozen=True)
class Requester:
    platform: str  # discord | telegram | cli
    user_key: str  # "discord:1234"
    guild_key: str | None = None  # guild or group chat; None in a DM
    channel_key: str | None = None  # for per-channel settings
    channel_id: str | None = None  # where the result is posted
    role_keys: tuple[str, ...] = ()
    # Platform facts the adapter saw; bot.core.authority decides what they allow.
    platform_admin: bool = False  # Discord: Manage Server here; Telegram: chat admin
    channel_nsfw: bool = False  # an age-restricted channel


class JobOptions(BaseModel):
    """What a user may choose. Ranges as the providers document them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: ProviderName | None = None
    model: ModelFamily = ModelFamily.FRAMEPACK
    resolution: Literal["480p", "720p"] = "480p"
    aspect_ratio: Literal["16:9", "9:16", "auto"] = "auto"
    duration: Annotated[float, Field(ge=1, le=60)] | None = None
    num_frames: Annotated[int, Field(ge=30, le=1800)] | None = None
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] | None = None
    steps: Annotated[int, Field(ge=4, le=50)] | None = None
    guidance: Annotated[float, Field(ge=0, le=32)] | None = None
    cfg_scale: Annotated[float, Field(ge=0, le=32)] | None = None
    negative_prompt: Annotated[str, Field(max_length=500)] = ""
    strength: Annotated[float, Field(ge=0, le=1)] | None = None


@dataclass(frozen=True)
class AnimateRequest:
    requester: Requester
    prompt: str
    image: bytes = field(repr=False)
    last_image: bytes | None = field(default=None, repr=False)
    options: Mapping[str, Any] = field(default_factory=dict)
    reply_ref: Mapping[str, Any] = field(default_factory=dict)
    # The platform event this request came from, unique per platform: "telegram:<chat
    # id>:<message id>", "discord:message:<id>", "telegram:press:<query id>". Platforms
    # deliver at least once; one event makes at most one job. None: no such event (CLI).
    source: str | None = None


@dataclass(frozen=True)
class Accepted:
    job_id: str
    cost_mc: int
    position: int
    provider: str
    message: str


@dataclass(frozen=True)
class Refused:
    reason: str  # a short code: bad_option, image, safety, quota, provider, ...
    message: str  # one sentence for the user


@dataclass(frozen=True)
class JobUpdate:
    job: JobRecord
    message: str
    position: int | None = None
    progress: float | None = None
    eta_s: float | None = None


class DeliveryError(Exception):
    """A post that did not go through. `transient`: worth trying again (5xx, 429, a
    dropped connection, a timeout); `too_large`: the platform refused the size; neither:
    a permanent refusal, and the job fails."""

    def __init__(self, message: str, *, transient: bool = False, too_large: bool = False):
        super().__init__(message)
        self.transient = transient
        self.too_large = too_large


# Where the video was posted, in the platform's own terms ({"message_id": ...}).
PostedRef = dict[str, Any]


class DeliveryTarget(Protocol):
    """One per platform, given by its adapter."""

    def upload_limit(self, job: JobRecord) -> int:
        """Bytes the destination takes for this job (Discord: per guild; Telegram: 50 MB)."""

    async def deliver(
        self, job: JobRecord, video: Path, caption: str, *, maybe_posted: bool
    ) -> PostedRef:
        """Post the video for `job` and say where it went. `maybe_posted`: an earlier
        attempt (before a restart, a timeout, a 5xx or a dropped connection) may have
        gone through; the adapter first looks for its own message carrying this job's
        id in the destination and, if it finds one, returns it instead of posting again.
        Raise DeliveryError."""


Listener = Callable[[JobUpdate], Awaitable[None]]


class Platform(Protocol):
    """A chat platform as `framepack-bot run` drives it, beside the others around one
    job service. The adapter registers its DeliveryTarget with the service when it
    is built, so that jobs resumed at start can be delivered."""

    name: str

    async def start(self) -> None:
        """Log in and get ready; raises if the platform cannot be used."""

    async def serve(self) -> None:
        """Receive events until stop(); raises if the connection ends for good."""

    async def stop(self) -> None:
        """Stop receiving and close connections."""
