"""What every role of the job service shares, built once by the composition root
(`bot.cli.run.build_service`) and handed down: the roles never build their own
collaborators and never reach back into the facade."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bot.clock import Clock
from bot.config import Settings
from bot.core.authority import Authority
from bot.core.cpu import CpuPool
from bot.core.quotas import QuotaService
from bot.core.safety import SafetyChecker
from bot.core.settings import ScopedSettings
from bot.core.updates import Updates
from bot.log import Redactor
from providers import Provider
from storage import Store

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class JobContext:
    store: Store
    settings: Settings
    # Mutable on purpose: the one map of running backends every role reads.
    providers: dict[str, Provider]
    safety: SafetyChecker
    quotas: QuotaService
    authority: Authority
    scoped: ScopedSettings
    clock: Clock
    sleep: Sleep  # paces retries; injected so that tests need not wait
    cpu: CpuPool
    updates: Updates
    redact: Redactor
    # This process, as the owner of the jobs it runs (bot.owner; leases in the store).
    owner: str

    @property
    def jobs_dir(self) -> Path:
        """One folder per job: its inputs, its result, its fitted copies."""
        return self.settings.data_dir / "jobs"
