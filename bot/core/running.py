"""Jobs in flight: the queue, one supervised task per job, the submit to a provider
(once, with fallbacks on failures that surely started nothing), watching it to the
end, cancelling, and resuming whatever a previous process left.

A submit that may have reached a provider is never sent again: the SUBMITTING state
marks the window, and a restart fails and refunds a job found in it (a local job,
which paid nobody, runs again instead)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Mapping
from datetime import timedelta
from typing import Any

from bot.core import messages
from bot.core.api import CancelOutcome, JobUpdate, Requester
from bot.core.context import JobContext
from bot.core.delivery import Delivery
from bot.core.endings import Endings
from bot.core.request import StoredRequest
from bot.core.safety import Verdict
from bot.i18n import speak
from bot.owner import gone
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
from providers.contract import JobTag, keeper, lost_with_restart, reruns_lost_jobs
from providers.errors import (
    ContentPolicyError,
    InvalidInputError,
    ProviderError,
    RateLimitedError,
    TransientError,
)
from storage import ACTIVE_STATES, Connection, JobRecord, JobState
from storage.jobs import InvalidTransition

log = logging.getLogger(__name__)

PROGRESS_SAVE_S = 5.0
STOP_GRACE_S = 10.0  # for submits on their way at shutdown (SIGTERM ends within 15 s)


class Runner:
    def __init__(
        self,
        ctx: JobContext,
        endings: Endings,
        delivery: Delivery,
        *,
        stop_grace_s: float = STOP_GRACE_S,
    ) -> None:
        self._ctx = ctx
        self._endings = endings
        self._delivery = delivery
        self._stop_grace_s = stop_grace_s
        self._started = False
        self._waiting: list[str] = []  # not yet sent to a provider, in order (positions)
        # One task per job in flight. A job waiting on a provider holds nothing but its
        # task (a timer and a poll now and then); what costs is bounded instead: submits
        # and polls per provider (inside each provider), downloads, and CPU work.
        self._active: dict[str, asyncio.Task[None]] = {}
        self._sending: set[asyncio.Future[Handle]] = set()
        self._side_tasks: set[asyncio.Future[None]] = set()
        self._saved_progress: dict[str, float] = {}  # job id -> when its progress was written
        # The unfinished jobs this process holds the lease of (accepted here, or adopted).
        self._mine: set[str] = set()
        self._leases: asyncio.Task[None] | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Recover what a previous process left and run every job in flight; from
        then on keep this process's leases and adopt the jobs of processes that
        stopped renewing theirs."""
        self._started = True
        await self.recover()
        for job_id in list(self._waiting):
            self._spawn(job_id)
        self._leases = asyncio.create_task(self._keep_leases(), name="job-leases")

    async def _keep_leases(self) -> None:
        every = self._ctx.settings.storage.job_lease_s / 3
        while True:
            await asyncio.sleep(every)  # real time: the leases' own
            try:
                await self.recover()
            except Exception:  # a locked or lost database this round: the next tries
                log.exception("could not renew the job leases")

    async def stop(self) -> None:
        """Stop working without touching job states: a restart resumes every job.
        Submits already on their way get `stop_grace_s` to finish and save their handle;
        one still out then stays 'submitting', which the next start refunds (it is
        never sent again). Whatever providers do, this returns within the grace time
        plus a moment."""
        self._started = False
        if self._leases is not None:
            self._leases.cancel()
            await asyncio.gather(self._leases, return_exceptions=True)
        # Submits on their way, and cancel requests to providers, get the grace time.
        outgoing: set[asyncio.Future[Any]] = {*self._sending, *self._side_tasks}
        if outgoing:
            await asyncio.wait(outgoing, timeout=self._stop_grace_s)
        for future in outgoing:
            future.cancel()
        tasks = list(self._active.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, *outgoing, return_exceptions=True)
        # A task cancelled before it ever ran never reached its own clean-up: without
        # this, join() after a restart in the same process would wait on it forever.
        self._active = {key: task for key, task in self._active.items() if not task.done()}
        # Let go: the next process (a restart, another one) takes them at once.
        await self._ctx.store.jobs.renew(self._ctx.owner, until=self._ctx.clock())
        self._mine.clear()

    async def recover(self) -> None:
        """Claim the unfinished jobs nobody holds (this process's own leases renewed
        with them) and take up those new to it: what a previous process left, or a
        process that stopped renewing (killed, its machine lost)."""
        ctx = self._ctx
        jobs = ctx.store.jobs
        dead = {owner for owner in await jobs.other_owners(ctx.owner) if gone(owner)}
        now = ctx.clock()
        lease = timedelta(seconds=ctx.settings.storage.job_lease_s)
        claimed = await jobs.claim(ctx.owner, now=now, until=now + lease, gone=dead)
        new = [job_id for job_id in claimed if job_id not in self._mine]
        if not new:
            return
        self._mine.update(new)
        adopted = set(new)
        interrupted, resumable = [], []
        for job in await jobs.in_states(ACTIVE_STATES):  # oldest first: the queue's order
            if job.id not in adopted:
                continue
            provider = ctx.providers.get(job.provider)
            # A submit the end of its process interrupted may have been accepted or
            # not: it is never sent again, but refunded — unless a local job, which
            # paid nobody and runs again (see _rerun).
            if job.state is JobState.SUBMITTING and not (
                provider is not None and reruns_lost_jobs(provider)
            ):
                await self._endings.finish(job.id, JobState.FAILED, messages.INTERRUPTED_SUBMIT)
                interrupted.append(job)
                continue
            resumable.append(job)
        for job in resumable:
            self.enqueue(job.id)
        log.info(
            "recovered %d jobs, failed %d interrupted submits", len(resumable), len(interrupted)
        )

    def in_flight(self) -> list[asyncio.Future[Any]]:
        """Every job task and every side task (a cancel on its way to a provider)."""
        return [*self._active.values(), *self._side_tasks]

    # --- the queue ----------------------------------------------------------------------------

    def enqueue(self, job_id: str) -> int:
        """Queue a job (this process holds it); its position among those not yet sent."""
        self._mine.add(job_id)
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
                await self._endings.finish(job_id, JobState.FAILED, "an internal error")
            except Exception:
                log.exception("job %s: could not record the failure", job_id)
        finally:
            self._active.pop(job_id, None)
            self._saved_progress.pop(job_id, None)
            self._unwait(job_id)
            self._mine.discard(job_id)

    def _unwait(self, job_id: str) -> None:
        if job_id in self._waiting:
            self._waiting.remove(job_id)

    # --- running a job ------------------------------------------------------------------------

    async def _run(self, job_id: str) -> None:
        job = await self._ctx.store.jobs.get(job_id)
        if job is None or job.state not in ACTIVE_STATES:
            return
        # What this task says about the job (status, caption) reads in its requester's
        # language, also for a job resumed after a restart.
        speak(StoredRequest.of_job(job).locale)
        if job.state is JobState.SUCCEEDED:
            await self._delivery.deliver(job)
            return
        if job.state is JobState.QUEUED:
            handle, provider = await self._submit(job)
            if handle is None or provider is None:
                return
        else:
            provider = self._ctx.providers.get(job.provider)
            if provider is None:
                await self._endings.finish(
                    job.id, JobState.FAILED, messages.provider_unavailable(job.provider)
                )
                return
            if lost_with_restart(provider, job.provider_handle):
                handle = await self._rerun(job, provider)
            else:
                handle = Handle.model_validate(job.provider_handle)
        await self._watch(job.id, provider, handle)

    def _load_request(self, job: JobRecord) -> GenerationRequest:
        """Blocking: the job's request with its images read back from its folder, and
        an Extend's earlier video beside them."""
        stored = StoredRequest.of_job(job)
        folder = self._ctx.jobs_dir / job.id
        first = ImageInput(data=(folder / "first.jpg").read_bytes(), mime_type="image/jpeg")
        last = (
            ImageInput(data=(folder / "last.jpg").read_bytes(), mime_type="image/jpeg")
            if stored.has_last_image
            else None
        )
        earlier = folder / "earlier.mp4" if stored.extends else None
        return stored.generation(first, last, earlier)

    async def _rerun(self, job: JobRecord, provider: Provider) -> Handle:
        """A job of a backend that died with the last process (the local engine): it
        cost nothing, so it runs again, with the seed it was given the first time."""
        ctx = self._ctx
        request = await asyncio.to_thread(self._load_request, job)
        if request.seed is None and job.seed is not None:
            request = request.model_copy(update={"seed": job.seed})
        self._unwait(job.id)
        handle = await provider.submit(request, _tag(job))
        log.info("job %s: lost with the restart; %s runs it again", job.id, provider.name)

        async def save_handle(tx: Connection) -> None:
            if job.state is JobState.SUBMITTING:
                await ctx.store.jobs.transition(
                    job.id,
                    JobState.SUBMITTED,
                    now=ctx.clock(),
                    tx=tx,
                    provider_handle=handle.model_dump(mode="json"),
                    seed=handle.seed,
                )
            else:
                await ctx.store.jobs.replace_handle(
                    job.id, handle.model_dump(mode="json"), handle.seed, now=ctx.clock(), tx=tx
                )

        await ctx.store.db.run(save_handle)
        return handle

    async def _submit(self, job: JobRecord) -> tuple[Handle | None, Provider | None]:
        """Send the job once, falling back to other providers on failures that surely
        never started a job. Returns (None, None) when the job has ended."""
        ctx = self._ctx
        request = await asyncio.to_thread(self._load_request, job)
        try:
            await ctx.store.jobs.move(job.id, JobState.SUBMITTING, now=ctx.clock())
        except asyncio.CancelledError:
            # The bot is stopping. The move, once handed to the writer, lands anyway;
            # nothing was sent, so the job goes back to the queue (the writer runs this
            # after it) instead of reading as a submit that may have gone out, which
            # the next start would fail and refund.
            await asyncio.shield(ctx.store.jobs.unsubmit(job.id, now=ctx.clock()))
            raise
        self._unwait(job.id)
        last_error: ProviderError | None = None
        for name in self._candidates(job):
            provider = ctx.providers[name]
            try:
                return await self._send_once(job, name, provider, request), provider
            except (TransientError, RateLimitedError) as exc:
                log.warning("job %s: %s did not take it (%s)", job.id, name, exc)
                last_error = exc
            except InvalidInputError as exc:
                if name == job.provider:  # a fallback that cannot do it: the next one
                    await self._endings.finish(job.id, JobState.FAILED, self._endings.reason(exc))
                    return None, None
            except ProviderError as exc:  # ambiguous, auth, credit: stop here, no retry
                await self._endings.finish(job.id, JobState.FAILED, self._endings.reason(exc))
                return None, None
        reason = self._endings.reason(last_error) if last_error else "no provider is available"
        await self._endings.finish(job.id, JobState.FAILED, reason)
        return None, None

    def _candidates(self, job: JobRecord) -> list[str]:
        """The job's provider, then the configured fallbacks, those running."""
        fallback = self._ctx.settings.providers.fallback
        names = [job.provider] + [name for name in fallback if name != job.provider]
        return [name for name in names if name in self._ctx.providers]

    async def _send_once(
        self, job: JobRecord, name: str, provider: Provider, request: GenerationRequest
    ) -> Handle:
        provider.check(request)
        # Shielded and tracked: a graceful stop lets the submit finish and its handle
        # be saved, so the restart resumes the job instead of failing it.
        sending = asyncio.ensure_future(self._send(job, name, provider, request))
        self._sending.add(sending)
        sending.add_done_callback(self._sending.discard)
        # Retrieved here too, for when the job task was cancelled meanwhile.
        sending.add_done_callback(lambda f: f.cancelled() or f.exception())
        return await asyncio.shield(sending)

    async def _send(
        self, job: JobRecord, name: str, provider: Provider, request: GenerationRequest
    ) -> Handle:
        """Submit, then save the handle before anything else can happen."""
        handle = await provider.submit(request, _tag(job))
        try:
            await self._ctx.store.jobs.move(
                job.id,
                JobState.SUBMITTED,
                now=self._ctx.clock(),
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

    async def _watch(self, job_id: str, provider: Provider, handle: Handle) -> None:
        started_running: float | None = None
        async for event in provider.watch(handle):
            match event:
                case Queued(position=position, eta_s=eta, note=note):
                    detail = {"provider_position": position, "eta_s": eta, "note": note}
                    await self._progress(
                        job_id, 0.0, detail, JobState.SUBMITTED, position=position, eta_s=eta
                    )
                case Running(progress=progress, keep_s=keep_s):
                    if started_running is None:
                        started_running = time.monotonic()
                    eta = None
                    if progress:
                        elapsed = time.monotonic() - started_running
                        eta = elapsed * (1 - progress) / progress
                    detail = {"progress": progress, "eta_s": eta}
                    await self._progress(
                        job_id,
                        progress or 0.0,
                        detail,
                        JobState.RUNNING,
                        keep_s=keep_s,
                        progress=progress,
                        eta_s=eta,
                    )
                case Failed(error=error):
                    if isinstance(error, ContentPolicyError):
                        await self._endings.block(
                            job_id, Verdict("provider", self._endings.reason(error))
                        )
                    else:
                        await self._endings.finish(
                            job_id, JobState.FAILED, self._endings.reason(error)
                        )
                    return
                case Succeeded():
                    await self._delivery.collect(job_id, provider, handle, event)
                    return

    async def _progress(
        self,
        job_id: str,
        fraction: float,
        detail: dict[str, Any],
        state: JobState,
        keep_s: float | None = None,
        **update: Any,
    ) -> None:
        # Progress is for showing: it reaches the adapters every time, but is written
        # only when the state changes, it has moved on by a tenth, or PROGRESS_SAVE_S
        # have passed: under a burst, the store is what watched jobs would queue on.
        ctx = self._ctx
        job = await ctx.store.jobs.get(job_id)  # the reader: no writer needed
        if job is None or job.state not in (JobState.SUBMITTED, JobState.RUNNING):
            return  # cancelled or ended meanwhile
        running = state is JobState.RUNNING
        now = time.monotonic()
        if (
            (running and job.state is JobState.SUBMITTED)
            or fraction - job.progress >= 0.1
            or now - self._saved_progress.get(job_id, -PROGRESS_SAVE_S) >= PROGRESS_SAVE_S
        ):
            saved = await ctx.store.jobs.progress(
                job_id, fraction, detail, running=running, now=ctx.clock()
            )
            if saved is None:
                return
            self._saved_progress[job_id] = now
            job = saved
        else:
            job = dataclasses.replace(job, progress=fraction, status_detail=detail)
        text = messages.status_line(state.value, note=detail.get("note"), **update)
        if keep_s is not None:
            text = f"{text}\n{messages.keep_hint(keep_s)}"
        ctx.updates.emit(JobUpdate(job, text, keep_s=keep_s, **update))

    # --- cancelling ---------------------------------------------------------------------------

    async def cancel(self, job_id: str, *, by: Requester) -> CancelOutcome:
        """Cancel a job of `by` (or one an admin of its server or an operator may stop).
        Refunds at once; the provider is asked to stop where it can. The outcome says
        why not when it is not cancelled: not theirs, or already over."""
        ctx = self._ctx
        job = await ctx.store.jobs.get(job_id)
        if job is None or not ctx.authority.may_cancel(by, job):
            return CancelOutcome(False, messages.NOT_YOURS)
        if job.state not in ACTIVE_STATES - {JobState.SUCCEEDED} or not await self._endings.finish(
            job_id, JobState.CANCELLED, "cancelled"
        ):
            return CancelOutcome(False, messages.CANNOT_CANCEL)
        task = self._active.get(job_id)
        if task is not None:
            task.cancel()
        self._unwait(job_id)
        provider = ctx.providers.get(job.provider)
        if job.provider_handle and provider is not None:
            # The refund is done; telling the provider may take a while and need not
            # hold up whoever pressed Cancel.
            self._background(self._cancel_at_provider(job_id, provider, job.provider_handle))
        return CancelOutcome(True, messages.CANCELLED)

    async def keep(self, job_id: str, *, by: Requester) -> CancelOutcome:
        """Ask the provider to stop a running job and hand back what it finished; the
        job then ends as any other, delivered and charged for what it made
        (Delivery.collect). Who may: as for cancel."""
        ctx = self._ctx
        job = await ctx.store.jobs.get(job_id)
        if job is None or not ctx.authority.may_cancel(by, job):
            return CancelOutcome(False, messages.NOT_YOURS)
        provider = ctx.providers.get(job.provider)
        keeps = keeper(provider) if provider is not None else None
        if job.state is not JobState.RUNNING or keeps is None or not job.provider_handle:
            return CancelOutcome(False, messages.CANNOT_KEEP)
        try:
            asked = await keeps.keep(Handle.model_validate(job.provider_handle))
        except ProviderError as exc:
            log.info("job %s: stop-and-keep failed: %s", job_id, exc)
            asked = False
        if not asked:
            return CancelOutcome(False, messages.NOTHING_TO_KEEP)
        log.info("job %s: stop and keep, asked by %s", job_id, by.user_key)
        return CancelOutcome(True, messages.KEEPING)

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


def _tag(job: JobRecord) -> JobTag:
    return JobTag(job.id, job.user_key, StoredRequest.of_job(job).role_keys)
