"""Quota policy: what a job costs, which limits apply to whom, and the admin operations.

The atomic arithmetic lives in `storage.quota_ledger`; this module decides the caps
(user override, else the most generous of the user's roles, else the configured
default) and records who changed what in the audit log. The chat admin commands and
`framepack-bot quota` call the same methods.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from bot.clock import Clock, system_clock
from bot.config import QuotaConfig
from storage import Caps, Connection, LimitOverride, ReserveOutcome, Store, member_key
from storage.quota_ledger import BucketUsage, next_day, next_month

FPS = 30
MC_PER_CREDIT = 1000
# As the providers price it: 720p costs half again as much per second as 480p.
RESOLUTION_FACTOR: dict[str, Fraction] = {"480p": Fraction(1), "720p": Fraction(3, 2)}

_SUBJECT = re.compile(r"^(discord|telegram):-?[0-9]{1,20}$")
SUBJECT_SCOPES = ("user", "role", "guild")
# Limits that only hold inside one server: their keys are "<guild_key>|<subject>".
IN_SERVER_SCOPES = ("member", "guild_role")


def job_cost_mc(num_frames: int, resolution: str) -> int:
    """Seconds of output video x resolution factor, in milli-credits, rounded up."""
    if num_frames <= 0:
        raise ValueError("num_frames must be positive")
    try:
        factor = RESOLUTION_FACTOR[resolution]
    except KeyError:
        raise ValueError(f"unknown resolution {resolution!r}") from None
    return math.ceil(Fraction(num_frames, FPS) * factor * MC_PER_CREDIT)


def credits_to_mc(credits: str | float | int | Decimal) -> int:
    """'7.5' -> 7500. Exact for decimal text; refuses negatives and sub-milli precision."""
    try:
        value = Decimal(str(credits))
    except InvalidOperation:
        raise ValueError(f"not a number of credits: {credits!r}") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"credits must be a non-negative number, not {credits!r}")
    milli = value * MC_PER_CREDIT
    if milli != milli.to_integral_value():
        raise ValueError(f"credits have at most three decimals, not {credits!r}")
    return int(milli)


def format_credits(mc: int) -> str:
    """7500 -> '7.5', 8000 -> '8'."""
    text = f"{Decimal(mc) / MC_PER_CREDIT:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def subject_key(platform: str, raw_id: int | str) -> str:
    """The key of a user, role, guild or chat: 'discord:1234', 'telegram:-100987'."""
    return parse_subject(f"{platform}:{raw_id}")


def parse_subject(text: str) -> str:
    text = text.strip()
    if not _SUBJECT.match(text):
        raise ValueError(
            f"{text!r} is not a subject: use discord:<id> or telegram:<id>, e.g. discord:1234"
        )
    return text


@dataclass(frozen=True)
class Window:
    cap_mc: int
    usage: BucketUsage
    resets_at: datetime

    @property
    def remaining_mc(self) -> int:
        return self.usage.remaining(self.cap_mc)


@dataclass(frozen=True)
class UserQuota:
    user_key: str
    daily: Window
    monthly: Window
    open_jobs: int
    concurrent_cap: int
    guild: GuildQuota | None
    # The member's own caps in this server, where its admins set any.
    member_daily: Window | None = None
    member_monthly: Window | None = None

    @property
    def remaining_mc(self) -> int:
        """What the user can spend now: the tightest of their windows, their windows in
        this server and the server's budget."""
        candidates = [self.daily.remaining_mc, self.monthly.remaining_mc]
        candidates += [w.remaining_mc for w in (self.member_daily, self.member_monthly) if w]
        if self.guild is not None and self.guild.daily is not None:
            candidates.append(self.guild.daily.remaining_mc)
        return min(candidates)


@dataclass(frozen=True)
class GuildQuota:
    guild_key: str
    daily: Window | None  # None: no guild budget


