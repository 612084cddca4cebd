"""Long polling is one process's: the poller's lease in the store (storage.leases,
bot.telegram.poller), a second `framepack-bot run` on the same store refused in one
line, a killed poller's restart taking over at once, Telegram's own 409 said once."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from telegram.error import Conflict

from bot.telegram.app import TelegramAdapter
from bot.telegram.poller import AnotherPoller, PollerLease, PollingErrors
from storage import Store
from tests.support.fakes.telegram import CONFLICT, FakeTelegram
from tests.support.provider_world import png_bytes
from tests.support.subprocess_env import ROOT, isolated_env, telegram_env
from tests.support.telegram_world import telegram_world

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


async def test_a_lease_is_one_owners_until_it_runs_out_or_is_let_go(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "bot.db") as store:
        leases = store.leases
        first = await leases.take("poll", "a", now=NOW, for_s=30)
        refused = await leases.take("poll", "b", now=NOW + timedelta(seconds=10), for_s=30)
        renewed = await leases.take("poll", "a", now=NOW + timedelta(seconds=20), for_s=30)
        still = await leases.take("poll", "b", now=NOW + timedelta(seconds=40), for_s=30)
        expired = await leases.take("poll", "b", now=NOW + timedelta(seconds=50), for_s=30)
        await leases.release("poll", "a")  # not a's any more: nothing happens
        kept = await leases.take("poll", "c", now=NOW + timedelta(seconds=51), for_s=30)
        replaced = await leases.take(
            "poll", "c", now=NOW + timedelta(seconds=52), for_s=30, replacing="b"
        )
        await leases.release("poll", "c")
        free = await leases.take("poll", "d", now=NOW + timedelta(seconds=53), for_s=30)
    assert first.owner == "a" and refused.owner == "a"
    assert renewed.until == NOW + timedelta(seconds=50)  # renewing moves it on
    assert still.owner == "a"  # a's renewal holds until 50 s
    assert expired.owner == "b"
    assert kept.owner == "b"
    assert replaced.owner == "c"  # b is known gone
    assert free.owner == "d"


async def test_a_second_adapter_on_the_same_store_does_not_poll(tmp_path: Path) -> None:
    async with telegram_world(tmp_path) as world:
        second = TelegramAdapter(world.service, world.settings)
        with pytest.raises(AnotherPoller, match=r"another process \(.+\) is polling Telegram"):
            await second.start()
        # Refused before logging in: it made no call of its own.
        assert not world.telegram.of_method("getMe")[1:]


def a_dead_process() -> str:
    """A lease owner as this machine's processes write it, of a process that ended."""
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return f"{socket.gethostname()}:{ended.stdout.strip()}:abcdef"


async def test_a_dead_pollers_lease_on_this_machine_is_taken_at_once(tmp_path: Path) -> None:
    dead = a_dead_process()
    async with telegram_world(tmp_path) as world:
        name = world.adapter.poller.name
        # As if the world's poller had been a process killed on this machine.
        await world.store.leases.take(
            name, dead, now=world.service.clock(), for_s=3600, replacing=world.adapter.poller.owner
        )
        after_crash = TelegramAdapter(world.service, world.settings)
        await after_crash.start()  # no AnotherPoller: its holder is gone
        await after_crash.stop()
        alive = f"{socket.gethostname()}:1:abcdef"  # pid 1 is alive
        await world.store.leases.take(name, alive, now=world.service.clock(), for_s=3600)
        with pytest.raises(AnotherPoller):
            await TelegramAdapter(world.service, world.settings).start()


def test_telegrams_conflict_is_said_once_in_one_line(caplog: pytest.LogCaptureFixture) -> None:
    errors = PollingErrors()
    with caplog.at_level(logging.WARNING, logger="bot.telegram.poller"):
        for _ in range(5):
            errors(Conflict(CONFLICT))
    (record,) = caplog.records
    assert "another process is polling this bot's updates" in record.getMessage()
    assert record.exc_info is None


async def test_two_runs_on_one_store_one_polls_and_a_restart_after_a_kill_takes_over(
    tmp_path: Path,
) -> None:
    async with FakeTelegram() as fake:
        env = isolated_env(tmp_path / "data", **telegram_env(fake))

        async def run(stderr: int = asyncio.subprocess.DEVNULL) -> asyncio.subprocess.Process:
            return await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", cwd=ROOT, env=env, stderr=stderr
            )

        async def polling(calls: int) -> None:
            async with asyncio.timeout(60):
                while len(fake.of_method("deleteWebhook")) < calls:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)

        first = await run()
        try:
            await polling(1)
            second = await run(asyncio.subprocess.PIPE)
            _, said = await asyncio.wait_for(second.communicate(), 60)
            first.send_signal(signal.SIGKILL)  # the poller dies without letting go
            await first.wait()
            restarted = await run(asyncio.subprocess.PIPE)
            restart_log = asyncio.create_task(restarted.stderr.read())  # type: ignore[union-attr]
            try:
                await polling(2)  # polls at once, not after the lease's 30 s
                request = fake.photo_message(png_bytes(128, 72), "/animate waves")
                fake.push_update(message=request)
                async with asyncio.timeout(60):
                    while not fake.of_method("sendPhoto"):  # noqa: ASYNC110 (the fake's)
                        await asyncio.sleep(0.05)
            finally:
                restarted.send_signal(signal.SIGTERM)
                await asyncio.wait_for(restarted.wait(), 30)
        finally:
            if first.returncode is None:
                first.kill()
                await first.wait()
    lines = [line for line in said.decode().splitlines() if line.strip()]
    assert second.returncode == 1
    assert "Traceback" not in said.decode()
    assert any("another process" in line and "webhook_url" in line for line in lines), lines
    assert restarted.returncode == 0
    # At once, as the dead poller's (not after its lease ran out): it said so.
    assert "is gone; taking over" in (await restart_log).decode()
    # The refused one never logged in: two logins, the first run's and the restart's.
    assert len(fake.of_method("getMe")) == 2


async def test_a_poller_whose_lease_was_taken_over_stops_polling(tmp_path: Path) -> None:
    async with telegram_world(tmp_path) as world:
        lease = PollerLease(world.service, "42", owner="here:1:aaaaaa")
        await lease.take()
        # Frozen past its lease, as far as the others know: another took it over.
        await world.service.hold(lease.name, "there:2:bbbbbb", 30, replacing=lease.owner)
        lost = asyncio.Event()

        async def at_once(seconds: float) -> None:
            await asyncio.sleep(0)

        lease.keep(lost=lost.set, sleep=at_once)
        await asyncio.wait_for(lost.wait(), 10)
        await lease.release()  # not its own any more: the other keeps it
        assert await world.service.hold(lease.name, "third:3:cccccc", 30) == "there:2:bbbbbb"
