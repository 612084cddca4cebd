"""The core as adapters see it: who asked and where, the request, the service's answers
and updates, the delivery contract each platform fulfils, and `JobAPI` — everything an
adapter may call of the job service. Adapters import nothing else of the core but
`bot.core.messages` (tests/test_architecture.py holds them to it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from bot.config import ProviderName
from bot.core.media import first_frame as first_frame
from bot.core.media import probe as probe
from bot.core.quotas import credits_to_mc as credits_to_mc
from bot.core.quotas import format_credits as format_credits
from bot.core.quotas import subject_key as subject_key
from bot.core.ratelimit import RequestRate as RequestRate
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
    locale: str = "en-US"  # what they read (bot.i18n.LOCALES): their replies and their jobs'
    # What everyone in the server reads of their jobs (a posted video's caption), where
    # it is not `locale`: the service sets it from the server's chosen language.
    server_locale: str | None = None


class Denied(Exception):
    """An action the requester may not take, or not as asked; the message is for them,
    shown as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


AdminRefused = Denied


@dataclass(frozen=True)
class QuotaTarget:
    """Whose quota: a user or a role (by subject key), or the server itself.

    By default it is the one *in a server* (the requester's, or `guild_key`): caps that
    apply there on top of the bot-wide ones. `bot_wide` means the caps everywhere, which
    only operators set."""

    kind: Literal["user", "role", "guild"]
    key: str | None = None
    bot_wide: bool = False
    guild_key: str | None = None
    role_keys: tuple[str, ...] = field(default=())  # the member's roles, for `show`


@dataclass(frozen=True)
class ChannelRef:
    key: str
    guild_key: str | None
    nsfw: bool = False


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
    # The last frame is the first image: a video that plays as a loop.
    loop: bool = False
    # 480p and fewer steps, to try an idea cheaply; its video offers an HD re-render.
    draft: bool = False
    # LoRAs of the local engine: "name", "name:0.7", two with a comma.
    lora: Annotated[str, Field(max_length=100)] | None = None


class FollowUp(StrEnum):
    """What a button under a finished video makes of it, as a new job."""

    RETRY = "retry"  # the same inputs and options, a new seed
    EXTEND = "extend"  # carries on from the last frame; one longer video comes back
    HD = "hd"  # a draft again at 720p with the full steps and the same seed
    REMIX = "remix"  # the same image(s), seed and options with a new prompt


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
class CancelOutcome:
    """Whether a cancel went through and, either way, the one sentence for the user:
    cancelled, not theirs to cancel, or too late (the job is over)."""

    cancelled: bool
    message: str

    def __bool__(self) -> bool:
        return self.cancelled


@dataclass(frozen=True)
class JobUpdate:
    job: JobRecord
    message: str
    position: int | None = None
    progress: float | None = None
    eta_s: float | None = None
    keep_s: float | None = None  # running: what Stop & keep would give now (None: it cannot)


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


@dataclass(frozen=True)
class VideoPost:
    """One finished video as the adapter posts it: the file, its caption, the buttons
    to put under it (in this order), whether it is a loop (Telegram plays those as
    looping animations) and the language of the caption (the buttons' too)."""

    video: Path
    caption: str
    follow_ups: tuple[FollowUp, ...] = ()
    loop: bool = False
    locale: str | None = None


class DeliveryTarget(Protocol):
    """One per platform, given by its adapter."""

    def upload_limit(self, job: JobRecord) -> int:
        """Bytes the destination takes for this job (Discord: per guild; Telegram: 50 MB)."""

    async def deliver(self, job: JobRecord, post: VideoPost, *, maybe_posted: bool) -> PostedRef:
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


