"""`Database.run`: a write transaction run whole (on SQLite, in one call on the writer's
thread), on both backends."""

from __future__ import annotations

import asyncio
import threading

import pytest

from storage import Connection, Store


async def record(store: Store, clock, action: str, tx: Connection) -> None:
    await store.audit.record(action, actor="a", target=None, detail={}, now=clock(), tx=tx)


async def test_the_body_runs_start_to_end_on_the_writer_thread(sqlite_store: Store, clock) -> None:
    store = sqlite_store
    threads: list[str] = []

    async def body(tx: Connection) -> int:
        threads.append(threading.current_thread().name)
        await record(store, clock, "first", tx)
        await record(store, clock, "second", tx)
        threads.append(threading.current_thread().name)
        return 7

    assert await store.db.run(body) == 7
    assert threads[0] == threads[1] and threads[0].startswith("sqlite-writer")
    assert [e.action for e in await store.audit.recent()] == ["second", "first"]


async def test_an_error_in_the_body_rolls_it_all_back(store: Store, clock) -> None:
    async def body(tx: Connection) -> None:
        await record(store, clock, "lost", tx)
        await tx.execute(
            "INSERT INTO quota_usage (scope, scope_key, period, period_start, used)"
            " VALUES ('user', 'u', 'day', 'd', -5)"
        )

    with pytest.raises(Exception, match=r"(?i)check constraint"):  # either backend's words
        await store.db.run(body)
    assert await store.audit.recent() == []
    await store.db.run(lambda tx: record(store, clock, "kept", tx))  # usable again
    assert [e.action for e in await store.audit.recent()] == ["kept"]


async def test_a_body_that_awaits_anything_else_is_refused_and_rolled_back(
    sqlite_store: Store, clock
) -> None:
    store = sqlite_store

    async def body(tx: Connection) -> None:
        await record(store, clock, "lost", tx)
        await asyncio.sleep(0)  # would need the event loop, which is not on this thread

    with pytest.raises(RuntimeError, match="awaited something besides its tx"):
        await store.db.run(body)
    assert await store.audit.recent() == []


async def test_a_call_under_way_lands_whole_though_its_caller_is_cancelled(
    store: Store, clock
) -> None:
    started = threading.Event()
    release = threading.Event()

    async def body(tx: Connection) -> None:
        await record(store, clock, "first", tx)
        started.set()
        release.wait(5)  # holds the writer's thread, as a slow disk would
        await record(store, clock, "second", tx)

    task = asyncio.create_task(store.db.run(body))
    await asyncio.to_thread(started.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    release.set()
    # The next transaction queues behind it on the writer's thread; both land.
    await store.db.run(lambda tx: record(store, clock, "after", tx))
    assert [e.action for e in await store.audit.recent()] == ["after", "second", "first"]


async def test_calls_handed_over_during_an_open_transaction_wait_for_its_end(
    store: Store, clock
) -> None:
    """run() and write() skip the lock, but not into a transaction() still open: one
    of theirs landing inside it would be rolled back with it."""

    class Abandon(Exception):
        pass

    with pytest.raises(Abandon):
        async with store.db.transaction() as tx:
            await record(store, clock, "rolled back", tx)
            ran = asyncio.create_task(store.db.run(lambda tx: record(store, clock, "run", tx)))
            wrote = asyncio.create_task(
                store.db.write(
                    "INSERT INTO audit_log (at, actor, action)"
                    " VALUES ('2026-01-01T00:00:00.000000+00:00', 'a', 'write')"
                )
            )
            for _ in range(20):  # every chance to slip in
                await asyncio.sleep(0)
            await record(store, clock, "rolled back too", tx)
            raise Abandon
    await ran
    await wrote
    assert sorted(e.action for e in await store.audit.recent()) == ["run", "write"]
