"""A loopback Telegram Bot API for the real python-telegram-bot: `/bot{token}/{method}`
and `/file/bot{token}/{path}`, as a local Bot API server serves them.

Point an Application at it with `.base_url(fake.base_url + "/bot")` and
`.base_file_url(fake.base_url + "/file/bot")`. A test pushes updates (`push_update`,
or the `message`/`photo_message` builders), which the bot receives through
getUpdates long polling with offsets; everything the bot calls is recorded in `calls`
(method, parameters, uploaded files). Parameters arrive as form fields whose values
are JSON-encoded, or as multipart for uploads.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.loopback import LoopbackServer

BOT_ID = 800_000_001
BOT_USERNAME = "framepack_test_bot"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)


def _user(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {"id": user_id, "is_bot": bot, "first_name": name, "username": name.lower()}


class FakeTelegram(LoopbackServer):
    def __init__(self, token: str = "123456:fake-telegram-token") -> None:
        self.token = token
        self.calls: list[Call] = []
        self.files: dict[str, bytes] = {}  # file_id -> content
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._new_update = asyncio.Event()
        super().__init__()
        self.app = web.Application(client_max_size=100 * 2**20)
        self.app.router.add_route("*", "/bot{token}/{method}", self._method)
        self.app.router.add_get("/file/bot{token}/{path:.*}", self._file)

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/bot"

    @property
    def file_base(self) -> str:
        return f"{self.base_url}/file/bot"

    # --- what tests do -------------------------------------------------------------------

    def push_update(self, **update: Any) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **update}
        self._updates.append(update)
        self._new_update.set()
        return update

    def add_file(self, data: bytes) -> str:
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = data
        return file_id

    def message(
        self, text: str | None = None, *, chat_id: int = 5001, user_id: int = 7001, **extra: Any
    ) -> dict[str, Any]:
        chat = {"id": chat_id, "type": "private" if chat_id > 0 else "group"}
        if chat_id > 0:
            chat["first_name"] = "user"
        else:
            chat["title"] = "a group"
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": _user(user_id, f"user{user_id}"),
            **extra,
        }
        if text is not None:
            message["text"] = text
        return message

    def photo_message(self, data: bytes, caption: str = "", **who: Any) -> dict[str, Any]:
        file_id = self.add_file(data)
        photo = [
            {
                "file_id": file_id,
                "file_unique_id": f"u-{file_id}",
                "width": 128,
                "height": 72,
                "file_size": len(data),
            }
        ]
        return self.message(None, photo=photo, caption=caption, **who)

    def of_method(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    # --- the API --------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> tuple[dict[str, Any], dict]:
        params: dict[str, Any] = dict(request.query)
        files: dict[str, tuple[str, bytes]] = {}
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if part.filename:
                    files[part.name or ""] = (part.filename, await part.read())
                else:
                    params[part.name or ""] = await part.text()
        elif request.content_type == "application/json":
            params.update(await request.json())
        elif request.can_read_body:
            params.update(await request.post())
        decoded = {}
        for key, value in params.items():
            try:
                decoded[key] = json.loads(value) if isinstance(value, str) else value
            except ValueError:
                decoded[key] = value
        return decoded, files

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        params, files = await self._params(request)
        if method != "getUpdates":
            self.calls.append(Call(method, params, files))
        handler = getattr(self, f"_{method}", None)
        if handler is None:
            return self._ok(True)
        return await handler(params)

    async def _getMe(self, params: dict) -> web.Response:
        return self._ok(
            {
                **_user(BOT_ID, "framepack", bot=True),
                "username": BOT_USERNAME,
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        )

    async def _getUpdates(self, params: dict) -> web.Response:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates and timeout:
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):  # a long poll that ends empty
                await asyncio.wait_for(self._new_update.wait(), min(timeout, 2.0))
        return self._ok(list(self._updates))

    async def _getFile(self, params: dict) -> web.Response:
        file_id = params.get("file_id")
        if file_id not in self.files:
            return web.json_response(
                {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"},
                status=400,
            )
        return self._ok(
            {
                "file_id": file_id,
                "file_unique_id": f"u-{file_id}",
                "file_size": len(self.files[file_id]),
                "file_path": f"photos/{file_id}.jpg",
            }
        )

    async def _sendMessage(self, params: dict) -> web.Response:
        return self._ok(self._sent_message(params, text=str(params.get("text", ""))))

    async def _editMessageText(self, params: dict) -> web.Response:
        return self._ok(self._sent_message(params, text=str(params.get("text", ""))))

    async def _sendVideo(self, params: dict) -> web.Response:
        sent = self._sent_message(params, caption=str(params.get("caption", "")))
        sent["video"] = {
            "file_id": "video-1",
            "file_unique_id": "uv-1",
            "width": int(params.get("width") or 0),
            "height": int(params.get("height") or 0),
            "duration": int(params.get("duration") or 0),
        }
        return self._ok(sent)

    def _sent_message(self, params: dict, **content: Any) -> dict[str, Any]:
        chat_id = int(params.get("chat_id") or 0)
        return {
            "message_id": int(params.get("message_id") or next(self._message_ids)),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "from": _user(BOT_ID, "framepack", bot=True),
            **content,
        }

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        file_id = request.match_info["path"].rsplit("/", 1)[-1].removesuffix(".jpg")
        data = self.files.get(file_id)
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")
