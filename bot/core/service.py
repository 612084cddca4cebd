"""The job service: from a chat request to a delivered MP4, platform-neutral.

A small facade over its roles, and the one object adapters hold: `bot.core.api.JobAPI`
is what they may call of it. Each role has a module of its own —

- intake (`bot.core.intake`): the submit pipeline, from a request to a queued, charged job;
- running (`bot.core.running`): the queue, dispatch, watching, cancelling, resuming;
- delivery (`bot.core.delivery`): download, check, fit, post, retry;
- follow-ups (`bot.core.followups`): Retry, Extend, HD and Remix;
- updates (`bot.core.updates`): progress and endings on their way to the adapters;
- endings (`bot.core.endings`): failed, cancelled, blocked — refunded.

They share one `JobContext`; the composition root (`bot.cli.run.build_service`) builds
all of it. Invariants: the job row and its quota reservation are written in one
transaction before anything leaves the process; every later state change and its quota
commit or refund are one transaction too; a submit that may have reached a provider is
never sent again (the SUBMITTING state marks the window).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bot.clock import Clock
from bot.config import Settings
from bot.core import messages
from bot.core.admin import AdminService
from bot.core.api import (
    Accepted,
    AnimateRequest,
    CancelOutcome,
    DeliveryTarget,
    FollowUp,
    Listener,
    Refused,
    Requester,
)
from bot.core.authority import Authority
from bot.core.context import JobContext
from bot.core.cpu import CpuPool
from bot.core.delivery import Delivery
from bot.core.followups import FollowUps
from bot.core.intake import Intake
from bot.core.quotas import QuotaService
from bot.core.ratelimit import RequestRate
from bot.core.retention import Retention
from bot.core.running import Runner
from bot.core.settings import ScopedSettings
from bot.i18n import LANGUAGE_NAMES, LOCALES
from bot.i18n import use as speaking
from providers import Provider
from storage import JobRecord, Store


class JobService:
    def __init__(
        self,
        ctx: JobContext,
        *,
        intake: Intake,
        runner: Runner,
        delivery: Delivery,
        follow_ups: FollowUps,
        admin: AdminService,
        retention: Retention,
    ) -> None:
        self._ctx = ctx
        self._intake = intake
        self._runner = runner
        self._delivery = delivery
        self._follow_ups = follow_ups
        self.admin = admin
        self.retention = retention
        self._sweeper: asyncio.Task[None] | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Recover what a previous process left, run every job in flight, and keep the
        job files within their time and disk bounds (now, then hourly)."""
        await self._runner.start()
        # Hourly in real time (the injected sleep paces provider retries, not this).
        self._sweeper = asyncio.create_task(self.retention.run(), name="retention")

    async def stop(self) -> None:
        """Stop working without touching job states: a restart resumes every job."""
        await self._runner.stop()
        await self._ctx.updates.stop()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None

    async def recover(self) -> None:
        await self._runner.recover()

    async def join(self) -> None:
        """Wait until every job in flight has ended, its updates went out and any stop
        it asked of its provider was sent (tests, CLI)."""
        while pending := [*self._runner.in_flight(), *self._ctx.updates.in_flight()]:
            await asyncio.gather(*pending, return_exceptions=True)

    # --- what adapters call (bot.core.api.JobAPI) ---------------------------------------------

    def register_target(self, platform: str, target: DeliveryTarget) -> None:
        """The adapter of `platform` posts its jobs' videos through `target`."""
        self._delivery.register(platform, target)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        return self._ctx.updates.subscribe(listener)

    @property
    def image_byte_limit(self) -> int:
        return self._intake.image_byte_limit

    def image_size_refusal(self, size_bytes: int | None) -> str | None:
        return self._intake.image_size_refusal(size_bytes)

    async def already_taken(self, source: str | None) -> bool:
        return await self._intake.already_taken(source)

    async def hold(
        self, name: str, owner: str, for_s: float, *, replacing: str | None = None
    ) -> str:
        lease = await self._ctx.store.leases.take(
            name, owner, now=self._ctx.clock(), for_s=for_s, replacing=replacing
        )
        return lease.owner

    async def let_go(self, name: str, owner: str) -> None:
        await self._ctx.store.leases.release(name, owner)

    async def live_leases(self, prefix: str) -> dict[str, float]:
        now = self._ctx.clock()
        held = await self._ctx.store.leases.live(prefix, now=now)
        return {name: (lease.until - now).total_seconds() for name, lease in held.items()}

    def request_rate(self, name: str, rate: int, per_s: float) -> RequestRate:
        return RequestRate(
            self._ctx.store.windows, name, rate, per_s, lambda: self._ctx.clock().timestamp()
        )

    async def submit(self, request: AnimateRequest) -> Accepted | Refused:
        # In the requester's language: the answer, and the job (it keeps the language,
        # and its task starts here).
        who = request.requester
        chosen = await self._ctx.store.languages.get(who.user_key)
        locale = chosen or who.locale
        # What everyone in the server sees (the posted video's caption): the requester's
        # own choice, else the server's as its admins set it, else the requester's.
        server = await self._server_language(who) or who.server_locale
        requester = dataclasses.replace(who, locale=locale, server_locale=chosen or server)
        with speaking(locale):
            return await self._intake.submit(dataclasses.replace(request, requester=requester))

    async def _server_language(self, who: Requester) -> str | None:
        if who.guild_key is None:
            return None
        chosen = await self.scoped.get("language", channel_key=None, guild_key=who.guild_key)
        return str(chosen) if chosen else None

    async def language_of(self, who: Requester) -> str:
        """The language `who` reads: the one they chose (/language), else their app's."""
        return await self._ctx.store.languages.get(who.user_key) or who.locale

    async def set_language(self, who: Requester, choice: str | None) -> str:
        """Remember the language `who` chose (None: their app's again); the answer, in
        the language they will read from now on. ValueError for one we do not have."""
        if choice is not None and choice not in LOCALES:
            raise ValueError(f"no catalog for {choice!r}")
        await self._ctx.store.languages.set(who.user_key, choice, now=self._ctx.clock())
        with speaking(choice or who.locale) as locale:
            if choice is None:
                return messages.language_auto(LANGUAGE_NAMES[locale])
            return messages.language_set(LANGUAGE_NAMES[locale])

    async def cancel(self, job_id: str, *, by: Requester) -> CancelOutcome:
        with speaking(await self.language_of(by)):
            return await self._runner.cancel(job_id, by=by)

    async def keep(self, job_id: str, *, by: Requester) -> CancelOutcome:
        with speaking(await self.language_of(by)):
            return await self._runner.keep(job_id, by=by)

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
        with speaking(await self.language_of(by)):
            return await self._follow_ups.follow_up(
                job_id, by, kind=kind, reply_ref=reply_ref, source=source, prompt=prompt
            )

    async def follow_up_refusal(
        self, job_id: str, by: Requester, *, kind: FollowUp
    ) -> Refused | None:
        with speaking(await self.language_of(by)):
            return await self._follow_ups.refusal(job_id, by, kind=kind)

    async def remix_prompt(self, job_id: str, by: Requester) -> str | Refused:
        with speaking(await self.language_of(by)):
            return await self._follow_ups.remix_prompt(job_id, by)

    async def first_frame(self, job_id: str) -> bytes | None:
        return await self._follow_ups.first_frame(job_id)

    async def quota_summary(self, who: Requester) -> str:
        """What `who` has left here, as one message."""
        quota = await self.quotas.user_quota(who.user_key, who.guild_key, who.role_keys)
        with speaking(await self.language_of(who)):
            return messages.user_quota_summary(quota, self._ctx.clock())

    def provider_names(self) -> list[str]:
        """The providers this bot runs (enabled, with a key): the ones to offer."""
        return list(self._ctx.providers)

    async def replies_without_mention(self, *, channel_key: str, guild_key: str | None) -> bool:
        """Whether a plain reply to an image (no mention of the bot) makes a job here."""
        return bool(
            await self.scoped.get(
                "reply_without_mention", channel_key=channel_key, guild_key=guild_key
            )
        )

    async def history(self, user_key: str, limit: int = 10) -> list[JobRecord]:
        return await self._ctx.store.jobs.recent_for_user(user_key, limit)

    async def record(self, job_id: str) -> tuple[JobRecord, dict[str, int]] | None:
        """The full row and its ledger entries, for admins."""
        job = await self._ctx.store.jobs.get(job_id)
        if job is None:
            return None
        return job, await self._ctx.store.ledger.entries(job_id)

    # --- for the composition root, the CLI and the tests --------------------------------------

    @property
    def store(self) -> Store:
        return self._ctx.store

    @property
    def settings(self) -> Settings:
        return self._ctx.settings

    @property
    def providers(self) -> dict[str, Provider]:
        return self._ctx.providers

    @property
    def quotas(self) -> QuotaService:
        return self._ctx.quotas

    @property
    def scoped(self) -> ScopedSettings:
        return self._ctx.scoped

    @property
    def authority(self) -> Authority:
        return self._ctx.authority

    @property
    def clock(self) -> Clock:
        return self._ctx.clock

    @property
    def cpu(self) -> CpuPool:
        return self._ctx.cpu

    @property
    def jobs_dir(self) -> Path:
        return self._ctx.jobs_dir
