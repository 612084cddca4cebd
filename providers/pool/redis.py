"""The GPU pool behind Redis, on streaq (a Redis-streams task queue): the bot's side.

The bot enqueues one streaq task per job, with the bot's job id as the task id (streaq
keeps no duplicate of an id while it is queued or running) and the user's round-robin
band and the job's lane (the LoRAs it names) as the task's priority stream: a worker
reads the streams of every band for the lanes its LoRAs can serve only. GPU workers
(`providers.pool.worker`) run the engine, publish progress to a Redis stream per job
(a late watcher replays it), and leave the MP4 in a Redis key with a time to live.
Task data is pickled by streaq and signed with a shared secret (HMAC), so nobody who
can write to Redis without the secret can make a worker or the bot unpickle what they
wrote.

Beside streaq's own keys, under `fpbot:<queue>:`:
    waiting            sorted set: job id -> (band, arrival); a job's place is its rank
    user:<user>        set of that user's waiting job ids (the band of their next job)
    owner              hash: waiting job id -> its user (to clear the above on cancel)
    progress:<job>     stream of progress entries (started, step, end)
    keep:<job>         set by the bot: stop that running job and keep what it finished
    video:<job>        the finished MP4 (bytes), expiring; not signed, so its SHA-256
                       travels in the task's signed result and is checked on the way out
    secret-check       HMAC of a fixed text under the signing secret, left by the first
                       bot or worker: anyone with another secret refuses to go on
    workers            sorted set: worker id -> last heartbeat (live workers, for ETAs)
    loras              hash: worker id -> the LoRAs it has, comma-separated
    seconds            list of recent job durations (the pool's measured speed)
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from coredis import PureToken, Redis
from coredis.exceptions import RedisError
from streaq import TaskStatus, Worker
from streaq.types import StreaqCancelled, StreaqError

from providers.pool.contract import (
    Broke,
    Done,
    EngineJob,
    NoEngineFor,
    QueueError,
    QueueEvent,
    Unreachable,
    Waiting,
    Working,
    band,
    band_rank,
    bands,
    broke,
)

log = logging.getLogger(__name__)

TASK = "framepack"
HEARTBEAT_S = 5.0
# Errors that mean "Redis is not there just now": the job is kept, we try again.
DOWN = (RedisError, OSError, asyncio.TimeoutError)
_CHECK_TEXT = b"framepack-bot pool: signing secret check, v1"


def is_down(exc: BaseException) -> bool:
    """Redis unreachable (coredis wraps connect failures in an ExceptionGroup)."""
    if isinstance(exc, BaseExceptionGroup):
        return all(is_down(inner) for inner in exc.exceptions)
    return isinstance(exc, DOWN)


class SecretMismatch(Exception):
    """This pool's Redis was first met with another signing secret."""


async def secret_problem(redis: Any, keys: Keys, secret: str) -> str | None:
    """Why this secret may not be used with this Redis, or None. The first bot or
    worker to meet it leaves a value derived from its secret; every later one compares.
    A worker with a rotated (or mistyped) secret would otherwise fail every task it
    reads, and streaq deletes a task whose signature does not verify: one such worker
    would empty the queue. (Returned, not raised: coredis wraps whatever is raised
    inside its client's context in an ExceptionGroup.)"""
    mine = hmac.new(secret.encode(), _CHECK_TEXT, hashlib.sha256).hexdigest()
    await redis.set(keys.secret_check, mine, condition=PureToken.NX)
    theirs = await redis.get(keys.secret_check)
    if isinstance(theirs, bytes):
        theirs = theirs.decode("ascii", "replace")
    if isinstance(theirs, str) and hmac.compare_digest(theirs, mine):
        return None
    return (
        "the pool's Redis was set up with another signing secret ([providers.local] "
        "secret); use the same on the bot and every worker, or, to rotate it on all of "
        f"them, delete the key {keys.secret_check}"
    )


async def require_secret(redis_url: str, keys: Keys, secret: str) -> None:
    """SecretMismatch when this Redis was set up with another secret; what a Redis that
    cannot be reached raises (see is_down) otherwise passes through."""
    async with Redis.from_url(redis_url, decode_responses=True) as redis:
        problem = await secret_problem(redis, keys, secret)
    if problem is not None:  # raised outside the client: coredis would wrap it
        raise SecretMismatch(problem)


