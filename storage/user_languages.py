"""The language each user chose (/language); the names are bot.i18n's, unchecked here."""

from __future__ import annotations

from datetime import datetime

from storage.db import Database, timestamp


class UserLanguages:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, user_key: str) -> str | None:
        row = await self._db.fetch_one(
            "SELECT locale FROM user_languages WHERE user_key = ?", (user_key,)
        )
        return str(row["locale"]) if row else None

    async def set(self, user_key: str, locale: str | None, *, now: datetime) -> None:
        """`locale` None: forget the choice (the app's language again)."""
        if locale is None:
            await self._db.write("DELETE FROM user_languages WHERE user_key = ?", (user_key,))
            return
        await self._db.write(
            "INSERT INTO user_languages (user_key, locale, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (user_key) DO UPDATE SET locale = excluded.locale,"
            " updated_at = excluded.updated_at",
            (user_key, locale, timestamp(now)),
        )
