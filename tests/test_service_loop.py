"""The job loop never stalls or dies: a job waiting on a provider holds no slot, a
provider's request limit is honoured, a slow or failing adapter delays no job, a job
that crashes ends failed and refunded without taking anything else down."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.core.api import Accepted
from storage import JobState
from tests.support.service_world import animate, service_world

WAITING = 50


async def wait_until(predicate, within: float = 20.0) -> None:
    async def poll() -> None:
        while not await predicate():  # noqa: ASYNC110 (a condition in the database)
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), within)


async def test_jobs_waiting_on_a_provider_do_not_delay_a_new_submit(tmp_path: Path) -> None:
    options = {"deadline": 10**9, "max_concurrent": 4}  # the waiting never ends by itself
    async with service_world(tmp_path, provider_options=options) as world:
        world.fake.queued_forever = set(range(1, WAITING + 1))
        world.fake.faults.slow_answers = 0.02  # so that requests do overlap
        for user in range(WAITING):
            assert isinstance(await world.service.submit(animate(user=100 + user)), Accepted)
        await wait_until(lambda: _value(world.fake.submits >= WAITING))

        fresh = await world.service.submit(animate(user=999))
        await wait_until(lambda: _state_is(world, fresh.job_id, JobState.DELIVERED))
        # The new job went through while all 50 were still waiting at the provider...
        waiting = await world.store.jobs.in_states({JobState.SUBMITTED, JobState.RUNNING})
        assert len(waiting) == WAITING
        # ...and no more than 4 requests were ever at the provider at once.
        assert world.fake.most_in_flight == 4
        await world.service.stop()


async def test_a_slow_or_failing_adapter_delays_no_job(tmp_path: Path) -> None:
    async with service_world(tmp_path) as world:
        release = asyncio.Event()
        seen: list[str] = []

        async def stuck(update) -> None:  # an adapter stuck on a rate-limited edit
            seen.append(update.job.state.value)
            await release.wait()

        async def broken(update) -> None:
            raise RuntimeError("the adapter has a bug")

        world.service.subscribe(stuck)
        world.service.subscribe(broken)
        jobs = [await world.service.submit(animate(user=n)) for n in range(3)]
        for job in jobs:
            await wait_until(lambda job=job: _state_is(world, job.job_id, JobState.DELIVERED))
        assert len(seen) == 3  # each job's first update, still being "sent"
        release.set()
        await world.service.join()
        # After the adapter caught up, its last word on every job is the final one.
        assert all(world.states(job.job_id)[-1] == "delivered" for job in jobs)


async def test_a_crashing_job_fails_refunded_and_the_next_one_runs(tmp_path: Path) -> None:
    async with service_world(tmp_path) as world:
        await world.service.stop()  # accepted but not yet started: no race with the edit
        doomed = await world.service.submit(animate(user=1))
        async with world.store.db.transaction() as tx:  # what a bug could leave behind
            await tx.execute("UPDATE jobs SET request = '{}' WHERE id = ?", (doomed.job_id,))
        await world.service.start()
        await world.service.join()
        job = await world.store.jobs.get(doomed.job_id)
        assert job.state is JobState.FAILED and job.error == "an internal error"
        assert await world.store.ledger.entries(job.id) == {
            "reserve": job.cost_mc,
            "refund": job.cost_mc,
        }
        after = await world.service.submit(animate(user=2))
        await world.service.join()
        assert (await world.store.jobs.get(after.job_id)).state is JobState.DELIVERED


async def _value(value: bool) -> bool:
    return value


async def _state_is(world, job_id: str, state: JobState) -> bool:
    job = await world.store.jobs.get(job_id)
    return job is not None and job.state is state


async def test_cpu_work_runs_below_the_event_loop_in_priority(tmp_path: Path) -> None:
    """Image checks fill every core in a burst; the event loop must still come first."""
    import os
    import threading

    from bot.core.cpu import CPU_WORK_NICENESS

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    async with service_world(tmp_path) as world:
        assert await world.service.cpu.run(niceness) == min(19, niceness() + CPU_WORK_NICENESS)
