"""The audit log: admin actions and safety blocks, append-only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.db import Connection, Database, parse_timestamp, timestamp


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any]


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self,
        action: str,
        *,
        actor: str,
        target: str | None,
        detail: dict[str, Any],
        now: datetime,
        tx: Connection,
    ) -> None:
        await tx.execute(
            "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
            (timestamp(now), actor, action, target, json.dumps(detail, sort_keys=True)),
        )

    async def recent(self, limit: int = 50, *, target: str | None = None) -> list[AuditEntry]:
        where, params = ("WHERE target = ?", (target,)) if target else ("", ())
        rows = await self._db.fetch_all(
            f"SELECT * FROM audit_log {where} ORDER BY id DESC LIMIT ?", (*params, limit)
        )
        return [
            AuditEntry(
                r["id"],
                parse_timestamp(r["at"]),
                r["actor"],
                r["action"],
                r["target"],
                json.loads(r["detail"]),
            )
            for r in rows
        ]