def video_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Keys:
    def __init__(self, queue: str) -> None:
        self.prefix = f"fpbot:{queue}:"
        self.waiting = self.prefix + "waiting"
        self.owner = self.prefix + "owner"  # job id -> user, while it waits
        self.workers = self.prefix + "workers"
        self.loras = self.prefix + "loras"
        self.seconds = self.prefix + "seconds"
        self.secret_check = self.prefix + "secret-check"

    def user(self, user: str) -> str:
        return f"{self.prefix}user:{user}"

    def progress(self, job_id: str) -> str:
        return f"{self.prefix}progress:{job_id}"

    def video(self, job_id: str) -> str:
        return f"{self.prefix}video:{job_id}"

    def keep(self, job_id: str) -> str:
        return f"{self.prefix}keep:{job_id}"


def stream_name(band_name: str, lane: str) -> str:
    """The priority stream of a band's jobs in a lane (streaq's priority name)."""
    return f"{band_name}|{lane}" if lane else band_name


def streaq_worker(
    redis_url: str,
    secret: str,
    queue: str,
    *,
    lanes: Sequence[str] = ("",),
    cls: type[Worker[Any]] = Worker,
    **options: Any,
) -> Worker[Any]:
    """A streaq Worker over our bands, in these lanes (the bot uses one as a client,
    never runs it)."""
    worker: Worker[Any] = cls(
        redis_url=redis_url,
        queue_name=queue,
        signing_secret=secret,
        # streaq serves the last-listed priority first: every lane of a band before
        # any of the next band's.
        priorities=[stream_name(b, lane) for b in reversed(bands()) for lane in lanes],
        **options,
    )
    return worker


def order_score(band_name: str, now_ms: int) -> float:
    """The waiting set's score: the band first, then arrival (exact in a float: < 2^53)."""
    return band_rank(band_name) * 1e15 + now_ms


