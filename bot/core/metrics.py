"""The bot's Prometheus metrics (prometheus-client), kept from the job service's
updates: jobs by state, the queue's length, how jobs ended, how long they took,
provider failures, deliveries and the credits they were charged. Served only when
`[metrics] port` is set."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from bot.core.api import JobUpdate
from bot.core.quotas import MC_PER_CREDIT
from storage import JobRecord, JobState


class BotMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.jobs = Gauge(
            "fpbot_jobs", "Unfinished jobs by state", ["state"], registry=self.registry
        )
        self.queue_length = Gauge(
            "fpbot_queue_length", "Jobs accepted and not yet finished", registry=self.registry
        )
        self.ended = Counter(
            "fpbot_jobs_ended",
            "Jobs that ended, by final state and provider",
            ["state", "provider"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "fpbot_job_duration_seconds",
            "From acceptance to the end, by final state",
            ["state"],
            buckets=(5, 15, 30, 60, 120, 300, 600, 1200, 3600),
            registry=self.registry,
        )
        self.provider_errors = Counter(
            "fpbot_provider_errors",
            "Jobs that failed after reaching their provider",
            ["provider"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "fpbot_deliveries", "Videos posted, by platform", ["platform"], registry=self.registry
        )
        self.spent = Counter(
            "fpbot_spent_credits",
            "Credits charged for delivered videos, by provider",
            ["provider"],
            registry=self.registry,
        )
        self._states: dict[str, JobState] = {}  # unfinished jobs seen so far
        self._ended_ids: dict[str, None] = {}  # the last ones, to count each end once

    def seed(self, active: list[JobRecord]) -> None:
        """The unfinished jobs found at start-up."""
        for job in active:
            self._states[job.id] = job.state
        self._count()

    async def __call__(self, update: JobUpdate) -> None:
        """A job service listener."""
        job = update.job
        if job.state.is_final:
            self._states.pop(job.id, None)
            if job.id in self._ended_ids:
                return  # told twice
            self._ended_ids[job.id] = None
            if len(self._ended_ids) > 10_000:
                del self._ended_ids[next(iter(self._ended_ids))]
            self.ended.labels(job.state.value, job.provider).inc()
            if job.finished_at is not None:
                seconds = (job.finished_at - job.created_at).total_seconds()
                self.duration.labels(job.state.value).observe(seconds)
            if job.state is JobState.FAILED and job.provider_handle is not None:
                self.provider_errors.labels(job.provider).inc()
            if job.state is JobState.DELIVERED:  # charged (a kept part: its share)
                self.deliveries.labels(job.platform).inc()
                self.spent.labels(job.provider).inc(job.cost_mc / MC_PER_CREDIT)
        else:
            self._states[job.id] = job.state
        self._count()

    def serve(self, port: int, address: str = "127.0.0.1") -> None:
        start_http_server(port, address, registry=self.registry)

    def _count(self) -> None:
        for state in JobState:
            if not state.is_final:
                count = sum(1 for s in self._states.values() if s is state)
                self.jobs.labels(state.value).set(count)
        self.queue_length.set(len(self._states))
