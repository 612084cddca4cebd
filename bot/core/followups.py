"""Jobs made from a finished one — Retry, Extend, HD and Remix (`bot.core.api.FollowUp`)
— each charged to whoever asked, like any new job, and who may ask decided before
anything of the job is shown (its first frame is someone's picture, its prompt
someone's words).

Extend carries on from the last frame of the video and delivers one longer video (the
earlier one and the new part, joined on delivery); its cost is the new seconds, and the
whole may not pass `[limits] max_total_seconds`."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.core import messages
from bot.core.api import Accepted, AnimateRequest, FollowUp, Refused, Requester
from bot.core.context import JobContext
from bot.core.intake import Extension, Intake
from bot.core.media import VideoUnusable, last_frame_png, probe
from bot.core.request import StoredRequest
from providers import ModelFamily
from providers.contract import FPS
from storage import JobRecord, JobState


class FollowUps:
    def __init__(self, ctx: JobContext, intake: Intake) -> None:
        self._ctx = ctx
        self._intake = intake

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
        job = await self._ctx.store.jobs.get(job_id)
        refusal = self._refusal(job, by, kind)
        if refusal is not None:
            return refusal
        assert job is not None
        stored = StoredRequest.of_job(job)
        try:
            first, last, extension = await asyncio.to_thread(self._inputs, job, stored, kind)
        except (OSError, VideoUnusable):
            return Refused("inputs_gone", messages.INPUTS_GONE)
        if extension is not None and (refused := self._over_cap(stored, extension)):
            return refused
        options = stored.follow_up_options(
            job.provider, kind, seed=job.seed, with_last_frame=last is not None or stored.loop
        )
        if kind is FollowUp.EXTEND and stored.model is ModelFamily.WAN_FLF2V:
            # A continuation has no last frame: FramePack carries it on from one image.
            options["model"] = ModelFamily.FRAMEPACK
        new_prompt = prompt if kind is FollowUp.REMIX and prompt is not None else stored.prompt
        request = AnimateRequest(by, new_prompt, first, last, options, dict(reply_ref), source)
        return await self._intake.submit(request, extension)

    def _inputs(
        self, job: JobRecord, stored: StoredRequest, kind: FollowUp
    ) -> tuple[bytes, bytes | None, Extension | None]:
        """Blocking: the new job's first (and last) frame, and for an Extend the video
        it carries on."""
        if kind is FollowUp.EXTEND:
            assert job.result_path is not None
            video = Path(job.result_path)
            extension = Extension(job.id, video, probe(video).frames)
            return last_frame_png(video), None, extension
        folder = self._ctx.jobs_dir / job.id
        first = (folder / "first.jpg").read_bytes()
        # A loop's last frame is its first: the new job makes it so again.
        own_last = stored.has_last_image and not stored.loop
        last = (folder / "last.jpg").read_bytes() if own_last else None
        # Retry, HD or Remix of an Extend is that Extend again: the same earlier video,
        # a new part joined to it.
        if not stored.extends:
            return first, last, None
        earlier = folder / "earlier.mp4"
        if not earlier.is_file():
            raise OSError(f"{earlier} is gone")
        extension = Extension(stored.extends, earlier, stored.earlier_frames)
        return first, last, extension

    def _over_cap(self, stored: StoredRequest, extension: Extension) -> Refused | None:
        cap_s = self._ctx.settings.limits.max_total_seconds
        total_s = extension.frames / FPS
        added_s = (stored.frames - 1) / FPS  # the part's first frame is the video's last
        if total_s + added_s > cap_s + 0.5 / FPS:
            return Refused("too_long", messages.too_long_to_extend(total_s, added_s, cap_s))
        return None

    async def refusal(self, job_id: str, by: Requester, *, kind: FollowUp) -> Refused | None:
        """Why `by` may not follow this job up so, or None when they may: for adapters,
        before they post or show anything of the job."""
        return self._refusal(await self._ctx.store.jobs.get(job_id), by, kind)

    def _refusal(self, job: JobRecord | None, by: Requester, kind: FollowUp) -> Refused | None:
        if job is None or not self._ctx.authority.may_follow_up(by, job):
            return Refused("unknown_job", messages.UNKNOWN_JOB)
        if kind is FollowUp.EXTEND and (job.state is not JobState.DELIVERED or not job.result_path):
            return Refused("not_finished", messages.NOTHING_TO_EXTEND)
        if kind is FollowUp.HD:
            stored = StoredRequest.of_job(job)
            if not stored.draft:
                return Refused("not_a_draft", messages.NOT_A_DRAFT)
            if job.seed is None and stored.seed is None:
                return Refused("no_seed", messages.NO_SEED_FOR_HD)
        return None

    async def remix_prompt(self, job_id: str, by: Requester) -> str | Refused:
        """The prompt a Remix of this job starts from, once `by` may remix it."""
        job = await self._ctx.store.jobs.get(job_id)
        refusal = self._refusal(job, by, FollowUp.REMIX)
        if refusal is not None:
            return refusal
        assert job is not None
        return StoredRequest.of_job(job).prompt

    async def first_frame(self, job_id: str) -> bytes | None:
        """The first frame a job was made from (JPEG), as kept for Retry; None once the
        job's files are gone."""
        if not job_id.isalnum():  # an id from a button, never a path
            return None
        try:
            return await asyncio.to_thread((self._ctx.jobs_dir / job_id / "first.jpg").read_bytes)
        except OSError:
            return None
