"""Quota policy: cost, credit arithmetic, which caps apply to whom, audited admin ops."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.config import QuotaConfig
from bot.core.messages import quota_refused, user_quota_summary
from bot.core.quotas import (
    QuotaService,
    credits_to_mc,
    format_credits,
    job_cost_mc,
    parse_subject,
    subject_key,
)
from storage import Limit, LimitOverride, Store
from tests.conftest import FakeClock

CONFIG = QuotaConfig(
    user_daily_credits=20,
    user_monthly_credits=100,
    guild_daily_credits=50,
    concurrent_jobs_per_user=2,
    global_queue_length=10,
)


@pytest.fixture
def quotas(store: Store, clock: FakeClock) -> QuotaService:
    return QuotaService(store, CONFIG, clock)


@pytest.mark.parametrize(
    ("frames", "resolution", "expected"),
    [
        (240, "480p", 8000),  # 8 s at 480p
        (240, "720p", 12000),  # x 1.5
        (150, "720p", 7500),
        (31, "480p", 1034),  # 1.0333 s, rounded up to the milli-credit
        (1800, "720p", 90000),
    ],
)
def test_job_cost_is_seconds_times_resolution_factor(frames, resolution, expected) -> None:
    assert job_cost_mc(frames, resolution) == expected


def test_job_cost_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        job_cost_mc(0, "480p")
    with pytest.raises(ValueError):
        job_cost_mc(30, "4k")


def test_credit_text_round_trips_exactly() -> None:
    assert credits_to_mc("7.5") == 7500 and credits_to_mc(12) == 12000
    assert format_credits(7500) == "7.5" and format_credits(8000) == "8"
    assert format_credits(1034) == "1.034" and format_credits(0) == "0"
    for bad in ("-1", "nan", "abc", "0.0001"):
        with pytest.raises(ValueError):
            credits_to_mc(bad)


def test_subject_keys() -> None:
    assert subject_key("discord", 1234) == "discord:1234"
    assert parse_subject(" telegram:-100987 ") == "telegram:-100987"
    for bad in ("slack:1", "discord:", "discord:abc", "1234"):
        with pytest.raises(ValueError):
            parse_subject(bad)


async def test_caps_come_from_user_then_best_role_then_config(quotas: QuotaService) -> None:
    caps = await quotas.caps_for("discord:1", "discord:9")
    assert (caps.user_daily_mc, caps.user_monthly_mc, caps.user_concurrent) == (20000, 100000, 2)
    assert (caps.guild_daily_mc, caps.global_open) == (50000, 10)

    await quotas.set_limits("role", "discord:100", LimitOverride(daily_mc=30000), actor="t")
    await quotas.set_limits(
        "role", "discord:101", LimitOverride(daily_mc=40000, concurrent_jobs=4), actor="t"
    )
    caps = await quotas.caps_for("discord:1", None, ["discord:100", "discord:101"])
    assert (caps.user_daily_mc, caps.user_concurrent, caps.guild_daily_mc) == (40000, 4, None)

    await quotas.set_limits("user", "discord:1", LimitOverride(daily_mc=5000), actor="t")
    caps = await quotas.caps_for("discord:1", None, ["discord:101"])
    assert (caps.user_daily_mc, caps.user_concurrent) == (5000, 4)

    await quotas.set_limits("guild", "discord:9", LimitOverride(daily_mc=1000), actor="t")
    assert (await quotas.caps_for("discord:1", "discord:9")).guild_daily_mc == 1000


async def test_no_guild_budget_when_configured_off(store: Store, clock: FakeClock) -> None:
    service = QuotaService(store, CONFIG.model_copy(update={"guild_daily_credits": None}), clock)
    assert (await service.caps_for("discord:1", "discord:9")).guild_daily_mc is None
    assert (await service.guild_quota("discord:9")).daily is None


async def test_refusal_message_gives_balance_cost_and_reset(
    quotas: QuotaService, clock: FakeClock
) -> None:
    cost = job_cost_mc(450, "480p")  # 15 credits
    assert (await quotas.reserve("a", user_key="discord:1", guild_key=None, cost_mc=cost)).granted
    outcome = await quotas.reserve("b", user_key="discord:1", guild_key=None, cost_mc=cost)
    assert outcome.refusal.limit is Limit.USER_DAILY
    text = quota_refused(outcome.refusal, cost, clock())
    assert text == (
        "Your daily quota has 5 credits left; this job costs 15. "
        "It resets at 00:00 UTC (in 12 hr 0 min)."
    )


async def test_queue_full_and_concurrency_messages(quotas: QuotaService, clock) -> None:
    for n in range(2):
        assert (
            await quotas.reserve(f"j{n}", user_key="discord:1", guild_key=None, cost_mc=1000)
        ).granted
    refused = await quotas.reserve("j3", user_key="discord:1", guild_key=None, cost_mc=1000)
    assert "already have 2 jobs running" in quota_refused(refused.refusal, 1000, clock())
    for n in range(8):
        await quotas.reserve(f"k{n}", user_key=f"discord:{n + 10}", guild_key=None, cost_mc=1)
    full = await quotas.reserve("z", user_key="discord:99", guild_key=None, cost_mc=1)
    assert quota_refused(full.refusal, 1, clock()).startswith("The queue is full")


async def test_user_quota_summary_and_admin_ops_are_audited(quotas, store, clock) -> None:
    await quotas.reserve("a", user_key="discord:1", guild_key="discord:9", cost_mc=4000)
    await quotas.grant("user", "discord:1", 2500, actor="discord:admin")
    quota = await quotas.user_quota("discord:1", "discord:9")
    assert quota.daily.remaining_mc == 18500 and quota.open_jobs == 1
    assert quota.remaining_mc == 18500  # the guild still has 46
    summary = user_quota_summary(quota, clock())
    assert "Today: 18.5 of 22.5 credits left" in summary
    assert "Server today: 46 of 50 credits left" in summary

    await quotas.reset("user", "discord:1", ["day", "month"], actor="discord:admin")
    audit = await store.audit.recent()
    assert [(e.action, e.target, e.actor) for e in audit] == [
        ("quota.reset", "user:discord:1", "discord:admin"),
        ("quota.grant", "user:discord:1", "discord:admin"),
    ]
    assert audit[1].detail == {"amount_mc": 2500}
    assert audit[0].at == datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


async def test_commit_and_refund_through_the_service(quotas: QuotaService, store) -> None:
    await quotas.reserve("a", user_key="discord:1", guild_key=None, cost_mc=3000)
    assert await quotas.refund("a", reason="provider failed")
    assert not await quotas.commit("a")
    assert await store.ledger.entries("a") == {"reserve": 3000, "refund": 3000}
