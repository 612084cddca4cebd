"""Model-based test: random interleavings of reserve / replay / commit / refund / cancel /
grant / reset and clock moves, checked step by step against a plain-Python model.

The model is the specification: a reservation is granted when every cap has room
(used - bonus + need <= cap); a job settles at most once; a refund gives its credits
back to the windows it was counted in. After every step the database must agree
with the model exactly, the ledger must verify, and no job count may exceed its cap.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
)

from storage import Caps, Limit, Store, member_key
from storage.db import timestamp
from storage.quota_ledger import day_start, month_start

USERS = ["discord:1", "discord:2", "telegram:3"]
GUILD = "discord:77"
# The member caps (inside GUILD) are tighter than the user's, so that both bite.
CAPS = Caps(
    user_daily_mc=6000,
    user_monthly_mc=15000,
    user_concurrent=2,
    guild_daily_mc=9000,
    global_open=4,
    member_daily_mc=5000,
    member_monthly_mc=9000,
    member_concurrent=1,
)


@dataclass
class ModelJob:
    user: str
    guild: str | None
    amount: int
    day: str
    month: str
    state: str = "open"  # open | committed | refunded


class LedgerMachine(RuleBasedStateMachine):
    jobs = Bundle("jobs")

    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.tmp = Path(tempfile.mkdtemp())
        self.store: Store = self.runner.run(Store.open(self.tmp / "model.sqlite3"))
        self.now = datetime(2026, 1, 31, 20, 0, tzinfo=UTC)
        self.usage: dict[tuple[str, str, str, str], list[int]] = {}
        self.model_jobs: dict[str, ModelJob] = {}
        self.counter = 0

    def teardown(self) -> None:
        self.runner.run(self.store.close())
        self.runner.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- model helpers -----------------------------------------------------------

    def bucket(self, *key: str) -> list[int]:
        return self.usage.setdefault(key, [0, 0])  # [used, bonus]

    def windows(self) -> tuple[str, str]:
        return timestamp(day_start(self.now)), timestamp(month_start(self.now))

    def predict(self, user: str, guild: str | None, amount: int) -> Limit | None:
        day, month = self.windows()
        checks = [
            (("global", "*", "open", ""), 1, CAPS.global_open, Limit.GLOBAL_QUEUE),
            (("user", user, "open", ""), 1, CAPS.user_concurrent, Limit.USER_CONCURRENT),
            (("user", user, "month", month), amount, CAPS.user_monthly_mc, Limit.USER_MONTHLY),
            (("user", user, "day", day), amount, CAPS.user_daily_mc, Limit.USER_DAILY),
        ]
        if guild is not None:
            member = member_key(guild, user)
            checks += [
                (
                    ("member", member, "open", ""),
                    1,
                    CAPS.member_concurrent,
                    Limit.MEMBER_CONCURRENT,
                ),
                (
                    ("member", member, "month", month),
                    amount,
                    CAPS.member_monthly_mc,
                    Limit.MEMBER_MONTHLY,
                ),
                (("member", member, "day", day), amount, CAPS.member_daily_mc, Limit.MEMBER_DAILY),
                (("guild", guild, "day", day), amount, CAPS.guild_daily_mc, Limit.GUILD_DAILY),
            ]
        for key, need, cap, limit in checks:
            used, bonus = self.bucket(*key)
            if used - bonus + need > cap:
                return limit
        return None

    def run(self, coro):
        return self.runner.run(coro)

    # --- rules -------------------------------------------------------------------

    @initialize()
    def start(self) -> None:
        assert self.run(self.store.db.schema_version()) > 0

    @rule(
        target=jobs,
        user=st.sampled_from(USERS),
        guild=st.sampled_from([None, GUILD]),
        amount=st.sampled_from([0, 500, 1000, 2500, 4000, 7000]),
    )
    def reserve(self, user: str, guild: str | None, amount: int) -> str:
        self.counter += 1
        job_id = f"job{self.counter}"
        expected = self.predict(user, guild, amount)
        outcome = self.run(
            self.store.ledger.reserve(
                job_id, user_key=user, guild_key=guild, amount_mc=amount, caps=CAPS, now=self.now
            )
        )
        if expected is None:
            assert outcome.granted and not outcome.replayed
            day, month = self.windows()
            self.model_jobs[job_id] = ModelJob(user, guild, amount, day, month)
            self.bucket("global", "*", "open", "")[0] += 1
            self.bucket("user", user, "open", "")[0] += 1
            self.bucket("user", user, "month", month)[0] += amount
            self.bucket("user", user, "day", day)[0] += amount
            if guild is not None:
                self.bucket("guild", guild, "day", day)[0] += amount
                member = member_key(guild, user)
                self.bucket("member", member, "open", "")[0] += 1
                self.bucket("member", member, "month", month)[0] += amount
                self.bucket("member", member, "day", day)[0] += amount
        else:
            assert not outcome.granted
            assert outcome.refusal.limit is expected
        return job_id

    @rule(job=jobs)
    def replay(self, job: str) -> None:
        """A retried submission of the same job never charges twice."""
        model = self.model_jobs.get(job)
        if model is None:
            return  # that reservation was refused; a replay is a fresh attempt
        outcome = self.run(
            self.store.ledger.reserve(
                job,
                user_key=model.user,
                guild_key=model.guild,
                amount_mc=model.amount,
                caps=CAPS,
                now=self.now,
            )
        )
        assert outcome.granted and outcome.replayed

    def settle(self, job: str, entry: str) -> None:
        model = self.model_jobs.get(job)
        if entry == "commit":
            done = self.run(self.store.ledger.commit(job, now=self.now))
        else:
            done = self.run(self.store.ledger.refund(job, reason=entry, now=self.now))
        should = model is not None and model.state == "open"
        assert done == should
        if not should:
            return
        model.state = "committed" if entry == "commit" else "refunded"
        self.bucket("global", "*", "open", "")[0] -= 1
        self.bucket("user", model.user, "open", "")[0] -= 1
        member = member_key(model.guild, model.user) if model.guild is not None else None
        if member is not None:
            self.bucket("member", member, "open", "")[0] -= 1
        if entry != "commit":
            self.bucket("user", model.user, "month", model.month)[0] -= model.amount
            self.bucket("user", model.user, "day", model.day)[0] -= model.amount
            if member is not None:
                self.bucket("guild", model.guild, "day", model.day)[0] -= model.amount
                self.bucket("member", member, "month", model.month)[0] -= model.amount
                self.bucket("member", member, "day", model.day)[0] -= model.amount

    @rule(job=jobs)
    def commit(self, job: str) -> None:
        self.settle(job, "commit")

    @rule(job=jobs)
    def refund(self, job: str) -> None:
        self.settle(job, "refund")

    @rule(job=consumes(jobs))
    def cancel(self, job: str) -> None:
        self.settle(job, "cancelled")

    @rule(
        user=st.sampled_from(USERS),
        amount=st.sampled_from([500, 3000]),
        in_guild=st.booleans(),
    )
    def grant_user(self, user: str, amount: int, in_guild: bool) -> None:
        """A bot-wide grant, or (in_guild) a grant to the member inside GUILD."""
        scope, key = ("member", member_key(GUILD, user)) if in_guild else ("user", user)
        self.run(self.store.ledger.grant(scope, key, amount, now=self.now))
        day, month = self.windows()
        self.bucket(scope, key, "day", day)[1] += amount
        self.bucket(scope, key, "month", month)[1] += amount

    @rule(amount=st.sampled_from([1000, 5000]))
    def grant_guild(self, amount: int) -> None:
        self.run(self.store.ledger.grant("guild", GUILD, amount, now=self.now))
        self.bucket("guild", GUILD, "day", self.windows()[0])[1] += amount

    @rule(
        user=st.sampled_from(USERS),
        periods=st.sampled_from([["day"], ["month"], ["day", "month"]]),
        in_guild=st.booleans(),
    )
    def reset(self, user: str, periods: list[str], in_guild: bool) -> None:
        scope, key = ("member", member_key(GUILD, user)) if in_guild else ("user", user)
        self.run(self.store.ledger.reset(scope, key, periods, now=self.now))
        day, month = self.windows()
        for period in periods:
            start = day if period == "day" else month
            in_flight = sum(
                j.amount
                for j in self.model_jobs.values()
                if j.user == user
                and (not in_guild or j.guild == GUILD)
                and j.state == "open"
                and (j.day if period == "day" else j.month) == start
            )
            bucket = self.bucket(scope, key, period, start)
            bucket[1] = bucket[0] - in_flight

    @rule(hours=st.sampled_from([1, 5, 23, 24 * 20]))
    def advance_clock(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    # --- invariants --------------------------------------------------------------

    @invariant()
    def database_agrees_with_model(self) -> None:
        rows = self.run(
            self.store.db.fetch_all(
                "SELECT scope, scope_key, period, period_start, used, bonus FROM quota_usage"
            )
        )
        actual = {(r[0], r[1], r[2], r[3]): [r[4], r[5]] for r in rows}
        expected = {k: v for k, v in self.usage.items() if v != [0, 0]}
        assert {k: v for k, v in actual.items() if v != [0, 0]} == expected

    @invariant()
    def ledger_verifies_and_job_counts_hold(self) -> None:
        assert self.run(self.store.ledger.verify()) == []
        assert self.bucket("global", "*", "open", "")[0] <= CAPS.global_open
        for user in USERS:
            assert 0 <= self.bucket("user", user, "open", "")[0] <= CAPS.user_concurrent
            member = self.bucket("member", member_key(GUILD, user), "open", "")[0]
            assert 0 <= member <= CAPS.member_concurrent


LedgerMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
test_ledger_matches_model = LedgerMachine.TestCase
