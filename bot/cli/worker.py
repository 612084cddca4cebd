"""`framepack-bot worker`: a GPU machine's process in the pool (providers.pool.worker)."""

from __future__ import annotations

import asyncio
import logging

from bot.config import Settings

log = logging.getLogger(__name__)


async def serve_worker(
    settings: Settings,
    redis_url: str,
    *,
    concurrency: int,
    gpu: int | None,
    metrics_port: int | None,
    worker_id: str | None,
) -> None:
    """Load the engine (once per job slot), then serve jobs until SIGTERM."""
    from providers.local import engine_loader
    from providers.pool.metrics import WorkerMetrics
    from providers.pool.worker import GpuWorker, WorkerSettings

    pool = settings.providers.local
    assert pool.secret is not None  # checked by the command
    await refuse_a_foreign_secret(redis_url, pool.queue, pool.secret.get_secret_value())
    device = f"cuda:{gpu}" if gpu is not None else settings.engine.device
    load = engine_loader(settings.engine, device=device)
    renderers = [await asyncio.to_thread(load) for _ in range(concurrency)]
    metrics = None
    if metrics_port is not None:
        metrics = WorkerMetrics()
        try:
            metrics.serve(metrics_port, settings.metrics.address)
        except OSError as exc:  # a port in use must not keep the GPU idle
            log.error(
                "metrics: cannot listen on port %d (%s); running without them", metrics_port, exc
            )
            metrics = None
    worker = GpuWorker(
        WorkerSettings(
            redis_url=redis_url,
            secret=pool.secret.get_secret_value(),
            workdir=settings.data_dir / "worker",
            queue=pool.queue,
            idle_timeout_s=pool.idle_timeout_s,
            grace_s=pool.grace_s,
            result_ttl_s=pool.result_ttl_s,
            worker_id=worker_id,
            loras=tuple(settings.engine.loras),
        ),
        renderers,
        metrics,
    )
    log.info(
        "worker %s serving queue %r on %s, %d job(s) at a time",
        worker.id,
        pool.queue,
        device,
        concurrency,
    )
    await worker.serve()
    log.info("worker %s stopped", worker.id)


async def refuse_a_foreign_secret(redis_url: str, queue: str, secret: str) -> None:
    """Before minutes of loading weights: SecretMismatch when the pool's Redis was set
    up with another secret. An unreachable Redis is waited for later, by the worker."""
    from providers.pool.redis import Keys, is_down, require_secret

    try:
        await require_secret(redis_url, Keys(queue), secret)
    except Exception as exc:
        if not is_down(exc):
            raise
        log.warning("the pool's Redis is not reachable yet; the worker will keep trying")
