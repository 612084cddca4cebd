"""Jobs made from a finished one: Retry (the same inputs, a new seed) and Extend (a new
job whose first frame is the last frame of this one's video), each charged to whoever
asked, like any new job — and who may ask, decided before anything of the job is shown
(its first frame is someone's picture)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.core import messages
from bot.core.api import Accepted, AnimateRequest, Refused, Requester
from bot.core.context import JobContext
from bot.core.intake import Intake
from bot.core.media import VideoUnusable, last_frame_png
from bot.core.request import StoredRequest
from providers import ModelFamily
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
        extend: bool,
        reply_ref: Mapping[str, Any],
        source: str | None = None,
    ) -> Accepted | Refused:
        job = await self._ctx.store.jobs.get(job_id)
        refusal = self._refusal(job, by, extend=extend)
        if refusal is not None:
            return refusal
        assert job is not None
        stored = StoredRequest.of_job(job)
        try:
            first, last = await asyncio.to_thread(self._inputs, job, stored, extend)
        except (OSError, VideoUnusable):
            return Refused("inputs_gone", messages.INPUTS_GONE)
        options = stored.follow_up_options(job.provider, with_last_frame=last is not None)
        if extend and stored.model is ModelFamily.WAN_FLF2V:
            # A continuation has no last frame: FramePack carries it on from one image.
            options["model"] = ModelFamily.FRAMEPACK
        return await self._intake.submit(
            AnimateRequest(by, stored.prompt, first, last, options, dict(reply_ref), source)
        )

    def _inputs(
        self, job: JobRecord, stored: StoredRequest, extend: bool
    ) -> tuple[bytes, bytes | None]:
        """Blocking: the new job's first (and last) frame."""
        if extend:
            assert job.result_path is not None
            return last_frame_png(Path(job.result_path)), None
        folder = self._ctx.jobs_dir / job.id
        first = (folder / "first.jpg").read_bytes()
        return first, (folder / "last.jpg").read_bytes() if stored.has_last_image else None

    async def refusal(self, job_id: str, by: Requester, *, extend: bool) -> Refused | None:
        """Why `by` may not Retry or Extend this job, or None when they may: for
        adapters, before they post or show anything of the job."""
        return self._refusal(await self._ctx.store.jobs.get(job_id), by, extend=extend)

    def _refusal(self, job: JobRecord | None, by: Requester, *, extend: bool) -> Refused | None:
        if job is None or not self._ctx.authority.may_follow_up(by, job):
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
            return await asyncio.to_thread((self._ctx.jobs_dir / job_id / "first.jpg").read_bytes)
        except OSError:
            return None