class RedisQueue:
    """The bot's side of the pool: enqueue, follow, cancel, fetch."""

    def __init__(
        self,
        redis_url: str,
        *,
        secret: str,
        queue: str = "framepack",
        poll_s: float = 1.0,
        video_keep_s: int = 600,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        # A client only: tasks go in by name (enqueue_unsafe), the workers register them.
        self._client = streaq_worker(redis_url, secret, queue)
        self._secret = secret
        # Videos are bytes: a client that does not decode answers.
        self._bytes: Redis[bytes] = Redis.from_url(redis_url, decode_responses=False)
        self.keys = Keys(queue)
        self.poll_s = poll_s
        self.video_keep_s = video_keep_s
        self._clock = clock
        self._sleep = sleep
        self._holder: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        self._closing = asyncio.Event()
        self._submit_lock = asyncio.Lock()

    async def _redis(self) -> Any:
        """The connected client. coredis's clients are anyio context managers that must
        be entered and left by one task, so one long-lived task holds them open (a
        job's task that happened to connect first would end before the queue does)."""
        if self._holder is None or self._holder.done():
            self._ready = asyncio.get_running_loop().create_future()
            self._holder = asyncio.create_task(self._hold(self._ready), name="redis-queue")
        assert self._ready is not None
        await asyncio.shield(self._ready)
        return self._client.redis

    async def _hold(self, ready: asyncio.Future[None]) -> None:
        try:
            async with self._client, self._bytes:
                problem = await secret_problem(self._client.redis, self.keys, self._secret)
                if problem is not None:
                    log.error("GPU pool: %s", problem)
                    ready.set_exception(QueueError(problem))
                    ready.exception()
                    return
                ready.set_result(None)
                await self._closing.wait()
        except BaseException as exc:
            if not ready.done():
                if is_down(exc):  # one line for callers, not coredis's ExceptionGroup
                    exc = QueueError(f"the GPU queue cannot be reached ({_first_line(exc)})")
                ready.set_exception(exc)
                ready.exception()  # retrieved here too: nobody may be waiting any more
            if not isinstance(exc, Exception):
                raise

    # --- the contract --------------------------------------------------------------

    async def submit(self, job: EngineJob) -> None:
        try:
            async with self._submit_lock:  # one band decision at a time
                redis = await self._redis()
                status = await self._client.status_by_id(job.id)
                if status is not TaskStatus.NOT_FOUND:
                    return  # queued, running or done already: never twice
                if job.loras:
                    await self._require_an_engine_for(redis, job)
                already = await redis.scard(self.keys.user(job.user))
                chosen = band(already, job.priority)
                now_ms = int(self._clock() * 1000)
                async with redis.pipeline(transaction=True) as pipe:
                    pipe.zadd(self.keys.waiting, {job.id: order_score(chosen, now_ms)})
                    pipe.sadd(self.keys.user(job.user), [job.id])
                    pipe.hset(self.keys.owner, {job.id: job.user})
                stream = stream_name(chosen, job.lane)
                task = self._client.enqueue_unsafe(TASK, job.to_wire()).start(priority=stream)
                task.id = job.id
                await task
        except DOWN as exc:
            raise QueueError(f"the GPU queue cannot be reached ({exc})") from exc

    async def events(self, job_id: str) -> AsyncIterator[QueueEvent]:
        last_entry = "0"
        told: Waiting | None = None
        down = False
        while True:
            ended = False
            try:
                redis = await self._redis()
                entries = await redis.xread({self.keys.progress(job_id): last_entry}, count=100)
                for _, messages in (entries or {}).items():
                    for entry in messages:
                        last_entry, fields = entry.identifier, entry.field_values
                        if fields.get("kind") == "step":
                            yield Working(
                                int(fields["step"]),
                                int(fields["total"]),
                                int(fields["section"]),
                                int(fields["sections"]),
                                int(fields.get("keep", 0)),
                            )
                        elif fields.get("kind") == "started":
                            yield Working(0, 0, 0, 0)
                        ended = ended or fields.get("kind") == "end"
                status = await self._client.status_by_id(job_id)
                down = False
                if status is TaskStatus.DONE:
                    yield await self._outcome(job_id)
                    return
                if status is TaskStatus.NOT_FOUND:
                    yield Broke("the job is no longer in the GPU queue", "lost")
                    return
                if status in (TaskStatus.QUEUED, TaskStatus.SCHEDULED):
                    place = await self._place(job_id)
                    if place is not None and place != told:
                        told = place
                        yield place
            except DOWN as exc:
                if not down:
                    log.warning("GPU queue unreachable while following %s: %s", job_id, exc)
                    told = None  # tell the place again once it is back
                    yield Unreachable(
                        "The GPU queue cannot be reached just now; your job is kept and "
                        "goes on when it is back."
                    )
                down = True
                ended = False
            # The result lands a moment after the end entry: look again soon.
            await self._sleep(0.05 if ended else self.poll_s)

    async def cancel(self, job_id: str) -> bool:
        try:
            redis = await self._redis()
            status = await self._client.status_by_id(job_id)
            if status not in (TaskStatus.QUEUED, TaskStatus.SCHEDULED, TaskStatus.RUNNING):
                return False
            # A waiting task is dropped by the worker that takes it, unrun; a running
            # one is stopped by its worker within one engine step.
            await self._client.abort_by_id(job_id, timeout=0)
            await self._forget_waiting(redis, job_id)
            return True
        except DOWN as exc:
            raise QueueError(f"the GPU queue cannot be reached ({exc})") from exc

    async def keep(self, job_id: str) -> bool:
        try:
            redis = await self._redis()
            if await self._client.status_by_id(job_id) is not TaskStatus.RUNNING:
                return False
            last = await redis.xrevrange(self.keys.progress(job_id), count=1)
            fields = last[0].field_values if last else {}
            if fields.get("kind") != "step" or not int(fields.get("keep", 0)):
                return False  # nothing finished yet, or a sampler that cannot keep
            await redis.set(self.keys.keep(job_id), "1", ex=3600)
            return True
        except DOWN as exc:
            raise QueueError(f"the GPU queue cannot be reached ({exc})") from exc

    async def result(self, job_id: str, dest: Path) -> int:
        try:
            await self._redis()
            key = self.keys.video(job_id)
            data = await self._bytes.get(key)
            if data is None:
                raise QueueError("the finished video has expired from the GPU queue")
            # The video's key is not signed; its digest is, in the task's result.
            expected = await self._signed_digest(job_id)
            if expected is None or not hmac.compare_digest(video_digest(data), expected):
                log.warning("job %s: the video in Redis does not match its signed result", job_id)
                raise QueueError("the video in the GPU queue does not match what its worker signed")
            size = await asyncio.to_thread(_write, dest, data)
            # Kept a little longer, for a restart between this write and its record.
            await self._bytes.expire(key, self.video_keep_s)
            return size
        except DOWN as exc:
            raise QueueError(f"the GPU queue cannot be reached ({exc})") from exc

    def knows(self, job_id: str) -> bool:
        return True  # Redis keeps it across our restarts; a lost one says so in events

    async def aclose(self) -> None:
        self._closing.set()
        if self._holder is not None:
            with contextlib.suppress(*DOWN):
                await self._holder

    # --- reading the pool ----------------------------------------------------------

    async def queue_length(self) -> int:
        redis = await self._redis()
        return int(await redis.zcard(self.keys.waiting))

    async def live_workers(self) -> int:
        redis = await self._redis()
        since = (self._clock() - 3 * HEARTBEAT_S) * 1000
        return int(await redis.zcount(self.keys.workers, since, "+inf"))

    async def _require_an_engine_for(self, redis: Any, job: EngineJob) -> None:
        """NoEngineFor unless a live worker has every LoRA the job names: in a lane
        nobody serves it would wait for ever."""
        since = (self._clock() - 3 * HEARTBEAT_S) * 1000
        live = set(await redis.zrange(self.keys.workers, since, "+inf", sortby=PureToken.BYSCORE))
        installed = await redis.hgetall(self.keys.loras)
        wanted = {name for name, _ in job.loras}
        if any(
            wanted <= set(names.split(",")) for worker, names in installed.items() if worker in live
        ):
            return
        raise NoEngineFor(
            f"no GPU worker with the LoRA {', '.join(sorted(wanted))} is running just now: "
            "try again later, or without it"
        )

    async def _place(self, job_id: str) -> Waiting | None:
        redis = await self._redis()
        rank = await redis.zrank(self.keys.waiting, job_id)
        if rank is None:
            return None  # a worker has just taken it
        position = int(rank) + 1
        seconds = [float(s) for s in await redis.lrange(self.keys.seconds, 0, -1)]
        workers = await self.live_workers()
        eta = None
        if seconds and workers:
            # Whole rounds of the pool before this job's turn, at its measured speed.
            eta = math.ceil(position / workers) * (sum(seconds) / len(seconds))
        return Waiting(position, eta)

    async def _signed_digest(self, job_id: str) -> str | None:
        try:
            result = await self._client.result_by_id(job_id, timeout=10)
        except StreaqError:
            return None
        answer = result.result if result.success else None
        digest = answer.get("sha256") if isinstance(answer, dict) else None
        return digest if isinstance(digest, str) else None

    async def _outcome(self, job_id: str) -> Done | Broke:
        try:
            result = await self._client.result_by_id(job_id, timeout=10)
        except StreaqError as exc:  # a result whose signature does not verify
            log.warning("job %s: the GPU pool's result could not be verified: %s", job_id, exc)
            return Broke("the GPU pool's answer for this job could not be verified", "failed")
        if result.success:
            answer = result.result
            kept = answer.get("kept_frames")
            return Done(
                int(answer["seed"]),
                float(answer["seconds"]),
                str(answer["worker"]),
                int(kept) if kept is not None else None,
            )
        error = result.exception
        if isinstance(error, StreaqCancelled):
            return Broke("cancelled", "cancelled")
        return broke(error)

    async def _forget_waiting(self, redis: Any, job_id: str) -> None:
        user = await redis.hget(self.keys.owner, job_id)
        async with redis.pipeline(transaction=True) as pipe:
            pipe.zrem(self.keys.waiting, [job_id])
            if user is not None:
                pipe.srem(self.keys.user(user), [job_id])
            pipe.hdel(self.keys.owner, [job_id])


def _first_line(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _write(dest: Path, data: bytes) -> int:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    return len(data)
