"""Telegram's send budget (bot.telegram.send_budget): Telegram's limits kept, the queue
served by priority. Time is injected: the budget's sleeps pass at once and move the
clock on."""

from __future__ import annotations

import asyncio
from typing import Any

from telegram.error import RetryAfter

from bot.telegram.send_budget import Priority, SendBudget, sending, sending_at
from tests.support.provider_world import FakeTime


class Sends:
    """Requests through the budget as python-telegram-bot makes them; records which
    went, in order, and when."""

    def __init__(self, budget: SendBudget, time: FakeTime) -> None:
        self.budget = budget
        self.time = time
        self.went: list[tuple[str, float]] = []

    async def send(
        self,
        name: str,
        priority: Priority | None,
        *,
        chat_id: Any = 5001,
        fail: list | None = None,
    ) -> Any:
        async def call() -> bool:
            if fail:
                raise fail.pop()
            self.went.append((name, self.time.now))
            return True

        if priority is not None:  # else the task's own
            sending(priority)
        data = {"chat_id": chat_id} if chat_id is not None else {}
        return await self.budget.process_request(call, (), {}, "sendMessage", data, None)

    def names(self) -> list[str]:
        return [name for name, _ in self.went]


def budget_and_sends(**options: Any) -> tuple[Sends, FakeTime]:
    time = FakeTime()
    budget = SendBudget(clock=time.clock, sleep=time.sleep, **options)
    return Sends(budget, time), time


async def test_the_queue_is_served_first_answers_first_then_outcomes_then_progress() -> None:
    sends, _ = budget_and_sends(per_second=2, reserve=0)
    # All ask in one turn of the loop, the edits first: two take the bucket.
    tasks = [asyncio.create_task(sends.send(f"edit{n}", Priority.PROGRESS)) for n in range(5)]
    tasks += [asyncio.create_task(sends.send(f"video{n}", Priority.OUTCOME)) for n in range(2)]
    tasks += [asyncio.create_task(sends.send(f"hello{n}", Priority.FIRST_ANSWER)) for n in range(2)]
    await asyncio.gather(*tasks)
    assert sends.names() == [
        "edit0",
        "edit1",
        "hello0",
        "hello1",
        "video0",
        "video1",
        "edit2",
        "edit3",
        "edit4",
    ]


async def test_it_keeps_to_the_rate_once_the_bucket_is_empty() -> None:
    sends, time = budget_and_sends(per_second=30, reserve=0)
    start = time.now
    await asyncio.gather(*(sends.send(str(n), Priority.OUTCOME) for n in range(120)))
    offsets = [at - start for _, at in sends.went]
    assert offsets[:30] == [0.0] * 30  # a quiet bot's burst goes at once
    for n, at in enumerate(offsets[30:], 1):  # then one every 1/30 s, never sooner
        assert at >= n / 30 - 1e-9
    assert 2.9 < offsets[-1] < 3.1  # 90 more at 30/s


async def test_a_storm_of_deliveries_leaves_first_answers_their_reserve() -> None:
    sends, time = budget_and_sends(per_second=30, reserve=10)
    start = time.now
    videos = [asyncio.create_task(sends.send(f"video{n}", Priority.OUTCOME)) for n in range(60)]
    await asyncio.sleep(0)
    went_at_once = len(sends.went)
    hellos = [
        asyncio.create_task(sends.send(f"hello{n}", Priority.FIRST_ANSWER)) for n in range(10)
    ]
    await asyncio.gather(*hellos)
    answered = max(at for name, at in sends.went if name.startswith("hello"))
    await asyncio.gather(*videos)
    assert went_at_once == 20  # the bucket less the reserve
    assert answered - start < 0.05  # the ten first answers: at once, in the reserve
    last_video = max(at for name, at in sends.went if name.startswith("video"))
    # The other 40 once the bucket holds 11 again (11/30 s), then at 30/s.
    assert abs(last_video - start - (11 + 39) / 30) < 0.01


async def test_requests_outside_chats_never_wait() -> None:
    sends, _ = budget_and_sends(per_second=1)
    queued = [asyncio.create_task(sends.send(f"edit{n}", Priority.PROGRESS)) for n in range(4)]
    await asyncio.sleep(0)
    await sends.send("getFile", Priority.PROGRESS, chat_id=None)
    assert sends.names()[:2] == ["edit0", "getFile"]
    await asyncio.gather(*queued)


async def test_a_429_pauses_every_send_for_as_long_as_telegram_asks() -> None:
    sends, time = budget_and_sends(per_second=30, max_retries=1)
    start = time.now
    first = asyncio.create_task(sends.send("video", Priority.OUTCOME, fail=[RetryAfter(5)]))
    await asyncio.sleep(0)
    second = asyncio.create_task(sends.send("hello", Priority.FIRST_ANSWER))
    await asyncio.gather(first, second)
    went = dict(sends.went)
    assert went["video"] - start >= 5 and went["hello"] - start >= 5
    assert sends.names() == ["hello", "video"]  # the queue, by priority, after the pause


