"""What the local backend asks of a queue of engine jobs, whichever runs it: the engine
in a thread of the bot's process (`providers.pool.inprocess`), or GPU worker machines
behind Redis (`providers.pool.redis`). Both pass one contract-test suite.

    submit(job)        idempotent per job id: no duplicate while it is queued or running
    events(job_id)     Waiting (place, ETA), Working (step), then Done or Broke; a queue
                       that cannot be reached says so (Unreachable) and keeps the job
    cancel(job_id)     a waiting job never runs; a running one stops within one step
    keep(job_id)       a running job stops within one step and ends Done with the
                       sections it finished (Done.kept_frames)
    result(job_id, dest)  the MP4, written to dest

Users are served round-robin: a job's band is how many jobs its user already has waiting
(band 0 first), so one user's ten jobs do not hold up anybody else's first; jobs of
priority users (an operator's choice) come before every band. Within a band, first come
first served.

A job with LoRAs goes only to an engine that has them installed: its lane is the set of
LoRAs it names ("" for none), and an engine serves the lanes of every set of at most
MAX_LORAS of its own LoRAs, the empty one included.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from local_engine.request import Progress
from providers.contract import MAX_LORAS

ROUNDS = 8  # bands r0..r7; a user's 8th waiting job and later share the last one
PRIORITY_BAND = "priority"


def band(already_waiting: int, priority: bool) -> str:
    """The band of a user's next job, given how many of theirs are already waiting."""
    return PRIORITY_BAND if priority else f"r{min(already_waiting, ROUNDS - 1)}"


def bands() -> list[str]:
    """Every band, the first served first."""
    return [PRIORITY_BAND, *(f"r{n}" for n in range(ROUNDS))]


def band_rank(name: str) -> int:
    return bands().index(name)


def lane(loras: Iterable[str]) -> str:
    """The lane of a job naming these LoRAs: "" for none, else their sorted names."""
    return "+".join(sorted(set(loras)))


def lanes_served(installed: Iterable[str]) -> list[str]:
    """Every lane an engine with these LoRAs can serve, the plain one first."""
    names = sorted(set(installed))
    return [
        lane(chosen)
        for size in range(MAX_LORAS + 1)
        for chosen in itertools.combinations(names, size)
    ]


@dataclass(frozen=True)
class EngineJob:
    """One engine job as it travels to whoever runs it: bytes and plain values only."""

    id: str  # the bot's job id
    user: str  # served round-robin
    priority: bool
    image: bytes
    prompt: str
    num_frames: int
    base: int  # bucket base resolution (480p: 640)
    seed: int
    steps: int
    guidance: float
    negative_prompt: str = ""
    last_image: bytes | None = None
    f1: bool = False
    loras: tuple[tuple[str, float], ...] = ()  # (installed LoRA, weight)
    draft: bool = False
    history: bytes | None = None  # an Extend's earlier video (MP4), to carry on

    @property
    def lane(self) -> str:
        return lane(name for name, _ in self.loras)

    def to_wire(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> EngineJob:
        loras = tuple((str(name), float(weight)) for name, weight in data.get("loras", ()))
        return cls(**{**data, "loras": loras})


@dataclass(frozen=True)
class Waiting:
    position: int  # 1 = next to start, across the whole pool
    eta_s: float | None = None  # until it starts, from the measured speed


@dataclass(frozen=True)
class Working:
    step: int
    total_steps: int
    section: int
    sections: int
    keepable_frames: int = 0  # what a Stop-and-keep would give now (0: it cannot)


@dataclass(frozen=True)
class Done:
    seed: int
    seconds: float  # the engine's time on the job
    worker: str
    kept_frames: int | None = None  # stopped and kept: the frames made


BrokeKind = Literal["cancelled", "refused", "failed", "lost"]


@dataclass(frozen=True)
class Broke:
    reason: str
    kind: BrokeKind


@dataclass(frozen=True)
class Unreachable:
    """The queue cannot be reached just now; the job is kept and events resume."""

    reason: str


QueueEvent = Waiting | Working | Done | Broke | Unreachable


class QueueError(Exception):
    """The queue refused or could not take a job (e.g. it cannot be reached)."""


class NoEngineFor(Exception):
    """No running engine can do this job (it names LoRAs none of them has); the
    message says which, for the user."""


# How a job ends badly where it runs. Plain exceptions with a message only: they travel
# back from GPU workers pickled, and the bot must be able to read them without torch.
class JobCancelled(Exception):
    pass


class JobRefused(Exception):
    """The engine cannot do this job as asked (the message says why)."""


class JobFailed(Exception):
    pass


def broke(exc: BaseException) -> Broke:
    """The event for a job that ended with `exc`."""
    if isinstance(exc, JobCancelled):
        return Broke("cancelled", "cancelled")
    if isinstance(exc, JobRefused):
        return Broke(str(exc), "refused")
    return Broke(str(exc) or type(exc).__name__, "failed")


class Renderer(Protocol):
    """What runs a job: local_engine's FramePackEngine (benches may stand in for it)."""

    def generate(
        self,
        request: Any,
        out: Path,
        *,
        on_progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
        keep: threading.Event | None = None,
    ) -> Path: ...


class EngineQueue(Protocol):
    async def submit(self, job: EngineJob) -> None: ...

    def events(self, job_id: str) -> AsyncIterator[QueueEvent]: ...

    async def cancel(self, job_id: str) -> bool: ...

    async def keep(self, job_id: str) -> bool:
        """Stop a running job within one step and keep what it finished; False when
        it is not running or has nothing it could keep."""
        ...

    async def result(self, job_id: str, dest: Path) -> int: ...

    def knows(self, job_id: str) -> bool:
        """Whether the job can still be followed here (an in-process queue forgets
        its jobs with a restart; the pool keeps them in Redis)."""
        ...

    async def aclose(self) -> None: ...
