"""The job service: from a chat request to a delivered MP4, platform-neutral.

Adapters call `submit`, `cancel` and the history methods, subscribe to updates, and
register one DeliveryTarget per platform. Everything a user experiences apart from the
chat surface is decided here: intake, safety, quotas, dispatch, progress, fitting to
the upload limit, delivery, and recovery after a restart.

Invariants: the job row and its quota reservation are written in one transaction
before anything leaves the process; every later state change and its quota commit or
refund are one transaction too; a submit that may have reached a provider is never
sent again (the SUBMITTING state marks the window).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import random
import shutil
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from bot.clock import Clock, system_clock
from bot.config import Settings
from bot.core import messages
from bot.core.admin import AdminService
from bot.core.api import (
    Accepted,
    AnimateRequest,
    DeliveryError,
    DeliveryTarget,
    JobOptions,
    JobUpdate,
    Listener,
    Refused,
    Requester,
)
from bot.core.authority import Authority
from bot.core.intake import ImageRejected, IntakeLimits, for_remote, load_image
from bot.core.media import CannotFit, VideoUnusable, fit_to_limit, last_frame_png, sample_frames
from bot.core.messages import quota_refused
from bot.core.quotas import QuotaService, job_cost_mc
from bot.core.retention import Retention
from bot.core.safety import SafetyChecker, Verdict
from bot.core.settings import ScopedSettings
from bot.core.text import clean_prompt
from bot.log import Redactor
from providers import (
    Failed,
    GenerationRequest,
    Handle,
    ImageInput,
    Provider,
    Queued,
    Running,
    Succeeded,
)
from providers.contract import FPS, JobTag, lost_with_restart, reruns_lost_jobs, settle
from providers.errors import (
    ContentPolicyError,
    InvalidInputError,
    ProviderError,
    RateLimitedError,
    TransientError,
)
from storage import (
    Connection,
    DuplicateSource,
    JobRecord,
    JobState,
    NewJob,
    ReserveOutcome,
    Store,
)
from storage.jobs import InvalidTransition

T = TypeVar("T")
log = logging.getLogger(__name__)

DOWNLOADS_AT_ONCE = 16
PROGRESS_SAVE_S = 5.0

MAX_PROMPT = 500
STOP_GRACE_S = 10.0  # for submits on their way at shutdown (SIGTERM ends within 15 s)
MAX_REASON = 300  # characters of a provider's error kept in a job's row and messages
MAX_REFITS = 4  # smaller encodes after the platform refused a size
MAX_DELIVERY_RETRIES = 8  # transient post failures, backing off 1 s .. 60 s (~4 min)
ACTIVE = {
    JobState.QUEUED,
    JobState.SUBMITTING,
    JobState.SUBMITTED,
    JobState.RUNNING,
    JobState.SUCCEEDED,
}


# --- the service -----------------------------------------------------------------------------


class JobService:
    def __init__(
        self,
        *,
        store: Store,
        settings: Settings,
        providers: Mapping[str, Provider],
        safety: SafetyChecker,
        delivery: Mapping[str, DeliveryTarget],
        clock: Clock = system_clock,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        stop_grace_s: float = STOP_GRACE_S,
    ) -> None:
        self.store = store
        self.settings = settings
        self.providers = dict(providers)
        self.safety = safety
        self.delivery = dict(delivery)
        self.clock = clock
        self.sleep = sleep
        self.quotas = QuotaService(store, settings.quotas, clock)
        self.authority = Authority(settings)
        self._redact = Redactor(settings.secrets())
        self.scoped = ScopedSettings(store.settings, settings)
        self.admin = AdminService(
            store=store,
            quotas=self.quotas,
            authority=self.authority,
            scoped=self.scoped,
            clock=clock,
            provider_names=self.providers.keys(),
            service=self,
        )
        self.jobs_dir = settings.data_dir / "jobs"
        self.retention = Retention(
            store,
            self.jobs_dir,
            keep_days=settings.storage.keep_days,
            max_bytes=settings.storage.max_disk_mb * 2**20,
            clock=clock,
        )
        self._sweeper: asyncio.Task[None] | None = None
        self._stop_grace_s = stop_grace_s
        self._started = False
        self._waiting: list[str] = []  # not yet sent to a provider, in order (positions)
        # One task per job in flight. A job waiting on a provider holds nothing but its
        # task (a timer and a poll now and then); what costs is bounded instead: submits
        # and polls per provider (inside each provider), downloads, and CPU work.
        self._active: dict[str, asyncio.Task[None]] = {}
        cores = os.cpu_count() or 2
        # Result downloads wait on the network and the disk, not the CPU: bounded for
        # memory and open files, not by the cores (2 at a time made a burst of 300
        # finished jobs queue ~5 s for their downloads).
        self._downloads = asyncio.Semaphore(DOWNLOADS_AT_ONCE)
        # Encodes, frame sampling, image checks: a pool of its own as wide as the cores.
        # (Not a semaphore around a trip to a thread: the slot would stay taken until
        # the busy event loop came round to the finished trip, tens of ms under a burst.)
        # Its threads run at a lower OS priority: when checks fill every core, the
        # event loop still answers chats first (Discord's 3 seconds) and the checks get
        # whatever CPU is left.
        self._cpu_pool = ThreadPoolExecutor(
            cores, thread_name_prefix="cpu-work", initializer=_yield_to_the_event_loop
        )
        self._sending: set[asyncio.Future[Handle]] = set()
        self._listeners: list[Listener] = []
        # Updates go to the adapters off the job's path: per job, the latest one wins
        # while a slow listener (a rate-limited chat edit) is still busy with the last.
        self._pending_updates: dict[str, JobUpdate] = {}
        self._saved_progress: dict[str, float] = {}  # job id -> when its progress was written
        self._pumps: dict[str, asyncio.Task[None]] = {}
        self._side_tasks: set[asyncio.Future[None]] = set()
        self._rng = random.Random()

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Recover what a previous process left, run every job in flight, and keep the
        job files within their time and disk bounds (now, then hourly)."""
        self._started = True
        await self.recover()
        for job_id in list(self._waiting):
            self._spawn(job_id)
        # Hourly in real time (the injected sleep paces provider retries, not this).
        self._sweeper = asyncio.create_task(self.retention.run(), name="retention")

    async def stop(self) -> None:
        """Stop working without touching job states: a restart resumes every job.
        Submits already on their way get `stop_grace_s` to finish and save their handle;
        one still out then stays 'submitting', which the next start refunds (it is
        never sent again). Whatever providers do, this returns within the grace time
        plus a moment."""
        self._started = False
        # Submits on their way, and cancel requests to providers, get the grace time.
        outgoing: set[asyncio.Future[Any]] = {*self._sending, *self._side_tasks}
        if outgoing:
            await asyncio.wait(outgoing, timeout=self._stop_grace_s)
        for future in outgoing:
            future.cancel()
        tasks = [*self._active.values(), *self._pumps.values()]
        if self._sweeper is not None:
            tasks.append(self._sweeper)
            self._sweeper = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, *outgoing, return_exceptions=True)
        # A task cancelled before it ever ran never reached its own clean-up: without
        # this, join() after a restart in the same process would wait on it forever.
        self._active = {key: task for key, task in self._active.items() if not task.done()}
        self._pumps = {key: task for key, task in self._pumps.items() if not task.done()}
        self._pending_updates.clear()  # their pumps are gone; a restart reports afresh

    async def recover(self) -> None:
        interrupted = []
        for job in await self.store.jobs.in_states({JobState.SUBMITTING}):
            provider = self.providers.get(job.provider)
            if provider is not None and reruns_lost_jobs(provider):
                continue  # a local job paid nobody: it runs again (see _rerun)
            await self._finish(job.id, JobState.FAILED, messages.INTERRUPTED_SUBMIT)
            interrupted.append(job)
        resumable = await self.store.jobs.in_states(
            {
                JobState.QUEUED,
                JobState.SUBMITTING,
                JobState.SUBMITTED,
                JobState.RUNNING,
                JobState.SUCCEEDED,
            }
        )
        for job in resumable:
            self._enqueue(job.id)
        if interrupted or resumable:
            log.info(
                "recovered %d jobs, failed %d interrupted submits", len(resumable), len(interrupted)
            )

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # --- submission -------------------------------------------------------------------------

    @property
    def image_byte_limit(self) -> int:
        """The most bytes an image may have: adapters stop reading a download there."""
        return IntakeLimits().max_bytes

    def image_size_refusal(self, size_bytes: int | None) -> str | None:
        """For adapters, before they download anything: the refusal for an image whose
        announced size is over the intake limit, else None."""
        limit = IntakeLimits().max_bytes
        if size_bytes is not None and size_bytes > limit:
            return messages.image_too_many_bytes(size_bytes, limit)
        return None

    async def already_taken(self, source: str | None) -> bool:
        """For adapters, before they answer an event at all: whether a job was already
        made from it (a platform handing the same event over again)."""
        return source is not None and await self.store.jobs.from_source(source) is not None

    async def submit(self, request: AnimateRequest) -> Accepted | Refused:
        who = request.requester
        if await self.already_taken(request.source):
            log.info("%s: already taken; not a second job", request.source)
            return Refused("duplicate", messages.ALREADY_TAKEN)
        raw_options = dict(request.options)
        if isinstance(raw_options.get("negative_prompt"), str):
            raw_options["negative_prompt"] = clean_prompt(raw_options["negative_prompt"])
        try:
            options = JobOptions.model_validate(raw_options)
        except ValidationError as exc:
            error = exc.errors()[0]
            field_name = ".".join(str(p) for p in error["loc"]) or "options"
            return Refused("bad_option", messages.bad_option(field_name, error["msg"]))
        # What is checked and sent is what a reader sees: no zero-width or bidi tricks.
        prompt = clean_prompt(request.prompt)
        if not prompt:
            return Refused("prompt", messages.PROMPT_EMPTY)
        if len(prompt) > MAX_PROMPT:
            return Refused("prompt", messages.prompt_too_long(len(prompt), MAX_PROMPT))

        safety_on = await self._safety_enabled(who)
        verdict = self.safety.check_prompt(prompt, options.negative_prompt, enabled=safety_on)
        if verdict is not None:
            return await self._refuse_for_safety(who, verdict)

        provider_name = options.provider or await self.scoped.get(
            "provider", channel_key=who.channel_key, guild_key=who.guild_key
        )
        provider = self.providers.get(provider_name)
        if provider is None:
            return Refused("provider", messages.provider_unavailable(provider_name))

        remote_images = []
        for what, data in (("image", request.image), ("last frame", request.last_image)):
            if data is None:
                continue
            # One trip to a thread per image: under a burst each trip waits a turn of
            # the event loop.
            try:
                remote, verdict = await self._on_cpu(self._take_image, data, what, safety_on)
            except ImageRejected as exc:
                return Refused("image", str(exc))
            if verdict is not None:
                return await self._refuse_for_safety(who, verdict)
            remote_images.append(remote)
        try:
            generation = self._generation_request(prompt, options, remote_images, safety_on)
            # The length pinned to what this model makes (its nearest to the default
            # when none was asked): the cost, the status and any fallback mean it.
            spec = provider.check(generation)
            generation = settle(generation, spec)
        except (ValidationError, ValueError) as exc:
            return Refused("bad_option", messages.bad_option("options", _first_error(exc)))
        except InvalidInputError as exc:
            return Refused("provider", messages.provider_cannot(provider_name, exc.message))

        seconds = spec.made_seconds(generation)
        cost = job_cost_mc(round(seconds * FPS), generation.resolution)
        job = NewJob(
            platform=who.platform,
            user_key=who.user_key,
            guild_key=who.guild_key,
            channel_id=who.channel_id,
            provider=provider_name,
            cost_mc=cost,
            reply_ref=dict(request.reply_ref),
            request=self._stored_request(generation, seconds, who, safety_on),
            source=request.source,
        )
        await asyncio.to_thread(self._save_inputs, job.id, remote_images)
        # The caps are read before the transaction: the writer is the one thing every
        # job waits its turn for, and a read inside would hold it for a round trip.
        caps = await self.quotas.caps_for(who.user_key, who.guild_key, who.role_keys)

        async def reserve_and_insert(tx: Connection) -> ReserveOutcome:
            outcome = await self.quotas.reserve(
                job.id,
                user_key=who.user_key,
                guild_key=who.guild_key,
                cost_mc=cost,
                caps=caps,
                tx=tx,
            )
            if outcome.granted:
                await self.store.jobs.insert(job, now=self.clock(), tx=tx)
            return outcome

        try:
            outcome = await self.store.db.run(reserve_and_insert)
        except DuplicateSource:  # the same event, handled twice at once: rolled back
            await asyncio.to_thread(shutil.rmtree, self.jobs_dir / job.id, True)
            return Refused("duplicate", messages.ALREADY_TAKEN)
        if not outcome.granted:
            await asyncio.to_thread(shutil.rmtree, self.jobs_dir / job.id, True)
            assert outcome.refusal is not None  # a refused reservation says which cap
            return Refused("quota", quota_refused(outcome.refusal, cost, self.clock()))
        position = self._enqueue(job.id)
        record = await self.store.jobs.require(job.id)
        self._emit(
            JobUpdate(record, messages.status_line("queued", position=position), position=position)
        )
        log.info(
            "job %s accepted: %s, %s, %d frames, cost %d mc",
            job.id,
            who.user_key,
            provider_name,
            round(seconds * FPS),
            cost,
        )
        return Accepted(
            job.id, cost, position, provider_name, messages.accepted(cost, position, seconds)
        )

    async def _on_cpu(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            self._cpu_pool, functools.partial(fn, *args)
        )

    def _check_video(self, path: Path) -> Verdict | None:
        """Blocking: sample a finished video's frames and check them."""
        frames = sample_frames(path, self.settings.safety.output_frames_checked)
        return self.safety.check_images(frames, what="output video", enabled=True)

    def _take_image(
        self, data: bytes, what: str, safety_on: bool
    ) -> tuple[ImageInput, Verdict | None]:
        """Blocking: decode and check an image, and encode it for the provider."""
        image = load_image(data)
        verdict = self.safety.check_images([image], what=what, enabled=safety_on)
        return for_remote(image), verdict

    def _generation_request(
        self, prompt: str, options: JobOptions, images: list[ImageInput], safety_on: bool
    ) -> GenerationRequest:
        return GenerationRequest(
            model=options.model,
            prompt=prompt,
            negative_prompt=options.negative_prompt,
            image=images[0],
            last_image=images[1] if len(images) > 1 else None,
            seed=options.seed,
            aspect_ratio=options.aspect_ratio,
            resolution=options.resolution,
            num_frames=options.num_frames,
            duration=options.duration,
            num_inference_steps=options.steps,
            guidance_scale=options.guidance,
            cfg_scale=options.cfg_scale,
            strength=options.strength,
            enable_safety_checker=safety_on,
        )

    @staticmethod
    def _stored_request(
        generation: GenerationRequest, seconds: float, who: Requester, safety_on: bool
    ) -> dict[str, Any]:
        stored = generation.model_dump(mode="json", exclude={"image", "last_image"})
        stored.update(
            has_last_image=generation.last_image is not None,
            # The video's length (at 30 fps), as the model makes it.
            frames=round(seconds * FPS),
            channel_key=who.channel_key,
            role_keys=list(who.role_keys),
            safety=safety_on,
        )
        return stored

    def _save_inputs(self, job_id: str, images: list[ImageInput]) -> None:
        folder = self.jobs_dir / job_id
        folder.mkdir(parents=True, exist_ok=True)
        for name, image in zip(("first.jpg", "last.jpg"), images, strict=False):
            (folder / name).write_bytes(image.data)

    def _load_request(self, job: JobRecord) -> GenerationRequest:
        stored = dict(job.request)
        has_last = stored.pop("has_last_image")
        for key in ("channel_key", "role_keys", "safety", "frames"):
            stored.pop(key, None)
        folder = self.jobs_dir / job.id
        stored["image"] = ImageInput(
            data=(folder / "first.jpg").read_bytes(), mime_type="image/jpeg"
        )
        if has_last:
            stored["last_image"] = ImageInput(
                data=(folder / "last.jpg").read_bytes(), mime_type="image/jpeg"
            )
        return GenerationRequest(**stored)

    async def _safety_enabled(self, who: Requester) -> bool:
        setting = await self.scoped.resolve(
            "safety", channel_key=who.channel_key, guild_key=who.guild_key
        )
        if setting.value or setting.set_by is None:
            return bool(setting.value)
        # An 'off' holds only where the rules that allowed it still hold.
        return not self.authority.safety_off_honoured(setting.set_by, who.channel_nsfw)

    async def _refuse_for_safety(self, who: Requester, verdict: Verdict) -> Refused:
        await self.store.db.run(
            lambda tx: self.store.audit.record(
                "safety.block",
                actor=who.user_key,
                target=who.guild_key or who.user_key,
                detail={"check": verdict.check, "detail": verdict.detail, "stage": "intake"},
                now=self.clock(),
                tx=tx,
            )
        )
        return Refused("safety", messages.blocked(verdict.check))

    # --- the queue --------------------------------------------------------------------------

    def _enqueue(self, job_id: str) -> int:
        self._waiting.append(job_id)
        if self._started:
            self._spawn(job_id)
        return len(self._waiting)

    def _spawn(self, job_id: str) -> None:
        if job_id not in self._active:
            self._active[job_id] = asyncio.create_task(
                self._supervised(job_id), name=f"job-{job_id}"
            )

    async def _supervised(self, job_id: str) -> None:
        """Run one job; whatever it raises is logged and the job ends failed and
        refunded, and nothing else is affected."""
        try:
            await self._run(job_id)
        except asyncio.CancelledError:
            raise  # cancelled by its user (already ended) or by stop (resumed later)
        except Exception:
            log.exception("job %s crashed", job_id)
            try:
                await self._finish(job_id, JobState.FAILED, "an internal error")
            except Exception:
                log.exception("job %s: could not record the failure", job_id)
        finally:
            self._active.pop(job_id, None)
            self._saved_progress.pop(job_id, None)
            self._unwait(job_id)

    def _unwait(self, job_id: str) -> None:
        if job_id in self._waiting:
            self._waiting.remove(job_id)

    async def join(self) -> None:
        """Wait until every job in flight has ended, its updates went out and any stop
        it asked of its provider was sent (tests, CLI)."""
        while self._active or self._pumps or self._side_tasks:
            await asyncio.gather(
                *self._active.values(),
                *self._pumps.values(),
                *self._side_tasks,
                return_exceptions=True,
            )

    # --- running a job --------------------------------------------------------------------------

    async def _run(self, job_id: str) -> None:
        job = await self.store.jobs.get(job_id)
        if job is None or job.state not in ACTIVE:
            return
        if job.state is JobState.SUCCEEDED:
            await self._deliver(job)
            return
        if job.state is JobState.QUEUED:
            handle, provider = await self._submit(job)
            if handle is None or provider is None:
                return
        else:
            provider = self.providers.get(job.provider)
            if provider is None:
                await self._finish(
                    job.id, JobState.FAILED, messages.provider_unavailable(job.provider)
                )
                return
            if lost_with_restart(provider, job.provider_handle):
                handle = await self._rerun(job, provider)
            else:
                handle = Handle.model_validate(job.provider_handle)
        await self._watch(job.id, provider, handle)

    async def _rerun(self, job: JobRecord, provider: Provider) -> Handle:
        """A job of a backend that died with the last process (the local engine): it
        cost nothing, so it runs again, with the seed it was given the first time."""
        request = await asyncio.to_thread(self._load_request, job)
        if request.seed is None and job.seed is not None:
            request = request.model_copy(update={"seed": job.seed})
        self._unwait(job.id)
        handle = await provider.submit(request, self._tag(job))
        log.info("job %s: lost with the restart; %s runs it again", job.id, provider.name)

        async def save_handle(tx: Connection) -> None:
            if job.state is JobState.SUBMITTING:
                await self.store.jobs.transition(
                    job.id,
                    JobState.SUBMITTED,
                    now=self.clock(),
                    tx=tx,
                    provider_handle=handle.model_dump(mode="json"),
                    seed=handle.seed,
                )
            else:
                await self.store.jobs.replace_handle(
                    job.id, handle.model_dump(mode="json"), handle.seed, now=self.clock(), tx=tx
                )

        await self.store.db.run(save_handle)
        return handle

    async def _submit(self, job: JobRecord) -> tuple[Handle | None, Provider | None]:
        """Send the job once, falling back to other providers on failures that surely
        never started a job. Returns (None, None) when the job has ended."""
        request = await asyncio.to_thread(self._load_request, job)
        candidates = [job.provider] + [
            name for name in self.settings.providers.fallback if name != job.provider
        ]
        try:
            await self.store.jobs.move(job.id, JobState.SUBMITTING, now=self.clock())
        except asyncio.CancelledError:
            # The bot is stopping. The move, once handed to the writer, lands anyway;
            # nothing was sent, so the job goes back to the queue (the writer runs this
            # after it) instead of reading as a submit that may have gone out, which
            # the next start would fail and refund.
            await asyncio.shield(self.store.jobs.unsubmit(job.id, now=self.clock()))
            raise
        self._unwait(job.id)
        last_error: ProviderError | None = None
        for name in candidates:
            provider = self.providers.get(name)
            if provider is None:
                continue
            try:
                provider.check(request)
                # Shielded and tracked: a graceful stop lets the submit finish and its
                # handle be saved, so the restart resumes the job instead of failing it.
                sending = asyncio.ensure_future(self._send(job, name, provider, request))
                self._sending.add(sending)
                sending.add_done_callback(self._sending.discard)
                # Retrieved here too, for when the job task was cancelled meanwhile.
                sending.add_done_callback(lambda f: f.cancelled() or f.exception())
                handle = await asyncio.shield(sending)
            except (TransientError, RateLimitedError) as exc:
                log.warning("job %s: %s did not take it (%s)", job.id, name, exc)
                last_error = exc
                continue
            except InvalidInputError as exc:
                if name != job.provider:  # a fallback that cannot do it: next one
                    continue
                await self._finish(job.id, JobState.FAILED, self._reason(exc))
                return None, None
            except ProviderError as exc:  # ambiguous, auth, credit: stop here, no retry
                await self._finish(job.id, JobState.FAILED, self._reason(exc))
                return None, None
            return handle, provider
        await self._finish(
            job.id,
            JobState.FAILED,
            self._reason(last_error) if last_error else "no provider is available",
        )
        return None, None

    async def _send(
        self, job: JobRecord, name: str, provider: Provider, request: GenerationRequest
    ) -> Handle:
        """Submit, then save the handle before anything else can happen."""
        job_id = job.id
        handle = await provider.submit(request, self._tag(job))
        try:
            await self.store.jobs.move(
                job_id,
                JobState.SUBMITTED,
                now=self.clock(),
                provider=name,
                provider_handle=handle.model_dump(mode="json"),
                seed=handle.seed,
            )
        except InvalidTransition:
            # Cancelled while the submit was on its way: stop the provider's job too.
            with contextlib.suppress(ProviderError):
                await provider.cancel(handle)
            raise
        return handle

    @staticmethod
    def _tag(job: JobRecord) -> JobTag:
        return JobTag(job.id, job.user_key, tuple(job.request.get("role_keys", ())))

    async def _watch(self, job_id: str, provider: Provider, handle: Handle) -> None:
        started_running: float | None = None
        async for event in provider.watch(handle):
            match event:
                case Queued(position=position, eta_s=eta, note=note):
                    await self._progress(
                        job_id,
                        0.0,
                        {"provider_position": position, "eta_s": eta, "note": note},
                        JobState.SUBMITTED,
                        position=position,
                        eta_s=eta,
                        note=note,
                    )
                case Running(progress=progress):
                    if started_running is None:
                        started_running = time.monotonic()
                    eta = None
                    if progress:
                        elapsed = time.monotonic() - started_running
                        eta = elapsed * (1 - progress) / progress
                    await self._progress(
                        job_id,
                        progress or 0.0,
                        {"progress": progress, "eta_s": eta},
                        JobState.RUNNING,
                        progress=progress,
                        eta_s=eta,
                    )
                case Failed(error=error):
                    if isinstance(error, ContentPolicyError):
                        await self._block(job_id, Verdict("provider", self._reason(error)))
                    else:
                        await self._finish(job_id, JobState.FAILED, self._reason(error))
                    return
                case Succeeded():
                    await self._collect(job_id, provider, handle, event)
                    return

    async def _progress(
        self, job_id: str, fraction: float, detail: dict[str, Any], state: JobState, **update: Any
    ) -> None:
        # Progress is for showing: it reaches the adapters every time, but is written
        # only when the state changes, it has moved on by a tenth, or PROGRESS_SAVE_S
        # have passed: under a burst, the store is what watched jobs would queue on.
        job = await self.store.jobs.get(job_id)  # the reader: no writer needed
        if job is None or job.state not in (JobState.SUBMITTED, JobState.RUNNING):
            return  # cancelled or ended meanwhile
        running = state is JobState.RUNNING
        now = time.monotonic()
        if (
            (running and job.state is JobState.SUBMITTED)
            or fraction - job.progress >= 0.1
            or now - self._saved_progress.get(job_id, -PROGRESS_SAVE_S) >= PROGRESS_SAVE_S
        ):
            saved = await self.store.jobs.progress(
                job_id, fraction, detail, running=running, now=self.clock()
            )
            if saved is None:
                return
            self._saved_progress[job_id] = now
            job = saved
        else:
            job = dataclasses.replace(job, progress=fraction, status_detail=detail)
        note = update.pop("note", None)
        text = messages.status_line(state.value, note=note, **update)
        self._emit(JobUpdate(job, text, **update))

    async def _collect(
        self, job_id: str, provider: Provider, handle: Handle, done: Succeeded
    ) -> None:
        folder = self.jobs_dir / job_id
        try:
            async with self._downloads:
                result = await provider.fetch_result(handle, done, folder / "result.mp4")
        except ProviderError as exc:
            await self._finish(job_id, JobState.FAILED, self._reason(exc))
            return
        job = await self.store.jobs.require(job_id)
        if job.request.get("safety") and self.safety.detector is not None:
            try:
                verdict = await self._on_cpu(self._check_video, result.path)
            except VideoUnusable as exc:
                await self._finish(job_id, JobState.FAILED, f"the video is unusable ({exc})")
                return
            if verdict is not None:
                await self._block(job_id, verdict)
                return
        job = await self.store.jobs.move(
            job_id,
            JobState.SUCCEEDED,
            now=self.clock(),
            progress=1.0,
            result_path=str(result.path),
            seed=result.seed,
        )
        self._emit(JobUpdate(job, messages.status_line("succeeded")))
        await self._deliver(job)

    async def _deliver(self, job: JobRecord) -> None:
        target = self.delivery.get(job.platform)
        if target is None:
            await self._finish(job.id, JobState.FAILED, f"no {job.platform} adapter is running")
            return
        if job.result_path is None:
            await self._finish(job.id, JobState.FAILED, "the video was not kept")
            return
        source = Path(job.result_path)
        limit = target.upload_limit(job)
        quota = await self.quotas.user_quota(job.user_key, job.guild_key)
        caption = messages.caption(
            job.request["prompt"],
            job.provider,
            job.seed,
            job.request["frames"] / 30,
            job.cost_mc,
            quota.remaining_mc,
        )
        transient_failures = refits = 0
        while True:
            try:
                fitted = await self._on_cpu(
                    fit_to_limit, source, limit, self.jobs_dir / job.id / "fit"
                )
            except (CannotFit, VideoUnusable):
                await self._finish(job.id, JobState.FAILED, messages.TOO_LARGE_TO_POST)
                return
            # Counted (durably) before the post: a later attempt, in this process or
            # after a crash, then knows this one may have gone through.
            attempts = await self.store.jobs.begin_delivery_attempt(job.id, now=self.clock())
            try:
                posted = await target.deliver(job, fitted.path, caption, maybe_posted=attempts > 1)
                break
            except DeliveryError as exc:
                if exc.too_large and refits < MAX_REFITS:
                    # The platform's real limit was lower than announced.
                    limit, refits = int(fitted.size_bytes * 0.8), refits + 1
                    continue
                if exc.transient and transient_failures < MAX_DELIVERY_RETRIES:
                    delay = min(60.0, 2.0**transient_failures) * self._rng.uniform(0.5, 1)
                    transient_failures += 1
                    log.info("job %s: post failed (%s); again in %.0f s", job.id, exc, delay)
                    await self.sleep(delay)
                    continue
                log.warning("job %s: delivery failed: %s", job.id, exc)
                reason = messages.TOO_LARGE_TO_POST if exc.too_large else messages.POST_FAILED
                await self._finish(job.id, JobState.FAILED, reason)
                return

        async def record_delivery(tx: Connection) -> JobRecord:
            delivered = await self.store.jobs.transition(
                job.id, JobState.DELIVERED, now=self.clock(), tx=tx, posted_ref=posted
            )
            await self.quotas.commit(job.id, tx=tx)
            return delivered

        delivered = await self.store.db.run(record_delivery)
        self._emit(JobUpdate(delivered, messages.DELIVERED))

    # --- ending jobs -------------------------------------------------------------------------

    async def _finish(self, job_id: str, state: JobState, reason: str) -> bool:
        """End a job that did not deliver, refunding in the same transaction.
        False when it had already ended (a race with cancel or delivery)."""

        async def end_and_refund(tx: Connection) -> JobRecord:
            job = await self.store.jobs.transition(
                job_id, state, now=self.clock(), tx=tx, error=reason
            )
            await self.quotas.refund(job_id, reason=f"{state.value}: {reason}", tx=tx)
            return job

        try:
            job = await self.store.db.run(end_and_refund)
        except InvalidTransition:
            return False
        text = (
            messages.CANCELLED
            if state is JobState.CANCELLED
            else (
                messages.blocked(reason) if state is JobState.BLOCKED else messages.failed(reason)
            )
        )
        self._emit(JobUpdate(job, text))
        return True

    async def _block(self, job_id: str, verdict: Verdict) -> None:
        job = await self.store.jobs.require(job_id)
        await self.store.db.run(
            lambda tx: self.store.audit.record(
                "safety.block",
                actor=job.user_key,
                target=f"job:{job_id}",
                detail={"check": verdict.check, "detail": verdict.detail, "stage": "output"},
                now=self.clock(),
                tx=tx,
            )
        )
        await self._finish(job_id, JobState.BLOCKED, verdict.check)

    async def cancel(self, job_id: str, *, by: Requester) -> bool:
        """Cancel a job of `by` (or one an admin of its server or an operator may stop).
        Refunds at once; the provider is asked to stop where it can. False if the job is
        not theirs to cancel or already over."""
        job = await self.store.jobs.get(job_id)
        if job is None or not self.authority.may_cancel(by, job):
            return False
        if job.state not in ACTIVE - {JobState.SUCCEEDED}:
            return False
        if not await self._finish(job_id, JobState.CANCELLED, "cancelled"):
            return False
        task = self._active.get(job_id)
        if task is not None:
            task.cancel()
        self._unwait(job_id)
        provider = self.providers.get(job.provider)
        if job.provider_handle and provider is not None:
            # The refund is done; telling the provider may take a while and need not
            # hold up whoever pressed Cancel.
            self._background(self._cancel_at_provider(job_id, provider, job.provider_handle))
        return True

    async def _cancel_at_provider(
        self, job_id: str, provider: Provider, handle: Mapping[str, Any]
    ) -> None:
        try:
            await provider.cancel(Handle.model_validate(handle))
        except ProviderError as exc:
            log.info("job %s: provider cancel failed: %s", job_id, exc)

    def _background(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def follow_up(
        self,
        job_id: str,
        by: Requester,
        *,
        extend: bool,
        reply_ref: Mapping[str, Any],
        source: str | None = None,
    ) -> Accepted | Refused:
        """Retry (the same inputs, a new seed) or Extend (a new job whose first frame is
        the last frame of this one's video). Charged to `by` like any new job."""
        job = await self.store.jobs.get(job_id)
        refusal = self._follow_up_refusal(job, by, extend=extend)
        if refusal is not None:
            return refusal
        assert job is not None
        folder = self.jobs_dir / job.id
        try:
            if extend:
                assert job.result_path is not None
                first = await asyncio.to_thread(last_frame_png, Path(job.result_path))
                last = None
            else:
                first = await asyncio.to_thread((folder / "first.jpg").read_bytes)
                last_path = folder / "last.jpg"
                last = (
                    await asyncio.to_thread(last_path.read_bytes)
                    if (job.request.get("has_last_image"))
                    else None
                )
        except (OSError, VideoUnusable):
            return Refused("inputs_gone", messages.INPUTS_GONE)
        stored = job.request
        options = {
            "provider": job.provider,
            "model": stored["model"],
            "resolution": stored["resolution"],
            "aspect_ratio": stored["aspect_ratio"],
            "num_frames": stored["frames"],
            "negative_prompt": stored["negative_prompt"],
            "steps": stored.get("num_inference_steps"),
            "guidance": stored.get("guidance_scale"),
            "cfg_scale": stored.get("cfg_scale"),
            "strength": stored.get("strength") if last is not None else None,
        }
        if extend and options["model"] == "wan-flf2v":
            options["model"] = "framepack"
        options = {k: v for k, v in options.items() if v is not None}
        return await self.submit(
            AnimateRequest(by, stored["prompt"], first, last, options, dict(reply_ref), source)
        )

    async def follow_up_refusal(
        self, job_id: str, by: Requester, *, extend: bool
    ) -> Refused | None:
        """Why `by` may not Retry or Extend this job, or None when they may: for
        adapters, before they post or show anything of the job (its first frame is
        someone's picture)."""
        return self._follow_up_refusal(await self.store.jobs.get(job_id), by, extend=extend)

    def _follow_up_refusal(
        self, job: JobRecord | None, by: Requester, *, extend: bool
    ) -> Refused | None:
        if job is None or not self.authority.may_follow_up(by, job):
            return Refused("unknown_job", messages.UNKNOWN_JOB)
        if extend and (job.state is not JobState.DELIVERED or not job.result_path):
            return Refused("not_finished", messages.NOTHING_TO_EXTEND)
        return None

    async def first_frame(self, job_id: str) -> bytes | None:
        """The first frame a job was made from (JPEG), as kept for Retry; None once the
        job's files are gone."""
        if not job_id.isalnum():  # an id from a button, never a path
            return None
        try:
            return await asyncio.to_thread((self.jobs_dir / job_id / "first.jpg").read_bytes)
        except OSError:
            return None

    # --- history ------------------------------------------------------------------------------

    async def history(self, user_key: str, limit: int = 10) -> list[JobRecord]:
        return await self.store.jobs.recent_for_user(user_key, limit)

    async def record(self, job_id: str) -> tuple[JobRecord, dict[str, int]] | None:
        """The full row and its ledger entries, for admins."""
        job = await self.store.jobs.get(job_id)
        if job is None:
            return None
        return job, await self.store.ledger.entries(job_id)

    def _reason(self, error: ProviderError) -> str:
        """A provider's error as users and admins may read it: whatever the provider
        wrote (some echo the API key back), redacted of every configured secret and
        trimmed."""
        text = error.message if error.provider == "" else f"{error.provider}: {error.message}"
        text = self._redact(text)
        return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"

    def _emit(self, update: JobUpdate) -> None:
        """Hand an update to the listeners without waiting for them."""
        job_id = update.job.id
        pending = self._pending_updates.get(job_id)
        if pending is not None and pending.job.state.is_final and not update.job.state.is_final:
            return  # a late progress update never hides how the job ended
        self._pending_updates[job_id] = update  # an older one not yet sent is dropped
        if job_id not in self._pumps:
            self._pumps[job_id] = asyncio.create_task(
                self._pump(job_id), name=f"job-{job_id}-updates"
            )

    async def _pump(self, job_id: str) -> None:
        try:
            while (update := self._pending_updates.pop(job_id, None)) is not None:
                for listener in list(self._listeners):
                    try:
                        await listener(update)
                    except Exception:
                        log.exception("a job listener failed")
        finally:
            self._pumps.pop(job_id, None)


CPU_WORK_NICENESS = 10  # added to the process's own: below the event loop, not starved


def _yield_to_the_event_loop() -> None:
    """Lower this thread's scheduling priority (Linux: a thread's nice value is its own;
    raising it needs no privilege). Where that is not possible, nothing changes."""
    try:
        thread = threading.get_native_id()
        os.setpriority(
            os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + CPU_WORK_NICENESS
        )
    except (AttributeError, OSError):
        log.debug("CPU work runs at the event loop's priority here")


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return exc.errors()[0]["msg"]
    return str(exc)
