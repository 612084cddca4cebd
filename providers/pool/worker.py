"""A GPU machine's process in the pool: `framepack-bot worker`.

It loads the engine once, then takes one job at a time per engine from the Redis queue
(streaq), runs it in a thread (the event loop stays free to renew the job's lease, so
a healthy long job is never taken from it), publishes progress, and leaves the MP4 in
Redis for the bot. A cancel stops the engine within one step. SIGTERM lets the current
job finish within the grace period, else stops it and hands it back to the queue; a
worker that dies is noticed when its lease runs out (one to two idle timeouts) and its
job runs on another worker. When Redis goes away the worker waits and reconnects.

A worker takes only jobs whose LoRAs it has (its lanes, providers.pool.contract), and
says which it has with its heartbeat, so the bot refuses a job nobody could run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from coredis import PureToken, Redis
from streaq import Worker
from streaq.constants import REDIS_GROUP

from local_engine.request import Progress
from providers.pool.contract import EngineJob, Renderer, lanes_served
from providers.pool.metrics import WorkerMetrics
from providers.pool.redis import (
    DOWN,
    HEARTBEAT_S,
    TASK,
    Keys,
    is_down,
    require_secret,
    streaq_worker,
    video_digest,
)
from providers.pool.running import Rendered, render

log = logging.getLogger(__name__)

MAX_TRIES = 3  # a job that takes down three workers fails instead of a fourth
RECONNECT_S = 2.0
KEEP_POLL_S = 0.25  # how soon a running job sees a Stop-and-keep


@dataclass(frozen=True)
class WorkerSettings:
    redis_url: str
    secret: str
    workdir: Path
    queue: str = "framepack"
    idle_timeout_s: float = 60.0
    grace_s: int = 0  # after SIGTERM: time for the current job before it is handed back
    result_ttl_s: int = 3600
    worker_id: str | None = None
    loras: tuple[str, ...] = ()  # the LoRAs installed here, by name


class GpuWorker:
    def __init__(
        self,
        settings: WorkerSettings,
        renderers: Sequence[Renderer],
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.id = settings.worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.keys = Keys(settings.queue)
        self.metrics = metrics
        self._renderers: asyncio.Queue[Renderer] = asyncio.Queue()
        for renderer in renderers:
            self._renderers.put_nowait(renderer)
        self.concurrency = len(renderers)
        self._worker: Worker[Any] | None = None
        self._bytes: Redis[bytes] | None = None
        settings.workdir.mkdir(parents=True, exist_ok=True)

    async def serve(self) -> None:
        """Until SIGTERM or SIGINT; through Redis outages."""
        while True:
            worker = self._build()
            try:
                # Before any task is read (SecretMismatch).
                await require_secret(self.settings.redis_url, self.keys, self.settings.secret)
                await worker.run_async()
                return  # stopped by a signal
            except Exception as exc:
                if not is_down(exc):
                    raise
                log.warning("Redis is unreachable (%s); trying again in %g s", exc, RECONNECT_S)
            await asyncio.sleep(RECONNECT_S)

    def _build(self) -> Worker[Any]:
        worker = streaq_worker(
            self.settings.redis_url,
            self.settings.secret,
            self.settings.queue,
            lanes=lanes_served(self.settings.loras),
            cls=_TakesOnlyWhatItCanRun,
            concurrency=self.concurrency,
            idle_timeout=self.settings.idle_timeout_s,
            grace_period=self.settings.grace_s,
            lifespan=self._lifespan,
            id=self.id,
        )
        # streaq 7.2 reads `prefetch + concurrency` messages ahead, so even prefetch=0
        # would leave one queued job held by a busy GPU. A worker takes only what it can
        # start now, leaving the rest to idle workers.
        worker.prefetch = worker.concurrency

        @worker.task(name=TASK, ttl=self.settings.result_ttl_s, max_tries=MAX_TRIES)
        async def framepack(wire: dict[str, Any]) -> dict[str, Any]:
            return await self._run(worker, EngineJob.from_wire(wire))

        self._worker = worker
        return worker

    @contextlib.asynccontextmanager
    async def _lifespan(self) -> AsyncIterator[GpuWorker]:
        async with Redis.from_url(self.settings.redis_url, decode_responses=False) as raw:
            self._bytes = raw
            beat = asyncio.create_task(self._heartbeat())
            try:
                yield self
            finally:
                beat.cancel()
                await asyncio.gather(beat, return_exceptions=True)

    async def _heartbeat(self) -> None:
        """Live workers and their LoRAs, for the ETA the bot shows and for the jobs it
        may take."""
        assert self._worker is not None
        installed = ",".join(sorted(self.settings.loras))
        while True:
            with contextlib.suppress(*DOWN):
                redis = self._worker.redis
                async with redis.pipeline(transaction=True) as pipe:
                    pipe.hset(self.keys.loras, {self.id: installed})
                    pipe.zadd(self.keys.workers, {self.id: time.time() * 1000})
                if self.metrics is not None:
                    self.metrics.queue_length.set(await redis.zcard(self.keys.waiting))
            await asyncio.sleep(HEARTBEAT_S)

    async def _run(self, worker: Worker[Any], job: EngineJob) -> dict[str, Any]:
        redis = worker.redis
        progress_key = self.keys.progress(job.id)
        async with redis.pipeline(transaction=True) as pipe:  # it has left the line
            pipe.zrem(self.keys.waiting, [job.id])
            pipe.srem(self.keys.user(job.user), [job.id])
            pipe.hdel(self.keys.owner, [job.id])
            pipe.xadd(progress_key, {"kind": "started", "worker": self.id})
            pipe.expire(progress_key, self.settings.result_ttl_s)
        renderer = await self._renderers.get()
        steps: asyncio.Queue[Progress] = asyncio.Queue()
        publisher = asyncio.create_task(self._publish(redis, progress_key, steps))
        if self.metrics is not None:
            self.metrics.busy.inc()
        out = self.settings.workdir / f"{job.id}.mp4"
        try:
            rendered = await self._render(worker, renderer, job, out, steps)
        except BaseException:
            out.unlink(missing_ok=True)  # what a stopped or failed engine left
            raise
        finally:
            publisher.cancel()
            self._renderers.put_nowait(renderer)
            if self.metrics is not None:
                self.metrics.busy.dec()
        data = await asyncio.to_thread(out.read_bytes)
        assert self._bytes is not None
        await self._bytes.set(self.keys.video(job.id), data, ex=self.settings.result_ttl_s)
        seconds, kept = rendered.seconds, rendered.kept_frames
        async with redis.pipeline(transaction=True) as pipe:
            if kept is None:  # a kept part says nothing of a whole job's time
                pipe.lpush(self.keys.seconds, [f"{seconds:.3f}"])
                pipe.ltrim(self.keys.seconds, 0, 19)
            pipe.xadd(progress_key, {"kind": "end"})
        out.unlink(missing_ok=True)
        log.info("job %s done in %.1f s (%d bytes)", job.id, seconds, len(data))
        # Signed with the result: the bot checks the unsigned video against it.
        digest = video_digest(data)
        answer = {"seed": job.seed, "seconds": seconds, "worker": self.id, "sha256": digest}
        return answer if kept is None else {**answer, "kept_frames": kept}

    async def _render(
        self,
        worker: Worker[Any],
        renderer: Renderer,
        job: EngineJob,
        out: Path,
        steps: asyncio.Queue[Progress],
    ) -> Rendered:
        loop = asyncio.get_running_loop()
        cancel, keep = threading.Event(), threading.Event()
        started = time.monotonic()

        def progress(p: Progress) -> None:
            loop.call_soon_threadsafe(steps.put_nowait, p)

        work = asyncio.ensure_future(
            asyncio.to_thread(
                render, renderer, job, out, on_progress=progress, cancel=cancel, keep=keep
            )
        )
        asked = asyncio.create_task(self._keep_when_asked(worker.redis, job.id, keep))
        outcome = "failed"
        try:
            rendered = await asyncio.shield(work)
            outcome = "done"
            return rendered
        except BaseException as exc:
            if isinstance(exc, anyio.get_cancelled_exc_class()):
                # Aborted by the bot, or SIGTERM's grace is over: stop the engine within
                # one step and wait for it, so the GPU is free for the next job.
                outcome = "stopped"
                cancel.set()
                with anyio.CancelScope(shield=True):
                    await asyncio.gather(work, return_exceptions=True)
            raise
        finally:
            asked.cancel()
            if self.metrics is not None:
                self.metrics.jobs.labels(outcome).inc()
                self.metrics.gpu_seconds.inc(time.monotonic() - started)

    async def _keep_when_asked(self, redis: Any, job_id: str, keep: threading.Event) -> None:
        """The bot asks for a Stop-and-keep by a key; looked for while the job runs."""
        while True:
            with contextlib.suppress(*DOWN):
                if await redis.exists([self.keys.keep(job_id)]):
                    keep.set()
                    return
            await asyncio.sleep(KEEP_POLL_S)

    @staticmethod
    async def _publish(redis: Any, key: str, steps: asyncio.Queue[Progress]) -> None:
        """Progress, best effort and in order; a step missed is made good by the next."""
        while True:
            p = await steps.get()
            while not steps.empty():
                p = steps.get_nowait()  # only the latest matters
            with contextlib.suppress(*DOWN):
                await redis.xadd(
                    key,
                    {
                        "kind": "step",
                        "step": p.step,
                        "total": p.total_steps,
                        "section": p.section,
                        "sections": p.sections,
                        "keep": p.keepable_frames,
                    },
                    trim_strategy=PureToken.MAXLEN,
                    threshold=200,
                    trim_operator=PureToken.APPROXIMATELY,
                )


class _TakesOnlyWhatItCanRun(Worker[Any]):
    """streaq 7.2 on Redis < 8.4 blocks with XREADGROUP COUNT n over every priority
    stream, and COUNT is per stream: jobs landing in two bands at once come back
    together, more than this worker can start (and more than its prefetch buffer
    holds: the producer fails). Any beyond `count` are handed straight back, as streaq
    itself hands back a task it cannot finish: marked idle, so the next read by any
    worker claims them. Streams come in priority order, so the first kept is the one
    to serve first."""

    async def _read_streams_legacy(self, count: int, block: bool = False) -> Any:
        entries = await super()._read_streams_legacy(count, block)
        if not entries:
            return entries
        kept: dict[str, Any] = {}
        room = count
        for stream, messages in entries.items():
            take, extra = messages[:room], messages[room:]
            room -= len(take)
            if take:
                kept[stream] = take
            if extra:
                await self.redis.xclaim(
                    stream,
                    REDIS_GROUP,
                    self.id,
                    0,
                    [message[0] for message in extra],
                    justid=True,
                    idle=self.idle_timeout,
                )
        return kept
