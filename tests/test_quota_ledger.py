"""The ledger's rules, one by one: caps, refusals, exactly-once settling, windows."""

from __future__ import annotations

from datetime import UTC, datetime

from storage import Caps, Limit, Store
from tests.conftest import FakeClock

ROOMY = Caps(
    user_daily_mc=10_000,
    user_monthly_mc=100_000,
    user_concurrent=5,
    guild_daily_mc=None,
    global_open=100,
)


async def reserve(
    store: Store,
    job: str,
    clock: FakeClock,
    amount: int = 1000,
    caps: Caps = ROOMY,
    user: str = "discord:1",
    guild: str | None = None,
):
    return await store.ledger.reserve(
        job, user_key=user, guild_key=guild, amount_mc=amount, caps=caps, now=clock()
    )


async def test_reserve_counts_in_day_month_and_open(store: Store, clock: FakeClock) -> None:
    assert (await reserve(store, "a", clock, 2500)).granted
    usage = await store.ledger.usage("user", "discord:1", clock())
    assert (usage["day"].used, usage["month"].used, usage["open"].used) == (2500, 2500, 1)
    assert await store.ledger.global_open_jobs() == 1


async def test_daily_cap_refuses_with_balance_and_reset_time(store: Store, clock: FakeClock):
    assert (await reserve(store, "a", clock, 7000)).granted
    outcome = await reserve(store, "b", clock, 4000)
    assert not outcome.granted
    assert outcome.refusal.limit is Limit.USER_DAILY
    assert outcome.refusal.remaining == 3000
    assert outcome.refusal.resets_at == datetime(2026, 11, 22, tzinfo=UTC)
    # A refused reservation leaves no trace in the ledger or the totals.
    assert await store.ledger.entries("b") == {}
    assert (await store.ledger.usage("user", "discord:1", clock()))["day"].used == 7000
    assert await store.ledger.verify() == []


async def test_monthly_cap_is_reported_before_daily(store: Store, clock: FakeClock) -> None:
    caps = Caps(10_000, 5_000, 5, None, 100)
    outcome = await reserve(store, "a", clock, 20_000, caps=caps)
    assert outcome.refusal.limit is Limit.USER_MONTHLY
    assert outcome.refusal.resets_at == datetime(2026, 12, 1, tzinfo=UTC)


async def test_concurrency_and_global_queue_caps(store: Store, clock: FakeClock) -> None:
    caps = Caps(None, None, 2, None, 3)
    assert (await reserve(store, "a", clock, caps=caps)).granted
    assert (await reserve(store, "b", clock, caps=caps)).granted
    third = await reserve(store, "c", clock, caps=caps)
    assert third.refusal.limit is Limit.USER_CONCURRENT and third.refusal.resets_at is None
    assert (await reserve(store, "d", clock, caps=caps, user="discord:2")).granted
    full = await reserve(store, "e", clock, caps=caps, user="discord:3")
    assert full.refusal.limit is Limit.GLOBAL_QUEUE
    # Settling frees the slots, whichever way the job ended.
    assert await store.ledger.commit("a", now=clock())
    assert await store.ledger.refund("b", reason="failed", now=clock())
    assert (await reserve(store, "c", clock, caps=caps)).granted


async def test_guild_daily_budget(store: Store, clock: FakeClock) -> None:
    caps = Caps(None, None, 10, 3000, 100)
    assert (await reserve(store, "a", clock, 2000, caps, "discord:1", "discord:9")).granted
    outcome = await reserve(store, "b", clock, 2000, caps, "discord:2", "discord:9")
    assert outcome.refusal.limit is Limit.GUILD_DAILY and outcome.refusal.remaining == 1000
    # The same user outside that guild (a DM) is not held by its budget.
    assert (await reserve(store, "c", clock, 2000, caps, "discord:2", None)).granted


async def test_commit_and_refund_happen_once_and_exclude_each_other(store, clock) -> None:
    await reserve(store, "a", clock, 3000)
    await reserve(store, "b", clock, 3000)
    assert await store.ledger.commit("a", now=clock())
    assert not await store.ledger.commit("a", now=clock())
    assert not await store.ledger.refund("a", reason="late failure", now=clock())
    assert await store.ledger.refund("b", reason="failed", now=clock())
    assert not await store.ledger.refund("b", reason="failed", now=clock())
    assert not await store.ledger.commit("b", now=clock())
    assert not await store.ledger.refund("never-reserved", reason="x", now=clock())
    usage = await store.ledger.usage("user", "discord:1", clock())
    assert (usage["day"].used, usage["open"].used) == (3000, 0)
    assert await store.ledger.entries("a") == {"reserve": 3000, "commit": 3000}
    assert await store.ledger.verify() == []


async def test_a_commit_of_less_gives_the_rest_back_to_every_window(store, clock) -> None:
    """Stop & keep: the job is charged for what it made, the rest goes back."""
    assert (await reserve(store, "a", clock, 3000, guild="discord:9")).granted
    assert (await reserve(store, "b", clock, 1000, guild="discord:9")).granted
    assert await store.ledger.commit("a", now=clock(), amount_mc=1200)
    assert not await store.ledger.commit("a", now=clock(), amount_mc=100)  # once
    assert not await store.ledger.refund("a", reason="late", now=clock())
    assert await store.ledger.commit("b", now=clock(), amount_mc=5000)  # never more
    assert await store.ledger.entries("a") == {"reserve": 3000, "commit": 1200}
    assert await store.ledger.entries("b") == {"reserve": 1000, "commit": 1000}
    user = await store.ledger.usage("user", "discord:1", clock())
    member = await store.ledger.usage("member", "discord:9|discord:1", clock())
    guild = await store.ledger.usage("guild", "discord:9", clock())
    assert (user["day"].used, user["month"].used, user["open"].used) == (2200, 2200, 0)
    assert (member["day"].used, member["month"].used, guild["day"].used) == (2200, 2200, 2200)
    assert await store.ledger.verify() == []