class QuotaService:
    def __init__(self, store: Store, config: QuotaConfig, clock: Clock = system_clock) -> None:
        self._store = store
        self._config = config
        self._clock = clock

    # --- limits -------------------------------------------------------------------------------

    async def caps_for(
        self, user_key: str, guild_key: str | None, role_keys: Iterable[str] = ()
    ) -> Caps:
        """Every cap a job of this user in this server must fit: the bot-wide ones
        (operators': the user's override, else the most generous of their roles', else
        the configured default), the member's in this server (its admins': the member's
        override, else the most generous of their roles' there, else none), the
        server's budget and the global queue."""
        role_keys = list(role_keys)
        wanted = [("user", user_key)] + [("role", role) for role in role_keys]
        if guild_key is not None:
            wanted += [("member", member_key(guild_key, user_key)), ("guild", guild_key)]
            wanted += [("guild_role", member_key(guild_key, role)) for role in role_keys]
        found = await self._store.limits.get_keyed(wanted)

        def those_set(keys: Iterable[tuple[str, str]]) -> list[LimitOverride]:
            return [found[key] for key in keys if key in found]

        user = found.get(("user", user_key), LimitOverride())
        roles = those_set(("role", role) for role in role_keys)

        def pick(
            own_limits: LimitOverride, from_roles: list[LimitOverride], field: str
        ) -> int | None:
            own = getattr(own_limits, field)
            if own is not None:
                return own
            values = [getattr(r, field) for r in from_roles if getattr(r, field) is not None]
            return max(values) if values else None

        def bot_wide(field: str, default: int) -> int:
            chosen = pick(user, roles, field)
            return default if chosen is None else chosen

        member = LimitOverride()
        member_roles: list[LimitOverride] = []
        guild_daily_mc = None
        if guild_key is not None:
            member = found.get(("member", member_key(guild_key, user_key)), LimitOverride())
            member_roles = those_set(
                ("guild_role", member_key(guild_key, role)) for role in role_keys
            )
            guild_daily_mc = self._guild_cap_from(found.get(("guild", guild_key)))

        return Caps(
            user_daily_mc=bot_wide("daily_mc", credits_to_mc(self._config.user_daily_credits)),
            user_monthly_mc=bot_wide(
                "monthly_mc", credits_to_mc(self._config.user_monthly_credits)
            ),
            user_concurrent=bot_wide("concurrent_jobs", self._config.concurrent_jobs_per_user),
            guild_daily_mc=guild_daily_mc,
            global_open=self._config.global_queue_length,
            member_daily_mc=pick(member, member_roles, "daily_mc"),
            member_monthly_mc=pick(member, member_roles, "monthly_mc"),
            member_concurrent=pick(member, member_roles, "concurrent_jobs"),
        )

    async def _guild_cap(self, guild_key: str) -> int | None:
        return self._guild_cap_from(await self._store.limits.get("guild", guild_key))

    def _guild_cap_from(self, guild: LimitOverride | None) -> int | None:
        if guild is not None and guild.daily_mc is not None:
            return guild.daily_mc
        if self._config.guild_daily_credits is None:
            return None
        return credits_to_mc(self._config.guild_daily_credits)

    # --- the job path -------------------------------------------------------------------------

    async def reserve(
        self,
        job_id: str,
        *,
        user_key: str,
        guild_key: str | None,
        cost_mc: int,
        role_keys: Iterable[str] = (),
        caps: Caps | None = None,
        tx: Connection | None = None,
    ) -> ReserveOutcome:
        """`caps`, when given, were read by the caller before it opened `tx`: reading
        them inside would hold the single writer through reads."""
        if caps is None:
            caps = await self.caps_for(user_key, guild_key, role_keys)
        return await self._store.ledger.reserve(
            job_id,
            user_key=user_key,
            guild_key=guild_key,
            amount_mc=cost_mc,
            caps=caps,
            now=self._clock(),
            tx=tx,
        )

    async def commit(
        self, job_id: str, *, tx: Connection | None = None, amount_mc: int | None = None
    ) -> bool:
        """`amount_mc`: less than reserved for a job that made less (Stop & keep)."""
        return await self._store.ledger.commit(
            job_id, now=self._clock(), tx=tx, amount_mc=amount_mc
        )

    async def refund(self, job_id: str, *, reason: str, tx: Connection | None = None) -> bool:
        return await self._store.ledger.refund(job_id, reason=reason, now=self._clock(), tx=tx)

    # --- reading ------------------------------------------------------------------------------

    async def user_quota(
        self, user_key: str, guild_key: str | None = None, role_keys: Iterable[str] = ()
    ) -> UserQuota:
        now = self._clock()
        caps = await self.caps_for(user_key, guild_key, role_keys)
        usage = await self._store.ledger.usage("user", user_key, now)
        member_daily = member_monthly = None
        has_member_caps = caps.member_daily_mc is not None or caps.member_monthly_mc is not None
        if guild_key is not None and has_member_caps:
            in_server = await self._store.ledger.usage(
                "member", member_key(guild_key, user_key), now
            )
            if caps.member_daily_mc is not None:
                member_daily = Window(caps.member_daily_mc, in_server["day"], next_day(now))
            if caps.member_monthly_mc is not None:
                member_monthly = Window(caps.member_monthly_mc, in_server["month"], next_month(now))
        return UserQuota(
            user_key=user_key,
            daily=Window(caps.user_daily_mc or 0, usage["day"], next_day(now)),
            monthly=Window(caps.user_monthly_mc or 0, usage["month"], next_month(now)),
            open_jobs=usage["open"].used,
            concurrent_cap=caps.user_concurrent or 0,
            # caps_for already resolved the guild's cap: no second lookup.
            guild=await self._guild_window(guild_key, caps.guild_daily_mc, now)
            if guild_key is not None
            else None,
            member_daily=member_daily,
            member_monthly=member_monthly,
        )

    async def guild_quota(self, guild_key: str) -> GuildQuota:
        return await self._guild_window(guild_key, await self._guild_cap(guild_key), self._clock())

    async def _guild_window(self, guild_key: str, cap: int | None, now: datetime) -> GuildQuota:
        if cap is None:
            return GuildQuota(guild_key, None)
        usage = await self._store.ledger.usage("guild", guild_key, now)
        return GuildQuota(guild_key, Window(cap, usage["day"], next_day(now)))

    # --- admin operations (each one audited in the same transaction) --------------------------

    async def set_limits(
        self, scope: str, key: str, override: LimitOverride, *, actor: str
    ) -> None:
        if scope == "guild" and (
            override.monthly_mc is not None or override.concurrent_jobs is not None
        ):
            raise ValueError("a guild has a daily budget only")
        detail = {
            "daily_mc": override.daily_mc,
            "monthly_mc": override.monthly_mc,
            "concurrent_jobs": override.concurrent_jobs,
        }
        await self._audited(
            "quota.set",
            scope,
            key,
            actor,
            detail,
            lambda tx, now: self._store.limits.put(
                scope, key, override, actor=actor, now=now, tx=tx
            ),
        )

    async def grant(self, scope: str, key: str, amount_mc: int, *, actor: str) -> None:
        await self._audited(
            "quota.grant",
            scope,
            key,
            actor,
            {"amount_mc": amount_mc},
            lambda tx, now: self._store.ledger.grant(scope, key, amount_mc, now=now, tx=tx),
        )

    async def reset(self, scope: str, key: str, periods: Iterable[str], *, actor: str) -> None:
        periods = sorted(set(periods))
        await self._audited(
            "quota.reset",
            scope,
            key,
            actor,
            {"periods": periods},
            lambda tx, now: self._store.ledger.reset(scope, key, periods, now=now, tx=tx),
        )

    async def _audited(
        self,
        action: str,
        scope: str,
        key: str,
        actor: str,
        detail: dict[str, Any],
        change: Callable[[Connection, datetime], Awaitable[None]],
    ) -> None:
        """Apply an admin change and its audit row in one transaction."""
        now = self._clock()

        async def change_and_record(tx: Connection) -> None:
            await change(tx, now)
            await self._store.audit.record(
                action, actor=actor, target=f"{scope}:{key}", detail=detail, now=now, tx=tx
            )

        await self._store.db.run(change_and_record)
