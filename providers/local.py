"""The local FramePack engine as a provider like the others: submit -> handle ->
watch -> fetch_result, with progress per step and cancel within a step.

Imported lazily (by whoever enables the local provider): the engine needs torch.

Jobs go through a queue of engine jobs (providers.pool): by default the engine runs in
a thread of this process, one job at a time; with `[providers.local] redis_url` they go
to a pool of GPU worker machines. Either way users are served round-robin and see their
real place. The handle's request id is the bot's job id. A job of the in-process engine
interrupted by a restart paid nobody: the service runs it again (`reruns_lost_jobs`)
instead of refunding it as an interrupted submit; the pool keeps its jobs in Redis.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from local_engine.folders import Folders
from local_engine.options import EngineOptions
from providers.contract import (
    FPS,
    MAX_SEED,
    Capabilities,
    Event,
    Failed,
    GenerationRequest,
    Handle,
    JobTag,
    Mode,
    ModelFamily,
    ModelSpec,
    Queued,
    Running,
    Succeeded,
    VideoResult,
)
from providers.errors import InvalidInputError, JobFailedError, ProviderError, TransientError
from providers.pool.contract import (
    Broke,
    Done,
    EngineQueue,
    NoEngineFor,
    QueueError,
    Renderer,
    Unreachable,
    Waiting,
    Working,
)
from providers.pool.inprocess import InProcessQueue
from providers.pool.jobs import engine_job

log = logging.getLogger(__name__)

_SPEC = dict(
    aspect_ratios=("16:9", "9:16"),  # from the image's own aspect, by bucket
    steps=(4, 50),
    guidance=(0, 32),
    safety_switch=False,
    timed_prompts=True,  # each section is sampled with the part in force at its time
    loras=True,  # the ones `[engine.loras]` lists
)
CAPABILITIES = Capabilities(
    models={
        ModelFamily.FRAMEPACK: ModelSpec(
            endpoint={Mode.IMAGE_TO_VIDEO: "framepack", Mode.FIRST_LAST_FRAME: "framepack"},
            **_SPEC,  # type: ignore[arg-type]
        ),
        ModelFamily.FRAMEPACK_F1: ModelSpec(
            endpoint={Mode.IMAGE_TO_VIDEO: "framepack-f1"},
            **_SPEC,  # type: ignore[arg-type]
        ),
    },
    cancel=True,
    webhooks=False,
)


class LocalProvider:
    """The contract over a queue of engine jobs: the engine in this process
    (`InProcessQueue`, the default) or a pool of GPU workers (`RedisQueue`)."""

    name = "local"
    capabilities = CAPABILITIES
    reruns_lost_jobs = True

    def __init__(
        self,
        queue: EngineQueue,
        *,
        buckets: Mapping[str, int],
        priority: Collection[str] = (),
        loras: Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.queue = queue
        self.buckets = dict(buckets)
        self.loras = dict(loras or {})  # the LoRAs installed: name -> default weight
        self.priority = frozenset(priority)  # user and role keys served first
        self.clock = clock
        self.rng = rng or random.Random()

    @classmethod
    def in_process(
        cls, load: Callable[[], Renderer], *, workdir: Path | None = None, **options: Any
    ) -> LocalProvider:
        workdir = workdir or Path(tempfile.mkdtemp(prefix="framepack-local-"))
        return cls(InProcessQueue(load, workdir), **options)

    # --- the contract --------------------------------------------------------------

    def check(self, request: GenerationRequest) -> ModelSpec:
        # F1 with a last frame never gets here: the request itself refuses it.
        spec = self.capabilities.check(self.name, request)
        unknown = [lora.name for lora in request.loras if lora.name not in self.loras]
        if unknown:
            offered = ", ".join(sorted(self.loras)) or "none are installed"
            raise InvalidInputError(
                f"no LoRA named {', '.join(unknown)} here ({offered})", provider=self.name
            )
        return spec

    def knows(self, handle: Handle | Mapping[str, Any]) -> bool:
        """Whether that job can still be followed (an in-process job dies with a restart)."""
        request_id = handle.request_id if isinstance(handle, Handle) else handle["request_id"]
        return self.queue.knows(request_id)

    async def submit(self, request: GenerationRequest, tag: JobTag | None = None) -> Handle:
        self.check(request)
        seed = request.seed if request.seed is not None else self.rng.randint(0, MAX_SEED)
        tag = tag or JobTag(uuid.uuid4().hex[:16], "anonymous")
        job = await asyncio.to_thread(
            engine_job,
            request,
            job_id=tag.job_id,
            user=tag.user,
            priority=bool(self.priority & {tag.user, *tag.roles}),
            seed=seed,
            buckets=self.buckets,
            loras=self.loras,
        )
        try:
            await self.queue.submit(job)
        except NoEngineFor as exc:
            raise InvalidInputError(str(exc), provider=self.name) from exc
        except QueueError as exc:
            raise TransientError(str(exc), provider=self.name) from exc
        return Handle(
            provider=self.name,
            endpoint=str(request.model),
            request_id=job.id,
            seed=seed,
            submitted_at=self.clock(),
        )

    async def watch(self, handle: Handle) -> AsyncIterator[Event]:
        async for event in self.queue.events(handle.request_id):
            match event:
                case Waiting(position=position, eta_s=eta):
                    yield Queued(position, eta)
                case Unreachable(reason=reason):
                    yield Queued(note=reason)
                case Working(
                    step=step,
                    total_steps=total,
                    section=section,
                    sections=sections,
                    keepable_frames=keepable,
                ):
                    logs = (f"section {section + 1}/{sections}",) if sections else ()
                    keep_s = keepable / FPS if keepable else None
                    yield Running(step / total if total else 0.0, logs, keep_s)
                case Done(seed=seed, seconds=seconds, kept_frames=kept):
                    yield Succeeded(
                        f"local:{handle.request_id}",
                        seed=seed,
                        timings={"inference": seconds},
                        kept_frames=kept,
                    )
                    return
                case Broke(reason=reason, kind=kind):
                    error: ProviderError = (
                        InvalidInputError(reason, provider=self.name)
                        if kind == "refused"
                        else JobFailedError(
                            "the local job was lost with a restart" if kind == "lost" else reason,
                            provider=self.name,
                        )
                    )
                    yield Failed(error)
                    return

    def resume(self, handle: Handle | Mapping[str, Any]) -> AsyncIterator[Event]:
        return self.watch(handle if isinstance(handle, Handle) else Handle.model_validate(handle))

    async def fetch_result(
        self, handle: Handle, done: Succeeded, dest: Path, **_: Any
    ) -> VideoResult:
        try:
            size = await self.queue.result(handle.request_id, dest)
        except QueueError as exc:
            raise JobFailedError(str(exc), provider=self.name) from exc
        return VideoResult(dest, size, done.seed, done.timings)

    async def cancel(self, handle: Handle) -> bool:
        try:
            return await self.queue.cancel(handle.request_id)
        except QueueError as exc:
            raise TransientError(str(exc), provider=self.name) from exc

    async def keep(self, handle: Handle) -> bool:
        """Stop the running job within one step; it ends with the sections it finished."""
        try:
            return await self.queue.keep(handle.request_id)
        except QueueError as exc:
            raise TransientError(str(exc), provider=self.name) from exc

    async def aclose(self) -> None:
        await self.queue.aclose()


def folders_of(config: Any) -> Folders:
    """The engine's folders from the `[engine]` settings (bot.config.EngineConfig)."""
    return Folders(
        config.base_model_dir,
        config.transformer_dir,
        config.image_encoder_dir,
        config.f1_transformer_dir,
    )


