"""From a provider's finished job to a posted MP4: download, check the output, join an
Extend's part to the video it extends, write the recipe into the MP4, fit it to the
platform's upload limit, post (at most once, across retries and restarts), and commit
the charge in the same transaction as the delivered state."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core import messages
from bot.core.api import DeliveryError, DeliveryTarget, FollowUp, JobUpdate, PostedRef, VideoPost
from bot.core.context import JobContext
from bot.core.endings import Endings
from bot.core.media import CannotFit, VideoUnusable, fit_to_limit, join, sample_frames, write_tags
from bot.core.quotas import job_cost_mc
from bot.core.recipe import Recipe
from bot.core.request import StoredRequest
from bot.core.safety import Verdict
from bot.i18n import use
from providers import Handle, Provider, Succeeded
from providers.contract import FPS
from providers.errors import ProviderError
from storage import Connection, JobRecord, JobState

log = logging.getLogger(__name__)

DOWNLOADS_AT_ONCE = 16
MAX_REFITS = 4  # smaller encodes after the platform refused a size
MAX_DELIVERY_RETRIES = 8  # transient post failures, backing off 1 s .. 60 s (~4 min)


@dataclass
class _Attempts:
    """What the retry loop of one delivery has used up."""

    limit: int
    refits: int = 0
    transient: int = 0


class Delivery:
    def __init__(self, ctx: JobContext, endings: Endings) -> None:
        self._ctx = ctx
        self._endings = endings
        self._targets: dict[str, DeliveryTarget] = {}
        # Result downloads wait on the network and the disk, not the CPU: bounded for
        # memory and open files, not by the cores (2 at a time made a burst of 300
        # finished jobs queue ~5 s for their downloads).
        self._downloads = asyncio.Semaphore(DOWNLOADS_AT_ONCE)
        self._rng = random.Random()

    def register(self, platform: str, target: DeliveryTarget) -> None:
        """The adapter of `platform` posts its jobs' videos through `target`."""
        self._targets[platform] = target

    async def collect(
        self, job_id: str, provider: Provider, handle: Handle, done: Succeeded
    ) -> None:
        """Download a finished job's video, check it where safety is on, then deliver."""
        ctx = self._ctx
        job = await ctx.store.jobs.require(job_id)
        stored = StoredRequest.of_job(job)
        folder = ctx.jobs_dir / job_id
        try:
            async with self._downloads:
                # An Extend's download is its new part; the result joins it on.
                fetched = folder / ("part.mp4" if stored.extends else "result.mp4")
                result = await provider.fetch_result(handle, done, fetched)
        except ProviderError as exc:
            await self._endings.finish(job_id, JobState.FAILED, self._endings.reason(exc))
            return
        if stored.safety and ctx.safety.detector is not None:
            try:
                verdict = await ctx.cpu.run(self._check_video, result.path)
            except VideoUnusable as exc:
                await self._endings.finish(
                    job_id, JobState.FAILED, f"the video is unusable ({exc})"
                )
                return
            if verdict is not None:
                await self._endings.block(job_id, verdict)
                return
        kept: dict[str, Any] = {}
        if done.kept_frames is not None and 0 < done.kept_frames < stored.frames:
            # Stopped and kept: the job is what it made, and costs that.
            stored = stored.kept(done.kept_frames)
            cost = job_cost_mc(stored.frames, stored.resolution)
            kept = {"request": stored.row(), "cost_mc": min(cost, job.cost_mc)}
        recipe = Recipe.of(stored, job.provider, result.seed)
        try:
            video = await ctx.cpu.run(_finish_video, folder, result.path, stored, recipe)
        except VideoUnusable as exc:
            await self._endings.finish(job_id, JobState.FAILED, f"the video is unusable ({exc})")
            return
        job = await ctx.store.jobs.move(
            job_id,
            JobState.SUCCEEDED,
            now=ctx.clock(),
            progress=1.0,
            result_path=str(video),
            seed=result.seed,
            **kept,
        )
        ctx.updates.emit(JobUpdate(job, messages.status_line("succeeded")))
        await self.deliver(job)

    def _check_video(self, path: Path) -> Verdict | None:
        """Blocking: sample a finished video's frames and check them."""
        frames = sample_frames(path, self._ctx.settings.safety.output_frames_checked)
        return self._ctx.safety.check_images(frames, what="output video", enabled=True)

    async def deliver(self, job: JobRecord) -> None:
        """Post a succeeded job's video and mark it delivered, or end it failed."""
        target = self._targets.get(job.platform)
        if target is None:
            await self._endings.finish(
                job.id, JobState.FAILED, f"no {job.platform} adapter is running"
            )
            return
        if job.result_path is None:
            await self._endings.finish(job.id, JobState.FAILED, "the video was not kept")
            return
        posted = await self._post(job, target, await self._video_post(job, Path(job.result_path)))
        if posted is None:
            return
        ctx = self._ctx

        async def record_delivery(tx: Connection) -> JobRecord:
            delivered = await ctx.store.jobs.transition(
                job.id, JobState.DELIVERED, now=ctx.clock(), tx=tx, posted_ref=posted
            )
            # The job's cost: what was reserved, or less for a job stopped and kept.
            await ctx.quotas.commit(job.id, tx=tx, amount_mc=job.cost_mc)
            return delivered

        delivered = await ctx.store.db.run(record_delivery)
        ctx.updates.emit(JobUpdate(delivered, messages.DELIVERED))

    async def _video_post(self, job: JobRecord, video: Path) -> VideoPost:
        quota = await self._ctx.quotas.user_quota(job.user_key, job.guild_key)
        stored = StoredRequest.of_job(job)
        # Seen by everyone in the channel: the caption's language.
        locale = stored.caption_locale or stored.locale
        with use(locale):
            settings = messages.settings_text(
                stored.resolution,
                draft=stored.draft,
                steps=stored.num_inference_steps,
                guidance=stored.guidance_scale,
            )
            caption = messages.caption(
                stored.prompt,
                job.provider,
                job.seed if job.seed is not None else stored.seed,
                stored.total_frames / FPS,
                job.cost_mc,
                quota.remaining_mc,
                settings=settings,
                added_seconds=stored.seconds if stored.extends else None,
                loop=stored.loop,
                stopped_of=stored.asked_frames / FPS if stored.asked_frames else None,
            )
        follow_ups = [FollowUp.RETRY, FollowUp.EXTEND, FollowUp.REMIX]
        if stored.draft:
            follow_ups.insert(0, FollowUp.HD)
        return VideoPost(video, caption, tuple(follow_ups), loop=stored.loop, locale=locale)

    async def _post(
        self, job: JobRecord, target: DeliveryTarget, post: VideoPost
    ) -> PostedRef | None:
        """Fit and post until it goes through; None when the job ended failed."""
        attempts = _Attempts(limit=target.upload_limit(job))
        while True:
            try:
                fitted = await self._ctx.cpu.run(
                    fit_to_limit, post.video, attempts.limit, self._ctx.jobs_dir / job.id / "fit"
                )
            except (CannotFit, VideoUnusable):
                await self._endings.finish(job.id, JobState.FAILED, messages.TOO_LARGE_TO_POST)
                return None
            # Counted (durably) before the post: a later attempt, in this process or
            # after a crash, then knows this one may have gone through.
            tries = await self._ctx.store.jobs.begin_delivery_attempt(job.id, now=self._ctx.clock())
            try:
                fitted_post = dataclasses.replace(post, video=fitted.path)
                return await target.deliver(job, fitted_post, maybe_posted=tries > 1)
            except DeliveryError as exc:
                if not await self._again(job, exc, attempts, fitted.size_bytes):
                    return None

    async def _again(
        self, job: JobRecord, exc: DeliveryError, attempts: _Attempts, size_bytes: int
    ) -> bool:
        """Whether a failed post is worth another try (after any wait); when it is
        not, the job ends failed."""
        if exc.too_large and attempts.refits < MAX_REFITS:
            # The platform's real limit was lower than announced.
            attempts.limit, attempts.refits = int(size_bytes * 0.8), attempts.refits + 1
            return True
        if exc.transient and attempts.transient < MAX_DELIVERY_RETRIES:
            delay = min(60.0, 2.0**attempts.transient) * self._rng.uniform(0.5, 1)
            attempts.transient += 1
            log.info("job %s: post failed (%s); again in %.0f s", job.id, exc, delay)
            await self._ctx.sleep(delay)
            return True
        log.warning("job %s: delivery failed: %s", job.id, exc)
        reason = messages.TOO_LARGE_TO_POST if exc.too_large else messages.POST_FAILED
        await self._endings.finish(job.id, JobState.FAILED, reason)
        return False


def _finish_video(folder: Path, fetched: Path, stored: StoredRequest, recipe: Recipe) -> Path:
    """Blocking: the video this job delivers, with its recipe in its tags — an
    Extend's part joined to the earlier video, anything else as it came."""
    video = fetched
    if stored.extends:
        video = folder / "result.mp4"
        join(folder / "earlier.mp4", fetched, video)
    write_tags(video, recipe.tags())
    return video
