"""Video posts in exactly one HTTP request.

discord.py's two HTTP layers (the bot's and the webhooks') retry every 5xx answer
unconditionally. That is right for reads, and wrong for creating a message: a 500 or a
502 after Discord made the message posts the video twice. So the videos go out here,
built by discord.py's own payload builder but sent once; the job service retries
instead, after looking for the earlier post (see `bot.discord.delivery`). Everything
else (status edits, replies) stays with discord.py.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import discord
from discord.http import MultipartParameters, Route

from bot.core.api import DeliveryError

UPLOAD_TIMEOUT = aiohttp.ClientTimeout(total=600, sock_connect=15)
# The form Discord asks bots to identify with.
USER_AGENT = f"DiscordBot (https://github.com/Rapptz/discord.py, {discord.__version__})"


class OneShotUploader:
    def __init__(self, bot_token: str) -> None:
        self._bot_token = bot_token
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def to_channel(self, channel_id: int, params: MultipartParameters) -> dict[str, Any]:
        return await self._post(
            f"/channels/{channel_id}/messages", params, {"Authorization": f"Bot {self._bot_token}"}
        )

    async def to_interaction(
        self, application_id: int, token: str, params: MultipartParameters
    ) -> dict[str, Any]:
        """A followup message on an interaction (its token authorises it)."""
        return await self._post(f"/webhooks/{application_id}/{token}?wait=true", params, {})

    async def _post(
        self, path: str, params: MultipartParameters, headers: dict[str, str]
    ) -> dict[str, Any]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=UPLOAD_TIMEOUT)
        form = aiohttp.FormData(quote_fields=False)
        for field in params.multipart or []:
            form.add_field(**field)
        headers = {"User-Agent": USER_AGENT, **headers}
        # aiohttp errors and timeouts propagate: the caller treats them as "maybe posted".
        async with self._session.post(Route.BASE + path, data=form, headers=headers) as answer:
            text = await answer.text()
            if 200 <= answer.status < 300:
                return json.loads(text)
            code = _error_code(text)
            if answer.status == 413 or code == 40005:
                raise DeliveryError("the upload is too large", too_large=True)
            raise DeliveryError(
                f"Discord answered {answer.status}",
                transient=answer.status >= 500 or answer.status == 429,
            )


def _error_code(text: str) -> int | None:
    try:
        body = json.loads(text)
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None