class AdminAPI(Protocol):
    """The admin operations as adapters call them (`bot.core.admin.AdminService`).
    Each raises `AdminRefused` with the sentence to show when it is not allowed."""

    def require_admin(self, who: Requester) -> None: ...

    async def quota_show(self, who: Requester, target: QuotaTarget) -> str: ...

    async def quota_set(
        self,
        who: Requester,
        target: QuotaTarget,
        *,
        daily_mc: int | None = None,
        monthly_mc: int | None = None,
        concurrent: int | None = None,
        clear: bool = False,
    ) -> str: ...

    async def quota_grant(self, who: Requester, target: QuotaTarget, amount_mc: int) -> str: ...

    async def quota_reset(
        self, who: Requester, target: QuotaTarget, periods: Iterable[str]
    ) -> str: ...

    async def set_setting(
        self, who: Requester, name: str, value: Any, channel: ChannelRef | None = None
    ) -> str: ...

    async def job_info(self, who: Requester, job_id: str) -> str: ...

    async def job_cancel(self, who: Requester, job_id: str) -> str: ...


class JobAPI(Protocol):
    """What an adapter may call of the job service (`bot.core.service.JobService`)."""

    @property
    def admin(self) -> AdminAPI: ...

    def register_target(self, platform: str, target: DeliveryTarget) -> None:
        """Post `platform`'s videos through `target` (once, when the adapter is built)."""

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Hand every job update to `listener`; returns the unsubscribe."""

    @property
    def image_byte_limit(self) -> int:
        """The most bytes an image may have: stop reading a download there."""

    def image_size_refusal(self, size_bytes: int | None) -> str | None:
        """Before downloading: the refusal for an announced size over the limit."""

    async def already_taken(self, source: str | None) -> bool:
        """Before answering an event: whether a job was already made from it."""

    async def hold(
        self, name: str, owner: str, for_s: float, *, replacing: str | None = None
    ) -> str:
        """Take or renew the lease `name` (one process at a time does that thing) for
        `for_s` seconds, also from `replacing` (an owner known dead); returns its
        holder: `owner` when taken, else the other."""

    async def let_go(self, name: str, owner: str) -> None:
        """Release the lease `name` if `owner` holds it."""

    async def live_leases(self, prefix: str) -> dict[str, float]:
        """The leases named `prefix…` still held: name → seconds left."""

    def request_rate(self, name: str, rate: int, per_s: float) -> RequestRate:
        """A per-user request rate counted in the store (the same for every process on
        it); `name` keeps one platform's counts apart from another's."""

    async def submit(self, request: AnimateRequest) -> Accepted | Refused: ...

    async def cancel(self, job_id: str, *, by: Requester) -> CancelOutcome: ...

    async def language_of(self, who: Requester) -> str:
        """The language `who` reads: the one they chose, else their app's."""
        ...

    async def set_language(self, who: Requester, choice: str | None) -> str:
        """Remember `who`'s language (None: their app's again); the answer, in it."""
        ...

    async def keep(self, job_id: str, *, by: Requester) -> CancelOutcome:
        """Stop a running job and deliver the part it finished, charged for its seconds
        (who may: as for cancel)."""
        ...

    async def follow_up(
        self,
        job_id: str,
        by: Requester,
        *,
        kind: FollowUp,
        reply_ref: Mapping[str, Any],
        source: str | None = None,
        prompt: str | None = None,
    ) -> Accepted | Refused:
        """A new job made from a finished one, charged to `by`; `prompt` is a Remix's."""

    async def follow_up_refusal(
        self, job_id: str, by: Requester, *, kind: FollowUp
    ) -> Refused | None:
        """Before showing anything of the job: why `by` may not follow it up so."""

    async def remix_prompt(self, job_id: str, by: Requester) -> str | Refused:
        """The prompt a Remix starts from (to prefill), once `by` may remix the job."""

    async def first_frame(self, job_id: str) -> bytes | None:
        """The image a job was made from (JPEG); None once its files are gone."""

    async def quota_summary(self, who: Requester) -> str:
        """What `who` has left here, as one message."""

    def provider_names(self) -> list[str]:
        """The providers this bot runs (enabled, with a key): the ones to offer."""

    async def replies_without_mention(self, *, channel_key: str, guild_key: str | None) -> bool:
        """Whether a plain reply to an image (no mention of the bot) makes a job here."""

    async def history(self, user_key: str, limit: int = 10) -> list[JobRecord]: ...

    async def record(self, job_id: str) -> tuple[JobRecord, dict[str, int]] | None: ...
