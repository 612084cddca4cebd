"""Job rows: creation with the reservation, checked transitions, history, recovery order."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage import Caps, JobState, NewJob, Store
from storage.jobs import InvalidTransition
from tests.conftest import FakeClock

CAPS = Caps(None, None, None, None, None)  # no caps: these tests are about jobs


def new_job(user: str = "discord:1", **changes) -> NewJob:
    fields = dict(
        platform="discord",
        user_key=user,
        guild_key="discord:9",
        channel_id="555",
        request={"prompt": "a cat", "num_frames": 150},
        provider="fal",
        cost_mc=5000,
        reply_ref={"interaction_token": "tok", "application_id": "1"},
    )
    fields.update(changes)
    return NewJob(**fields)


async def create(store: Store, clock: FakeClock, job: NewJob) -> None:
    async with store.db.transaction() as tx:
        outcome = await store.ledger.reserve(
            job.id,
            user_key=job.user_key,
            guild_key=job.guild_key,
            amount_mc=job.cost_mc,
            caps=CAPS,
            now=clock(),
            tx=tx,
        )
        assert outcome.granted
        await store.jobs.insert(job, now=clock(), tx=tx)


async def test_a_job_and_its_reservation_are_written_together(store, clock) -> None:
    job = new_job()
    await create(store, clock, job)
    record = await store.jobs.get(job.id)
    assert record.state is JobState.QUEUED and record.request["prompt"] == "a cat"
    assert record.reply_ref["interaction_token"] == "tok"
    assert await store.ledger.entries(job.id) == {"reserve": 5000}

    duplicate = NewJob(**{**job.__dict__})
    with pytest.raises(Exception) as refused:  # each backend's own class
        async with store.db.transaction() as tx:
            await store.ledger.reserve(
                "other",
                user_key="discord:1",
                guild_key=None,
                amount_mc=1000,
                caps=CAPS,
                now=clock(),
                tx=tx,
            )
            await store.jobs.insert(duplicate, now=clock(), tx=tx)
    assert store.db.is_unique_violation(refused.value, "jobs", "id")
    # The failed insert took its reservation down with it.
    assert await store.ledger.entries("other") == {}


async def test_lifecycle_updates_fields_and_timestamps(store: Store, clock: FakeClock) -> None:
    job = new_job()
    await create(store, clock, job)
    clock.advance(seconds=5)
    async with store.db.transaction() as tx:
        await store.jobs.transition(job.id, JobState.SUBMITTING, now=clock(), tx=tx)
        await store.jobs.transition(
            job.id,
            JobState.SUBMITTED,
            now=clock(),
            tx=tx,
            provider_handle={"request_id": "r-1"},
            seed=42,
        )
    queued = await store.jobs.progress(job.id, 0.0, {"position": 3}, running=False, now=clock())
    assert queued is not None and queued.state is JobState.SUBMITTED
    record = await store.jobs.progress(
        job.id, 0.4, {"section": 2, "of": 5}, running=True, now=clock()
    )
    assert record == await store.jobs.get(job.id)
    assert record.state is JobState.RUNNING
    assert record.provider_handle == {"request_id": "r-1"} and record.seed == 42
    assert record.progress == 0.4 and record.status_detail == {"section": 2, "of": 5}
    assert record.updated_at > record.created_at and record.finished_at is None

    async with store.db.transaction() as tx:
        await store.jobs.transition(
            job.id,
            JobState.SUCCEEDED,
            now=clock(),
            tx=tx,
            result_path="/data/out.mp4",
            progress=1.0,
        )
        done = await store.jobs.transition(job.id, JobState.DELIVERED, now=clock(), tx=tx)
    assert done.delivered and done.delivered_at == clock() and done.finished_at == clock()


async def test_illegal_transitions_and_unknown_fields_are_refused(store, clock) -> None:
    job = new_job()
    await create(store, clock, job)
    async with store.db.transaction() as tx:
        await store.jobs.transition(
            job.id, JobState.FAILED, now=clock(), tx=tx, error="provider down"
        )
    with pytest.raises(InvalidTransition, match="failed -> delivered"):
        async with store.db.transaction() as tx:
            await store.jobs.transition(job.id, JobState.DELIVERED, now=clock(), tx=tx)
    with pytest.raises(TypeError, match="state"):
        async with store.db.transaction() as tx:
            await store.jobs.transition(job.id, JobState.FAILED, now=clock(), tx=tx, state="queued")
    with pytest.raises(KeyError):
        async with store.db.transaction() as tx:
            await store.jobs.transition("nope", JobState.FAILED, now=clock(), tx=tx)
    # The same checks on a transition that is a write of its own.
    with pytest.raises(InvalidTransition, match="failed -> submitting"):
        await store.jobs.move(job.id, JobState.SUBMITTING, now=clock())
    with pytest.raises(KeyError):
        await store.jobs.move("nope", JobState.SUBMITTING, now=clock())
    assert await store.jobs.progress(job.id, 0.5, {}, running=True, now=clock()) is None
    after = await store.jobs.get(job.id)
    assert after.error == "provider down" and after.state is JobState.FAILED


async def test_history_newest_first_and_recovery_oldest_first(store, clock) -> None:
    ids = []
    for n in range(4):
        job = new_job(request={"n": n})
        ids.append(job.id)
        await create(store, clock, job)
        clock.advance(seconds=1)
    await create(store, clock, new_job(user="telegram:2"))
    async with store.db.transaction() as tx:
        await store.jobs.transition(ids[1], JobState.SUBMITTING, now=clock(), tx=tx)
        await store.jobs.transition(ids[1], JobState.SUBMITTED, now=clock(), tx=tx)

    recent = await store.jobs.recent_for_user("discord:1", limit=3)
    assert [j.request["n"] for j in recent] == [3, 2, 1]
    waiting = await store.jobs.in_states({JobState.QUEUED})
    assert [j.id for j in waiting][:3] == [ids[0], ids[2], ids[3]]
    assert [j.id for j in await store.jobs.in_states({JobState.SUBMITTED})] == [ids[1]]


async def test_unfinished_jobs_are_owned_by_lease_and_adopted_once_it_runs_out(
    store, clock
) -> None:
    """Several processes on one store (storage.jobs.claim): the owner's while renewed,
    another's once the lease has run out or the owner is known gone; ended jobs stay."""
    lease = timedelta(seconds=30)
    mine = new_job(owner="a", lease_until=clock() + lease)
    legacy = new_job(user="discord:2")  # from before leases: no owner
    ended = new_job(user="discord:3", owner="a", lease_until=clock() + lease)
    for job in (mine, legacy, ended):
        await create(store, clock, job)
    async with store.db.transaction() as tx:
        await store.jobs.transition(ended.id, JobState.CANCELLED, now=clock(), tx=tx)
    jobs = store.jobs

    assert await jobs.claim("b", now=clock(), until=clock() + lease) == [legacy.id]
    clock.advance(seconds=20)
    assert await jobs.renew("a", until=clock() + lease) == 1  # a renews: until 50 s
    clock.advance(seconds=20)
    assert await jobs.claim("b", now=clock(), until=clock() + lease) == [legacy.id]
    assert await jobs.other_owners("b") == {"a"}
    clock.advance(seconds=11)  # a stopped renewing: its lease ran out at 50 s
    # Both made at the same moment: oldest first, then by id.
    both = sorted([mine.id, legacy.id])
    assert await jobs.claim("b", now=clock(), until=clock() + lease) == both
    assert await jobs.renew("a", until=clock() + lease) == 0  # a holds nothing now
    # A known-gone owner's jobs are taken at once, whatever its lease says.
    assert await jobs.claim("c", now=clock(), until=clock() + lease) == []
    assert await jobs.claim("c", now=clock(), until=clock() + lease, gone={"b"}) == both
    assert (await jobs.get(ended.id)).state is JobState.CANCELLED
