"""The admin operations, one API for every platform and the CLI: quotas (show, set,
grant, reset), scoped settings, and jobs (info, cancel). Each decides authority
through `bot.core.authority`, writes its change and its audit row in one
transaction, and answers with one sentence for the admin. Adapters only parse and
render: a refusal is an `AdminRefused` whose message is shown as it is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable
from datetime import datetime
from typing import Any

from bot.clock import Clock
from bot.core import messages
from bot.core.api import AdminRefused, CancelOutcome, ChannelRef, QuotaTarget, Requester
from bot.core.authority import Authority
from bot.core.quotas import QuotaService
from bot.core.settings import ScopedSettings
from bot.i18n import LOCALES
from storage import Connection, JobRecord, LimitOverride, Store


class AdminService:
    """Built by the composition root for the chat adapters, with `cancel` (the job
    service's), and on its own (no job service, no providers running) by the CLI,
    where job operations are not offered."""

    def __init__(
        self,
        *,
        store: Store,
        quotas: QuotaService,
        authority: Authority,
        scoped: ScopedSettings,
        clock: Clock,
        provider_names: Collection[str],
        cancel: Callable[[str, Requester], Awaitable[CancelOutcome]] | None = None,
    ) -> None:
        self._store = store
        self._quotas = quotas
        self.authority = authority
        self._scoped = scoped
        self._now = clock
        self._provider_names = provider_names
        self._cancel = cancel

    def require_admin(self, who: Requester) -> None:
        """Raises AdminRefused unless `who` may use admin commands here."""
        self.authority.require_admin(who)

    # --- quotas -------------------------------------------------------------------------------

    def _where(self, who: Requester, target: QuotaTarget) -> tuple[str, str, str | None]:
        """(limit scope, scope key, the server it belongs to) after the authority check."""
        if target.bot_wide:
            self.authority.require_operator(who, "see or change bot-wide quotas")
            if target.kind == "guild":
                raise AdminRefused(messages.NAME_A_SERVER)
            return target.kind, _required(target.key), None
        guild = target.guild_key or who.guild_key
        if guild is None:
            raise AdminRefused(messages.NAME_A_SERVER)
        self.authority.require_guild(who, guild)
        if target.kind == "guild":
            return "guild", guild, guild
        scope = "member" if target.kind == "user" else "guild_role"
        return scope, f"{guild}|{_required(target.key)}", guild

    async def quota_show(self, who: Requester, target: QuotaTarget) -> str:
        scope, key, guild = self._where(who, target)
        now = self._now()
        if target.kind == "user":
            quota = await self._quotas.user_quota(_required(target.key), guild, target.role_keys)
            return messages.user_quota_summary(quota, now)
        if target.kind == "guild":
            return messages.guild_budget((await self._quotas.guild_quota(key)).daily, now)
        override = await self._store.limits.get(scope, key)
        return messages.limits_text(override) if override else messages.NO_OVERRIDES

    async def quota_set(
        self,
        who: Requester,
        target: QuotaTarget,
        *,
        daily_mc: int | None = None,
        monthly_mc: int | None = None,
        concurrent: int | None = None,
        clear: bool = False,
    ) -> str:
        scope, key, _ = self._where(who, target)
        if scope == "guild":
            self.authority.require_operator(who, "change a server's budget")
        if clear:
            override = LimitOverride()
        else:
            old = await self._store.limits.get(scope, key) or LimitOverride()
            override = LimitOverride(
                daily_mc if daily_mc is not None else old.daily_mc,
                monthly_mc if monthly_mc is not None else old.monthly_mc,
                concurrent if concurrent is not None else old.concurrent_jobs,
            )
        try:
            await self._quotas.set_limits(scope, key, override, actor=who.user_key)
        except ValueError as exc:
            raise AdminRefused(f"{exc}.") from None
        return messages.limits_updated(scope, override)

    def _windows_of(self, who: Requester, target: QuotaTarget, budget: str) -> tuple[str, str]:
        """Grants and resets act on credit windows: a member's or user's, or a server's
        budget (operators only, `budget` says what they would do); roles have none."""
        scope, key, _ = self._where(who, target)
        if scope in ("role", "guild_role"):
            raise AdminRefused(messages.GRANT_TO_WHOM)
        if scope == "guild":
            self.authority.require_operator(who, budget)
        return scope, key

    async def quota_grant(self, who: Requester, target: QuotaTarget, amount_mc: int) -> str:
        scope, key = self._windows_of(who, target, "add to a server's budget")
        if amount_mc <= 0:
            raise AdminRefused(messages.GRANT_POSITIVE)
        await self._quotas.grant(scope, key, amount_mc, actor=who.user_key)
        return messages.granted(amount_mc, scope)

    async def quota_reset(self, who: Requester, target: QuotaTarget, periods: Iterable[str]) -> str:
        scope, key = self._windows_of(who, target, "reset a server's budget")
        periods = sorted(set(periods))
        await self._quotas.reset(scope, key, periods, actor=who.user_key)
        return messages.usage_reset(periods)

    # --- settings -----------------------------------------------------------------------------

    async def set_setting(
        self, who: Requester, name: str, value: Any, channel: ChannelRef | None = None
    ) -> str:
        """A server-wide value, or one channel's (which wins over the server's)."""
        self._scoped.declared(name)  # a misspelt name is a bug: fail loudly
        guild = channel.guild_key if channel is not None else who.guild_key
        if guild is None and channel is None:
            raise AdminRefused(messages.GUILD_ONLY)
        self.authority.require_guild(who, guild)
        if name == "safety":
            self.authority.check_safety_change(
                who, bool(value), channel.nsfw if channel is not None else None
            )
        if name == "provider" and value not in self._provider_names:
            raise AdminRefused(messages.provider_unavailable(str(value)))
        if name == "language" and value not in ("", *LOCALES):
            raise AdminRefused(messages.bad_option("language", ", ".join(LOCALES)))
        if channel is not None:
            scope, key = "channel", channel.key
        elif guild is not None:
            scope, key = "guild", guild
        else:
            raise AdminRefused(messages.GUILD_ONLY)
        await self._audited(
            f"setting.{name}",
            who,
            f"{scope}:{key}",
            {"value": value},
            lambda tx, now: self._scoped.set(
                name, scope, key, value, actor=who.user_key, now=now, tx=tx
            ),
        )
        return messages.setting_changed(name, value, channel is not None)

    # --- jobs ---------------------------------------------------------------------------------

    async def job_info(self, who: Requester, job_id: str) -> str:
        job = await self._visible_job(who, job_id)
        return messages.job_record(job, await self._store.ledger.entries(job.id))

    async def job_cancel(self, who: Requester, job_id: str) -> str:
        job = await self._visible_job(who, job_id)
        if self._cancel is None:
            raise AdminRefused(messages.NEEDS_RUNNING_BOT)
        cancelled = (await self._cancel(job.id, who)).cancelled
        if cancelled:
            await self._audited("job.cancel", who, f"job:{job.id}", {}, None)
        return messages.CANCELLED if cancelled else messages.CANNOT_CANCEL

    async def _visible_job(self, who: Requester, job_id: str) -> JobRecord:
        self.authority.require_admin(who)
        job = await self._store.jobs.get(job_id.strip())
        # Someone else's server's job reads as unknown: an id grants nothing, and
        # tells nothing.
        if job is None or not self.authority.may_see_job(who, job):
            raise AdminRefused(messages.UNKNOWN_JOB)
        return job

    async def _audited(
        self,
        action: str,
        who: Requester,
        target: str,
        detail: dict[str, Any],
        change: Callable[[Connection, datetime], Awaitable[None]] | None,
    ) -> None:
        now = self._now()

        async def change_and_record(tx: Connection) -> None:
            if change is not None:
                await change(tx, now)
            await self._store.audit.record(
                action, actor=who.user_key, target=target, detail=detail, now=now, tx=tx
            )

        await self._store.db.run(change_and_record)


def _required(key: str | None) -> str:
    if not key:
        raise AdminRefused(messages.NAME_WHOM)
    return key