def missing_weights(config: Any) -> list[str]:
    """One line per engine folder that is missing or incomplete (for `doctor`)."""
    return folders_of(config).problems()


def from_config(config: Any, *, workdir: Path, pool: Any = None) -> LocalProvider:
    """The provider for the `[engine]` settings, and `[providers.local]` (`pool`): the
    engine in this process (weights load at the first job), or, with a Redis URL, the
    GPU worker pool."""
    buckets = {str(name): base for name, base in config.buckets.items()}
    loras = {name: lora.default_weight for name, lora in config.loras.items()}
    priority = [*pool.priority_users, *pool.priority_roles] if pool is not None else []
    if pool is not None and pool.redis_url is not None:
        from providers.pool.redis import RedisQueue

        queue: EngineQueue = RedisQueue(
            pool.redis_url.get_secret_value(),
            secret=pool.secret.get_secret_value() if pool.secret else "",
            queue=pool.queue,
        )
        return LocalProvider(queue, buckets=buckets, priority=priority, loras=loras)
    return LocalProvider.in_process(
        engine_loader(config), workdir=workdir, buckets=buckets, priority=priority, loras=loras
    )


def engine_loader(config: Any, *, device: str | None = None) -> Callable[[], Renderer]:
    """Loads the engine of the `[engine]` settings (on `device` if given) when called."""
    folders = folders_of(config)
    options = engine_options(config)
    loras = {name: lora.path for name, lora in config.loras.items()}
    if device is not None:
        options = dataclasses.replace(options, device=device)

    def load() -> Renderer:
        # Here, not at import: the engine needs numpy and torch, which the bot's side
        # of a GPU pool does not have (a slim install).
        from local_engine.loading import load_engine

        return load_engine(folders, options, loras=loras)

    return load


def engine_options(config: Any) -> EngineOptions:
    return EngineOptions(
        device=config.device,
        dtype=config.dtype,
        offload=config.offload,
        vae_tiling=config.vae_tiling,
        step_cache=config.step_cache,
        step_cache_threshold=config.step_cache_threshold,
        draft_step_cache=config.draft_step_cache,
        mag_ratios=list(config.mag_ratios),
        attention_backend=config.attention_backend,
        compile=config.compile,
    )
