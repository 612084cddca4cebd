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
import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.fakes.loopback import LoopbackServer

BOT_ID = 800_000_001
_WITH_FILES = {"sendPhoto", "sendVideo", "sendAnimation", "editMessageMedia"}
_ADMIN_RIGHTS = {
    key: True
    for key in (
        "can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages",
        "can_manage_video_chats", "can_restrict_members", "can_promote_members",
        "can_change_info", "can_invite_users", "can_post_stories", "can_edit_stories",
        "can_delete_stories",
    )
}  # fmt: skip
BOT_USERNAME = "framepack_test_bot"
CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot "
    "instance is running"
)


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)  # when it arrived


def _entities(text: str) -> list[dict[str, Any]]:
    """What Telegram marks in a text: commands and @mentions (offsets in UTF-16 units,
    which equal characters for the ASCII these tests use)."""
    found = []
    for match in re.finditer(r"(?<!\S)(/\w+(?:@\w+)?|@\w+)", text):
        kind = "bot_command" if match.group(0).startswith("/") else "mention"
        if kind == "bot_command" and match.start() != 0:
            continue
        found.append({"type": kind, "offset": match.start(), "length": len(match.group(0))})
    return found


def _user(
    user_id: int, name: str, *, bot: bool = False, language_code: str | None = None
) -> dict[str, Any]:
    user = {"id": user_id, "is_bot": bot, "first_name": name, "username": name.lower()}
    return user if language_code is None else {**user, "language_code": language_code}


def buttons(message: dict[str, Any] | None) -> dict[str, str]:
    """The inline buttons under one of the bot's messages: label -> callback data."""
    rows = ((message or {}).get("reply_markup") or {}).get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row}