async def test_a_429_without_retries_reaches_the_caller_and_still_pauses() -> None:
    sends, time = budget_and_sends(per_second=30)
    try:
        await sends.send("video", Priority.OUTCOME, fail=[RetryAfter(2)])
    except RetryAfter:
        pass
    else:
        raise AssertionError("the RetryAfter was swallowed")
    start = time.now
    await sends.send("hello", Priority.FIRST_ANSWER)
    assert sends.went[0][1] - start >= 2


async def test_a_sender_that_gives_up_takes_no_turn() -> None:
    sends, _ = budget_and_sends(per_second=1)
    await sends.send("first", Priority.OUTCOME)  # the bucket is empty now
    gone = asyncio.create_task(sends.send("gone", Priority.FIRST_ANSWER))
    kept = asyncio.create_task(sends.send("kept", Priority.OUTCOME))
    await asyncio.sleep(0)
    gone.cancel()
    await kept
    assert sends.names() == ["first", "kept"]
    assert sends.went[1][1] - sends.went[0][1] <= 1.0  # the next token, not the one after


async def test_a_block_at_another_priority_gives_the_task_its_own_back() -> None:
    sends, _ = budget_and_sends(per_second=1, reserve=0)
    await sends.send("first", Priority.OUTCOME)  # the bucket is empty now

    async def handler() -> None:
        sending(Priority.FIRST_ANSWER)
        with sending_at(Priority.PROGRESS):  # a status edit said from the handler
            pass
        await sends.send("hello", None)

    waiting = asyncio.create_task(sends.send("edit", Priority.PROGRESS))
    await asyncio.sleep(0)
    await handler()
    await waiting
    assert sends.names() == ["first", "hello", "edit"]


# --- several processes on one token (bot.telegram.send_share) ----------------------------


def process_on(store_location, time: FakeTime):
    """One bot process's job service on the shared store (its own connections)."""
    from datetime import UTC, datetime

    from bot.cli.run import build_service
    from bot.config import Settings
    from bot.core.safety import DenyList, SafetyChecker
    from storage import Store

    async def opened():
        store = await Store.open(store_location)
        service = build_service(
            store,
            Settings(),
            {},
            SafetyChecker(DenyList.load(), None, 0.6),
            clock=lambda: datetime.fromtimestamp(time.now, UTC),
        )
        return store, service

    return opened()


async def test_processes_on_one_token_share_the_rate_and_a_429_pauses_them_all(
    store_location,
) -> None:
    from bot.telegram.send_share import SENDER_LEASE_S, BudgetShare

    time = FakeTime()
    (store_a, service_a), (store_b, service_b) = [
        await process_on(store_location, time) for _ in range(2)
    ]
    try:
        a = Sends(SendBudget(clock=time.clock, sleep=time.sleep), time)
        b = Sends(SendBudget(clock=time.clock, sleep=time.sleep), time)
        share_a = BudgetShare(service_a, a.budget, "42", owner="one:1:aaaaaa")
        share_b = BudgetShare(service_b, b.budget, "42", owner="two:2:bbbbbb")
        await share_a.round()
        assert a.budget.per_second == 30  # alone: the whole budget
        await share_b.round()
        await share_a.round()
        assert a.budget.per_second == b.budget.per_second == 15
        assert a.budget.group_per_minute == 10 and a.budget.reserve == 5

        # Together they keep to Telegram's 30 a second: 90 sends from each, 180 in all,
        # take 5.5 s (a bucket of 15 each at once, then 15 a second each).
        start = time.now
        await asyncio.gather(
            *(s.send(f"{n}", Priority.OUTCOME, chat_id=7000 + n) for s in (a, b) for n in range(90))
        )
        went = sorted(at for s in (a, b) for _, at in s.went)
        assert len(went) == 180 and went[-1] - start >= 5.0

        # Telegram tells one of them to wait: the other pauses too, at its next round.
        a.budget.on_pause = None
        share_a.start()
        try:
            failing = [RetryAfter(20)]
            with_429 = asyncio.create_task(a.send("told", Priority.OUTCOME, fail=failing))
            await asyncio.gather(with_429, return_exceptions=True)
            await asyncio.sleep(0.05)  # the pause reaches the store
            told_at = time.now
            await share_b.round()
            await b.send("after", Priority.OUTCOME)
            assert b.went[-1][1] >= told_at + 19.9
        finally:
            await share_a.stop()

        # A process that stops, or dies, stops counting: the other takes the whole.
        await share_b.round()
        assert b.budget.per_second == 30  # a stopped: let go at once
        await share_a.round()
        await share_b.round()
        assert b.budget.per_second == 15
        time.now += SENDER_LEASE_S + 1  # a dies: its lease runs out
        await share_b.round()
        assert b.budget.per_second == 30
    finally:
        await store_a.close()
        await store_b.close()
