"""Bounded disk: job files go `keep_days` after their job ended, and the oldest go
first past `max_disk_mb`; jobs in flight keep theirs; a swept job's Retry says so."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from bot.core.api import FollowUp, Refused
from bot.core.retention import folder_size
from tests.support.service_world import animate, requester, service_world

DAY = 24 * 3600


async def delivered_jobs(world, count: int) -> list[str]:
    ids = []
    for user in range(count):
        ids.append((await world.service.submit(animate(user=10 + user))).job_id)
        await world.service.join()
        world.time.now += 3600  # an hour apart: an order to sweep them in
    return ids


async def test_files_go_after_keep_days_and_jobs_in_flight_keep_theirs(tmp_path: Path):
    async with service_world(tmp_path) as world:
        done = await delivered_jobs(world, 2)
        await world.service.stop()  # the next job stays queued: in flight, never swept
        waiting = (await world.service.submit(animate(user=99))).job_id
        jobs_dir = world.service.jobs_dir
        assert all((jobs_dir / job).is_dir() for job in [*done, waiting])

        world.time.now += 6 * DAY
        assert (await world.service.retention.sweep()).removed == 0
        world.time.now += 1.5 * DAY
        report = await world.service.retention.sweep()
        assert report.removed == 2 and report.freed_bytes > 0
        assert not any((jobs_dir / job).exists() for job in done)
        assert (jobs_dir / waiting / "first.jpg").is_file()

        # Retry of a swept job: one line, nothing charged.
        again = await world.service.follow_up(
            done[0], requester(10), kind=FollowUp.RETRY, reply_ref={}
        )
        assert isinstance(again, Refused)
        assert (
            again.message
            == "The images of that job are no longer stored, so it cannot be repeated."
        )


async def test_past_the_disk_cap_the_oldest_files_go_first(tmp_path: Path) -> None:
    async with service_world(tmp_path) as world:
        jobs = await delivered_jobs(world, 3)
        jobs_dir = world.service.jobs_dir
        sizes = [folder_size(jobs_dir / job) for job in jobs]
        retention = world.service.retention
        retention.max_bytes = sizes[1] + sizes[2]  # room for the two newest only
        report = await retention.sweep()
        assert report.removed == 1 and report.kept.bytes <= retention.max_bytes
        assert [(jobs_dir / job).exists() for job in jobs] == [False, True, True]


async def test_a_sweep_runs_at_start_and_takes_orphan_folders_too(tmp_path: Path) -> None:
    async with service_world(tmp_path) as world:
        await world.service.stop()
        orphan = world.service.jobs_dir / "0123456789ab"  # a crash before its row
        orphan.mkdir(parents=True)
        (orphan / "first.jpg").write_bytes(b"x" * 1000)
        old = world.time.now - 30 * DAY
        os.utime(orphan, (old, old))
        await world.service.start()
        for _ in range(100):
            if not orphan.exists():
                break
            await asyncio.sleep(0.02)
        assert not orphan.exists()


async def test_a_folder_whose_row_is_not_written_yet_is_never_swept_to_make_room(tmp_path):
    async with service_world(tmp_path) as world:
        jobs = await delivered_jobs(world, 1)
        arriving = world.service.jobs_dir / "0123456789ab"  # a job being accepted now
        arriving.mkdir()
        (arriving / "first.jpg").write_bytes(b"x" * 5000)
        os.utime(arriving, (world.time.now, world.time.now))  # written "now", on our clock
        world.service.retention.max_bytes = 1  # no room at all
        report = await world.service.retention.sweep()
        assert arriving.is_dir() and not (world.service.jobs_dir / jobs[0]).exists()
        assert report.kept.jobs == 1 and report.kept.bytes == folder_size(arriving)