class FakeTelegram(LoopbackServer):
    def __init__(self, token: str = "123456:fake-telegram-token") -> None:
        self.token = token
        self.calls: list[Call] = []
        self.files: dict[str, bytes] = {}  # file_id -> content
        # Lies a test can make getFile tell: another size, another path.
        self.announced_sizes: dict[str, int] = {}
        self.file_paths: dict[str, str] = {}
        # file_id -> bytes to stream (a megabyte at a time) instead of its content.
        self.endless_files: dict[str, int] = {}
        self.bytes_served: dict[str, int] = {}
        self.file_requests: list[str] = []  # paths asked of /file/
        self.videos: list[bytes] = []  # every video upload, in order
        self._updates: list[dict[str, Any]] = []
        self.pushed_at: dict[int, float] = {}
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._new_update = asyncio.Event()
        self._long_poll: asyncio.Event | None = None  # the getUpdates waiting now
        self.conflicts = 0  # long polls ended by another's getUpdates (409)
        # What the bot's messages show now: (chat_id, message_id) -> the message.
        self.sent: dict[tuple[int, int], dict[str, Any]] = {}
        self.admins: dict[int, set[int]] = {}  # chat_id -> administrator user ids
        # Faults for the next calls of a method: "after" = apply, then answer 502.
        self.faults: dict[str, list[str]] = {}
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
        """Make an update available to getUpdates (`pushed_at` records when)."""
        update = {"update_id": next(self._update_ids), **update}
        self.pushed_at[update["update_id"]] = time.monotonic()
        self._updates.append(update)
        self._new_update.set()
        return update

    def redeliver(self, update: dict[str, Any]) -> None:
        """What Telegram does after a bot died before confirming an update (by asking
        for a higher offset): the same update, same update_id, is handed over again."""
        self._updates.append(update)
        self._updates.sort(key=lambda u: u["update_id"])
        self._new_update.set()

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by the bot."""
        return list(self._updates)

    async def _endless(self, request: web.Request, file_id: str) -> web.StreamResponse:
        """Serve `endless_files[file_id]` bytes a megabyte at a time, counting what
        went out before the reader hung up."""
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await response.prepare(request)
        chunk = b"\0" * (1 << 20)
        self.bytes_served[file_id] = 0
        with contextlib.suppress(ConnectionError, RuntimeError):
            while self.bytes_served[file_id] < self.endless_files[file_id]:
                await response.write(chunk)
                self.bytes_served[file_id] += len(chunk)
        return response

    def add_file(self, data: bytes) -> str:
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = data
        return file_id

    def message(
        self,
        text: str | None = None,
        *,
        chat_id: int = 5001,
        user_id: int = 7001,
        language_code: str | None = None,
        **extra: Any,
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
            "from": _user(user_id, f"user{user_id}", language_code=language_code),
            **extra,
        }
        if text is not None:
            message["text"] = text
            message["entities"] = _entities(text)
        if extra.get("caption"):
            message["caption_entities"] = _entities(extra["caption"])
        return message

    def photo_message(
        self, data: bytes, caption: str = "", *, file_size: int | None = None, **who: Any
    ) -> dict[str, Any]:
        file_id = self.add_file(data)
        photo = [
            {
                "file_id": file_id,
                "file_unique_id": f"u-{file_id}",
                "width": 128,
                "height": 72,
                "file_size": len(data) if file_size is None else file_size,
            }
        ]
        return self.message(None, photo=photo, caption=caption, **who)

    def document_message(
        self, data: bytes, caption: str = "", mime_type: str = "image/png", **who: Any
    ) -> dict[str, Any]:
        file_id = self.add_file(data)
        document = {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "file_name": "image.png",
            "mime_type": mime_type,
            "file_size": len(data),
        }
        return self.message(None, document=document, caption=caption, **who)

    def press(self, data: str, message: dict[str, Any], *, user_id: int = 7001) -> dict[str, Any]:
        """A callback query: `user_id` pressed a button with `data` under `message`."""
        query = {
            "id": f"q{next(self._update_ids)}",
            "from": _user(user_id, f"user{user_id}"),
            "chat_instance": "ci",
            "data": data,
            "message": message,
        }
        return self.push_update(callback_query=query)

    def bot_message(self, chat_id: int, message_id: int) -> dict[str, Any]:
        return self.sent[(chat_id, message_id)]

    def answers(self, chat_id: int | None = None) -> list[str]:
        """Texts the bot sent (sendMessage), in order."""
        return [
            str(c.params.get("text"))
            for c in self.of_method("sendMessage")
            if chat_id is None or int(c.params.get("chat_id") or 0) == chat_id
        ]

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
        faults = self.faults.get(method)
        fault = faults.pop(0) if faults else None
        if fault == "before":
            return web.json_response(
                {"ok": False, "error_code": 502, "description": "Bad Gateway"}, status=502
            )
        response = await handler(params, files) if method in _WITH_FILES else await handler(params)
        if fault == "after":  # done, but the bot never hears so
            return web.json_response(
                {"ok": False, "error_code": 502, "description": "Bad Gateway"}, status=502
            )
        return response

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
        # As Telegram: a getUpdates ends the long poll still open (another poller's).
        if self._long_poll is not None:
            self._long_poll.set()
        if not self._updates and timeout:
            self._new_update.clear()
            ended = self._long_poll = asyncio.Event()
            waits = [asyncio.ensure_future(e.wait()) for e in (self._new_update, ended)]
            try:
                await asyncio.wait(waits, timeout=min(timeout, 2.0), return_when="FIRST_COMPLETED")
            finally:
                for wait in waits:
                    wait.cancel()
                if self._long_poll is ended:
                    self._long_poll = None
            if ended.is_set():
                self.conflicts += 1
                return web.json_response(
                    {"ok": False, "error_code": 409, "description": CONFLICT}, status=409
                )
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
                # A server may lie about both (tests set these).
                "file_size": self.announced_sizes.get(file_id, len(self.files[file_id])),
                "file_path": self.file_paths.get(file_id, f"photos/{file_id}.jpg"),
            }
        )

    async def _sendMessage(self, params: dict) -> web.Response:
        return self._ok(self._sent_message(params, text=str(params.get("text", ""))))

    async def _editMessageText(self, params: dict) -> web.Response:
        return self._ok(self._sent_message(params, text=str(params.get("text", ""))))

    async def _getChatAdministrators(self, params: dict) -> web.Response:
        chat_id = int(params["chat_id"])
        return self._ok(
            [
                {"status": "administrator", "user": _user(uid, f"user{uid}"), **_ADMIN_RIGHTS}
                for uid in sorted(self.admins.get(chat_id, set()))
            ]
        )

    async def _sendPhoto(self, params: dict, files: dict) -> web.Response:
        photo = params.get("photo")
        if "photo" in files:
            photo = self.add_file(files["photo"][1])
        elif photo not in self.files:
            return self._error("Bad Request: wrong file identifier/HTTP URL specified")
        sent = self._sent_message(params, caption=str(params.get("caption", "")))
        size = {"file_id": photo, "file_unique_id": f"u-{photo}", "width": 90, "height": 90}
        sent["photo"] = [size]
        return self._ok(sent)

    async def _editMessageCaption(self, params: dict) -> web.Response:
        known = self.sent.get((int(params["chat_id"]), int(params["message_id"])))
        if known is None:
            return self._error("Bad Request: message to edit not found")
        if "text" in known:
            return self._error("Bad Request: there is no caption in the message to edit")
        caption = str(params.get("caption", ""))
        markup = params.get("reply_markup")
        if known.get("caption") == caption and known.get("reply_markup") == markup:
            return self._error("Bad Request: message is not modified")
        known["caption"] = caption
        known["reply_markup"] = markup
        known["edits"] = known.get("edits", 0) + 1
        return self._ok(known)

    async def _editMessageMedia(self, params: dict, files: dict) -> web.Response:
        known = self.sent.get((int(params["chat_id"]), int(params["message_id"])))
        if known is None:
            return self._error("Bad Request: message to edit not found")
        media = params["media"]
        if media.get("type") not in ("video", "animation") or "text" in known:
            return self._error("Bad Request: wrong type of the web page content")
        known.pop("photo", None)
        known[media["type"]] = self._video(media, files)
        known["caption"] = str(media.get("caption", ""))
        known["reply_markup"] = params.get("reply_markup")
        return self._ok(known)

    def _video(self, fields: dict, files: dict) -> dict[str, Any]:
        """The video of a sendVideo or an InputMediaVideo, with what came with it."""

        def attached(value: Any) -> bytes | None:
            if isinstance(value, str) and value.startswith("attach://"):
                return files[value.removeprefix("attach://")][1]
            return None

        data = (
            attached(fields.get("media"))
            or files.get("video", ("", b""))[1]
            or files.get("animation", ("", b""))[1]
        )
        thumb = attached(fields.get("thumbnail")) or files.get("thumbnail", ("", b""))[1]
        self.videos.append(data)
        return {
            "file_id": f"video-{len(self.videos)}",
            "file_unique_id": f"uv-{len(self.videos)}",
            "width": int(fields.get("width") or 0),
            "height": int(fields.get("height") or 0),
            "duration": int(fields.get("duration") or 0),
            "supports_streaming": bool(fields.get("supports_streaming")),
            "thumbnail_bytes": len(thumb),
            "bytes": len(data),
        }

    @staticmethod
    def _error(description: str, code: int = 400) -> web.Response:
        return web.json_response(
            {"ok": False, "error_code": code, "description": description}, status=code
        )

    async def _sendVideo(self, params: dict, files: dict) -> web.Response:
        sent = self._sent_message(params, caption=str(params.get("caption", "")))
        sent["video"] = self._video(params, files)
        return self._ok(sent)

    async def _sendAnimation(self, params: dict, files: dict) -> web.Response:
        """An MP4 without sound sent so plays on repeat in Telegram's apps."""
        sent = self._sent_message(params, caption=str(params.get("caption", "")))
        sent["animation"] = self._video(params, files)
        return self._ok(sent)

    def _sent_message(self, params: dict, **content: Any) -> dict[str, Any]:
        chat_id = int(params.get("chat_id") or 0)
        message = {
            "message_id": int(params.get("message_id") or next(self._message_ids)),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "from": _user(BOT_ID, "framepack", bot=True),
            **content,
        }
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            message["reply_to"] = reply.get("message_id")
        markup = params.get("reply_markup")
        # A message shows only an inline keyboard; a ForceReply (or a reply keyboard)
        # acts on the user's app and is not part of the message Telegram hands back.
        if "reply_markup" in params and (not markup or "inline_keyboard" in markup):
            message["reply_markup"] = markup
        self.sent[(chat_id, message["message_id"])] = message
        return message

    async def _file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        file_id = request.match_info["path"].rsplit("/", 1)[-1].removesuffix(".jpg")
        self.file_requests.append(request.match_info["path"])
        if file_id in self.endless_files:
            return await self._endless(request, file_id)
        data = self.files.get(file_id)
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")
