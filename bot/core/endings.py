"""How a job that does not deliver ends: failed, cancelled or blocked, refunded in the
same transaction, audited where safety decided, and told to the adapters."""

from __future__ import annotations

from typing import Any

from bot.core import messages
from bot.core.api import JobUpdate
from bot.core.context import JobContext
from bot.core.safety import Verdict
from providers.errors import ProviderError
from storage import Connection, JobRecord, JobState
from storage.jobs import InvalidTransition

MAX_REASON = 300  # characters of a provider's error kept in a job's row and messages


class Endings:
    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx

    async def finish(self, job_id: str, state: JobState, reason: str) -> bool:
        """End a job that did not deliver, refunding in the same transaction.
        False when it had already ended (a race with cancel or delivery)."""
        ctx = self._ctx

        async def end_and_refund(tx: Connection) -> JobRecord:
            job = await ctx.store.jobs.transition(
                job_id, state, now=ctx.clock(), tx=tx, error=reason
            )
            await ctx.quotas.refund(job_id, reason=f"{state.value}: {reason}", tx=tx)
            return job

        try:
            job = await ctx.store.db.run(end_and_refund)
        except InvalidTransition:
            return False
        ctx.updates.emit(JobUpdate(job, _told(state, reason)))
        return True

    async def block(self, job_id: str, verdict: Verdict) -> None:
        """The output (or the provider) was judged unsafe: audited, then ended."""
        job = await self._ctx.store.jobs.require(job_id)
        await self.audit_block(job.user_key, f"job:{job_id}", verdict, stage="output")
        await self.finish(job_id, JobState.BLOCKED, verdict.check)

    async def audit_block(self, actor: str, target: str, verdict: Verdict, *, stage: str) -> None:
        ctx = self._ctx
        detail: dict[str, Any] = {"check": verdict.check, "detail": verdict.detail, "stage": stage}
        await ctx.store.db.run(
            lambda tx: ctx.store.audit.record(
                "safety.block", actor=actor, target=target, detail=detail, now=ctx.clock(), tx=tx
            )
        )

    def reason(self, error: ProviderError) -> str:
        """A provider's error as users and admins may read it: whatever the provider
        wrote (some echo the API key back), redacted of every configured secret and
        trimmed."""
        text = error.message if error.provider == "" else f"{error.provider}: {error.message}"
        text = self._ctx.redact(text)
        return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def _told(state: JobState, reason: str) -> str:
    if state is JobState.CANCELLED:
        return messages.CANCELLED
    if state is JobState.BLOCKED:
        return messages.blocked(reason)
    return messages.failed(reason)
