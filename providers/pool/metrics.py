"""A GPU worker's Prometheus metrics (prometheus-client), served when asked for."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.jobs = Counter(
            "fpbot_worker_jobs",
            "Jobs this worker ended, by outcome (done, failed, stopped)",
            ["outcome"],
            registry=self.registry,
        )
        self.gpu_seconds = Counter(
            "fpbot_worker_gpu_seconds", "Seconds the engine worked on jobs", registry=self.registry
        )
        self.busy = Gauge(
            "fpbot_worker_busy_engines", "Engines running a job now", registry=self.registry
        )
        self.queue_length = Gauge(
            "fpbot_pool_queue_length", "Jobs waiting in the pool", registry=self.registry
        )

    def serve(self, port: int, address: str = "127.0.0.1") -> None:
        """The /metrics endpoint, in a thread of its own."""
        start_http_server(port, address, registry=self.registry)
