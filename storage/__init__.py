"""Durable state: jobs, the quota ledger, limits, scoped settings, audit.

Imports nothing else of ours. `Store.open(location)` opens the database (an SQLite
file, or a PostgreSQL URL), applies the migrations and hands out one repository per
table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from storage.audit import AuditEntry, AuditLog
from storage.backends import open_database
from storage.db import (
    SCHEMA_VERSION,
    Connection,
    Database,
    StorageError,
    StoreLocation,
)
from storage.jobs import (
    ACTIVE_STATES,
    FINAL_STATES,
    DuplicateSource,
    JobRecord,
    JobState,
    JobStore,
    NewJob,
)
from storage.leases import Lease, Leases
from storage.limits import LimitOverride, LimitStore
from storage.quota_ledger import Caps, Limit, QuotaLedger, Refusal, ReserveOutcome, member_key
from storage.request_windows import RequestWindows
from storage.scope_settings import ScopeSettings
from storage.user_languages import UserLanguages


@dataclass
class Store:
    db: Database
    jobs: JobStore
    ledger: QuotaLedger
    limits: LimitStore
    settings: ScopeSettings
    audit: AuditLog
    languages: UserLanguages
    leases: Leases
    windows: RequestWindows

    @classmethod
    async def open(cls, location: StoreLocation | str, *, busy_timeout_ms: int = 5000) -> Store:
        """`location`: an SQLite file's path, or a PostgreSQL URL as a SecretStr."""
        if isinstance(location, str):
            location = Path(location)
        db = await open_database(location, busy_timeout_ms=busy_timeout_ms)
        return cls(
            db,
            JobStore(db),
            QuotaLedger(db),
            LimitStore(db),
            ScopeSettings(db),
            AuditLog(db),
            UserLanguages(db),
            Leases(db),
            RequestWindows(db),
        )

    async def close(self) -> None:
        await self.db.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


__all__ = [
    "ACTIVE_STATES",
    "FINAL_STATES",
    "SCHEMA_VERSION",
    "AuditEntry",
    "AuditLog",
    "Caps",
    "Connection",
    "Database",
    "DuplicateSource",
    "JobRecord",
    "JobState",
    "JobStore",
    "Lease",
    "Leases",
    "Limit",
    "LimitOverride",
    "LimitStore",
    "NewJob",
    "QuotaLedger",
    "Refusal",
    "RequestWindows",
    "ReserveOutcome",
    "ScopeSettings",
    "StorageError",
    "Store",
    "StoreLocation",
    "member_key",
]
