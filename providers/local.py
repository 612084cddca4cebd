"""The local FramePack engine as a provider like the others: submit -> handle ->
watch -> fetch_result, with progress per step and cancel within a step.

Imported lazily (by whoever enables the local provider): the engine needs torch.

One job at a time runs on the engine (it owns the GPU); the others wait their turn and
report their place. The work runs in a thread, so the event loop stays free. A local job
interrupted by a restart paid nobody: the service runs it again (`reruns_lost_jobs`)
instead of refunding it as an interrupted submit.
"""

from __future__ import annotations

import asyncio
import io
import logging
import random
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from local_engine.engine import Cancelled, EngineRefused, EngineRequest, FramePackEngine, Progress
from local_engine.folders import Folders
from local_engine.loading import load_engine
from local_engine.options import EngineOptions
from providers.contract import (
    MAX_SEED,
    Capabilities,
    Event,
    Failed,
    GenerationRequest,
    Handle,
    Mode,
    ModelFamily,
    ModelSpec,
    Queued,
    Running,
    Succeeded,
    VideoResult,
)
from providers.errors import InvalidInputError, JobFailedError, ProviderError

log = logging.getLogger(__name__)

DEFAULT_STEPS = 25  # FramePack's demo
DEFAULT_GUIDANCE = 10.0  # distilled guidance, FramePack's default