async def test_reserving_the_same_job_twice_charges_once(store: Store, clock: FakeClock):
    assert not (await reserve(store, "a", clock, 3000)).replayed
    again = await reserve(store, "a", clock, 3000)
    assert again.granted and again.replayed
    assert (await store.ledger.usage("user", "discord:1", clock()))["day"].used == 3000


async def test_refund_after_midnight_returns_to_the_window_it_came_from(store, clock) -> None:
    clock.now = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
    await reserve(store, "late", clock, 4000)
    clock.advance(minutes=2)  # a new day and a new month
    fresh = await store.ledger.usage("user", "discord:1", clock())
    assert fresh["day"].used == 0 and fresh["month"].used == 0 and fresh["open"].used == 1
    assert await store.ledger.refund("late", reason="failed", now=clock())
    old = await store.ledger.usage("user", "discord:1", datetime(2026, 11, 30, tzinfo=UTC))
    assert old["day"].used == 0 and old["month"].used == 0
    assert await store.ledger.verify() == []


async def test_grant_adds_to_current_windows_only(store: Store, clock: FakeClock) -> None:
    caps = Caps(5000, 100_000, 5, None, 100)
    await store.ledger.grant("user", "discord:1", 2000, now=clock())
    assert (await reserve(store, "a", clock, 7000, caps)).granted
    clock.advance(days=1)
    assert not (await reserve(store, "b", clock, 7000, caps)).granted


async def test_reset_forgets_settled_use_but_counts_jobs_in_flight(store, clock) -> None:
    caps = Caps(10_000, 100_000, 5, None, 100)
    await reserve(store, "done", clock, 6000, caps)
    await store.ledger.commit("done", now=clock())
    await reserve(store, "running", clock, 3000, caps)
    await store.ledger.reset("user", "discord:1", ["day"], now=clock())
    day = (await store.ledger.usage("user", "discord:1", clock()))["day"]
    assert day.remaining(10_000) == 7000  # the full cap less the running job
    # When the running job is refunded, its credits come back on top.
    await store.ledger.refund("running", reason="failed", now=clock())
    day = (await store.ledger.usage("user", "discord:1", clock()))["day"]
    assert day.remaining(10_000) == 10_000
    month = (await store.ledger.usage("user", "discord:1", clock()))["month"]
    assert month.remaining(100_000) == 94_000  # the month was not reset
    assert await store.ledger.verify() == []


async def test_a_reservation_rolls_back_with_its_transaction(store: Store, clock) -> None:
    class Boom(Exception):
        pass

    try:
        async with store.db.transaction() as tx:
            await store.ledger.reserve(
                "a",
                user_key="discord:1",
                guild_key=None,
                amount_mc=500,
                caps=ROOMY,
                now=clock(),
                tx=tx,
            )
            raise Boom
    except Boom:
        pass
    assert await store.ledger.entries("a") == {}
    assert (await store.ledger.usage("user", "discord:1", clock()))["open"].used == 0


async def test_verify_reports_a_tampered_total(store: Store, clock: FakeClock) -> None:
    await reserve(store, "a", clock, 1000)
    async with store.db.transaction() as tx:
        await tx.execute("UPDATE quota_usage SET used = used + 1 WHERE period = 'day'")
    problems = await store.ledger.verify()
    assert len(problems) == 1 and "ledger says 1000" in problems[0]


async def test_member_caps_count_only_that_server_and_refuse_before_the_users(
    store: Store, clock: FakeClock
) -> None:
    from dataclasses import replace

    from storage import member_key

    caps = replace(ROOMY, member_daily_mc=3000, member_monthly_mc=50_000, member_concurrent=5)
    assert (await reserve(store, "a", clock, 2000, caps=caps, guild="discord:7")).granted
    assert (await reserve(store, "b", clock, 2500, caps=caps, guild="discord:8")).granted
    assert (await reserve(store, "c", clock, 4000, caps=caps)).granted  # a DM
    # In server 7 only 1000 is left, although the user has 1500 left bot-wide.
    refused = await reserve(store, "d", clock, 1200, caps=caps, guild="discord:7")
    assert refused.refusal.limit is Limit.MEMBER_DAILY and refused.refusal.remaining == 1000
    assert (await reserve(store, "e", clock, 1000, caps=caps, guild="discord:7")).granted
    usage = await store.ledger.usage("member", member_key("discord:7", "discord:1"), clock())
    assert (usage["day"].used, usage["open"].used) == (3000, 2)
    # A refund gives the member's credits back as well; a grant raises their room.
    assert await store.ledger.refund("e", reason="failed", now=clock())
    await store.ledger.grant("member", member_key("discord:7", "discord:1"), 500, now=clock())
    assert (await reserve(store, "f", clock, 1500, caps=caps, guild="discord:7")).granted
    assert await store.ledger.verify() == []


async def test_member_concurrency_cap(store: Store, clock: FakeClock) -> None:
    from dataclasses import replace

    caps = replace(ROOMY, member_concurrent=1)
    assert (await reserve(store, "a", clock, caps=caps, guild="discord:7")).granted
    assert (await reserve(store, "b", clock, caps=caps, guild="discord:8")).granted
    refused = await reserve(store, "c", clock, caps=caps, guild="discord:7")
    assert refused.refusal.limit is Limit.MEMBER_CONCURRENT