_SPEC = dict(
    frames=(30, 1800),
    aspect_ratios=("16:9", "9:16"),  # from the image's own aspect, by bucket
    steps=True,
    guidance=True,
    negative_prompt=True,
    seed=True,
    safety_switch=False,
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


@dataclass
class _Job:
    id: str
    request: EngineRequest
    events: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    cancel: threading.Event = field(default_factory=threading.Event)
    task: asyncio.Task[None] | None = None


class LocalProvider:
    name = "local"
    capabilities = CAPABILITIES
    reruns_lost_jobs = True

    def __init__(
        self,
        load: Callable[[], FramePackEngine],
        *,
        buckets: Mapping[str, int],
        workdir: Path | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self._load = load
        self._engine: FramePackEngine | None = None
        self.buckets = dict(buckets)
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="framepack-local-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.rng = rng or random.Random()
        self._jobs: dict[str, _Job] = {}
        self._waiting: list[str] = []  # in order, for queue places
        self._turn = asyncio.Lock()  # one job at a time on the engine

    # --- the contract --------------------------------------------------------------

    def check(self, request: GenerationRequest) -> ModelSpec:
        # F1 with a last frame never gets here: the request itself refuses it.
        return self.capabilities.check(self.name, request)

    def knows(self, handle: Handle | Mapping[str, Any]) -> bool:
        """Whether this process runs that job (after a restart it does not)."""
        request_id = handle.request_id if isinstance(handle, Handle) else handle["request_id"]
        return request_id in self._jobs

    async def submit(self, request: GenerationRequest) -> Handle:
        self.check(request)
        seed = request.seed if request.seed is not None else self.rng.randint(0, MAX_SEED)
        job = _Job(
            uuid.uuid4().hex[:16],
            await asyncio.to_thread(_engine_request, request, seed, self.buckets),
        )
        self._jobs[job.id] = job
        self._waiting.append(job.id)
        job.task = asyncio.create_task(self._run(job), name=f"local-{job.id}")
        return Handle(
            provider=self.name,
            endpoint=str(request.model),
            request_id=job.id,
            seed=seed,
            submitted_at=self.clock(),
        )

    async def watch(self, handle: Handle) -> AsyncIterator[Event]:
        job = self._jobs.get(handle.request_id)
        if job is None:
            yield Failed(
                JobFailedError("the local job was lost with a restart", provider=self.name)
            )
            return
        position = self._waiting.index(job.id) + 1 if job.id in self._waiting else None
        if position is not None:
            yield Queued(position)
        while True:
            event = await job.events.get()
            if isinstance(event, Failed):
                self._jobs.pop(job.id, None)  # told; a success goes at fetch_result
            yield event
            if isinstance(event, Succeeded | Failed):
                return

    def resume(self, handle: Handle | Mapping[str, Any]) -> AsyncIterator[Event]:
        return self.watch(handle if isinstance(handle, Handle) else Handle.model_validate(handle))

    async def fetch_result(
        self, handle: Handle, done: Succeeded, dest: Path, **_: Any
    ) -> VideoResult:
        source = Path(done.video_url.removeprefix("file://"))
        size = await asyncio.to_thread(_move, source, dest)
        self._jobs.pop(handle.request_id, None)
        return VideoResult(dest, size, handle.seed, done.timings)

    async def cancel(self, handle: Handle) -> bool:
        job = self._jobs.get(handle.request_id)
        if job is None:
            return False
        job.cancel.set()  # a running job stops within one step
        if job.task is not None and job.task.done():
            self._jobs.pop(job.id, None)  # over, and nobody is watching any more
        return True

    async def aclose(self) -> None:
        tasks = [job.task for job in self._jobs.values() if job.task is not None]
        for job in self._jobs.values():
            job.cancel.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- running -------------------------------------------------------------------

    async def _run(self, job: _Job) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with self._turn:
                self._waiting.remove(job.id)
                for place, waiting in enumerate(self._waiting, start=1):
                    self._jobs[waiting].events.put_nowait(Queued(place))
                if job.cancel.is_set():
                    raise Cancelled()
                started = time.monotonic()
                engine = await self._engine_ready()
                await job.events.put(Running(0.0))

                def progress(p: Progress) -> None:
                    loop.call_soon_threadsafe(
                        job.events.put_nowait,
                        Running(p.step / p.total_steps, (f"section {p.section + 1}/{p.sections}",)),
                    )

                out = self.workdir / f"{job.id}.mp4"
                await asyncio.to_thread(
                    engine.generate, job.request, out, on_progress=progress, cancel=job.cancel
                )
                took = time.monotonic() - started
            await job.events.put(
                Succeeded(f"file://{out}", seed=job.request.seed, timings={"inference": took})
            )
        except Cancelled:
            await job.events.put(Failed(JobFailedError("cancelled", provider=self.name)))
        except EngineRefused as exc:
            await job.events.put(Failed(InvalidInputError(str(exc), provider=self.name)))
        except ProviderError as exc:
            await job.events.put(Failed(exc))
        except Exception as exc:  # the engine's failure is this job's, not the bot's
            log.exception("local job %s failed", job.id)
            await job.events.put(
                Failed(JobFailedError(f"the local engine failed: {exc}", provider=self.name))
            )
        finally:
            if job.id in self._waiting:
                self._waiting.remove(job.id)

    async def _engine_ready(self) -> FramePackEngine:
        """Loaded at the first job, in a thread (minutes for the real weights)."""
        if self._engine is None:
            try:
                self._engine = await asyncio.to_thread(self._load)
            except Exception as exc:
                raise JobFailedError(
                    f"the local engine could not load: {exc}", provider=self.name
                ) from exc
        return self._engine


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


def from_config(config: Any, *, workdir: Path) -> LocalProvider:
    """The provider for the `[engine]` settings; the weights load at the first job."""
    folders = folders_of(config)
    options = EngineOptions(
        device=config.device,
        dtype=config.dtype,
        offload=config.offload,
        vae_tiling=config.vae_tiling,
        step_cache=config.step_cache,
        step_cache_threshold=config.step_cache_threshold,
        mag_ratios=list(config.mag_ratios),
        attention_backend=config.attention_backend,
        compile=config.compile,
    )
    return LocalProvider(
        lambda: load_engine(folders, options),
        buckets={str(name): base for name, base in config.buckets.items()},
        workdir=workdir,
    )


def _engine_request(
    request: GenerationRequest, seed: int, buckets: Mapping[str, int]
) -> EngineRequest:
    """Blocking: decodes the images."""
    image = Image.open(io.BytesIO(request.image.data)).convert("RGB")
    last = None
    if request.last_image is not None:
        last = Image.open(io.BytesIO(request.last_image.data)).convert("RGB")
    return EngineRequest(
        image=image,
        prompt=request.prompt,
        num_frames=request.frames,
        base=buckets[request.resolution],
        last_image=last,
        seed=seed,
        steps=request.num_inference_steps or DEFAULT_STEPS,
        guidance=request.guidance_scale if request.guidance_scale is not None else DEFAULT_GUIDANCE,
        negative_prompt=request.negative_prompt,
        f1=request.model is ModelFamily.FRAMEPACK_F1,
    )


def _move(source: Path, dest: Path) -> int:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(source, dest)
    return dest.stat().st_size
