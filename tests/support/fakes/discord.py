"""A loopback Discord for the real discord.py: REST under /api/v10, a gateway websocket
at /gateway, and a CDN for attachments. It records what the bot does (interaction
callbacks, followups with their files, edits of the original response, channel
messages) and lets a test dispatch gateway events such as INTERACTION_CREATE.

Point discord.py at it with `discord.http.Route.BASE = fake.api_url` and
`discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from tests.support.fakes.loopback import LoopbackServer

BOT_ID = "900000000000000001"
APP_ID = "900000000000000002"
GUILD_ID = "900000000000000003"
CHANNEL_ID = "900000000000000004"
OWNER_ID = "900000000000000005"
EVERYONE_PERMISSIONS = "2248473465835073"  # the usual @everyone set
# A second server, and more of the first: a channel only staff see, an age-restricted
# channel, a staff role and a role the operators configure as bot-admin.
# On shard 0 of 2 (Discord: (guild_id >> 22) % shard_count), GUILD_ID on shard 1.
OTHER_GUILD_ID = "900000000004194310"
OTHER_CHANNEL_ID = "900000000000000007"
STAFF_CHANNEL_ID = "900000000000000008"
NSFW_CHANNEL_ID = "900000000000000009"
STAFF_ROLE_ID = "900000000000000010"
ADMIN_ROLE_ID = "900000000000000011"
VIEW_CHANNEL = 1 << 10
GUILD_OF_CHANNEL = {
    CHANNEL_ID: GUILD_ID,
    STAFF_CHANNEL_ID: GUILD_ID,
    NSFW_CHANNEL_ID: GUILD_ID,
    OTHER_CHANNEL_ID: OTHER_GUILD_ID,
}
DISCORD_EPOCH_MS = 1420070400000


def _now() -> str:
    return datetime.now(UTC).isoformat()


def user(user_id: str, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": user_id,
        "username": name,
        "discriminator": "0",
        "global_name": name,
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
    }


@dataclass
class Sent:
    """Something the bot sent: a followup, an edit or a channel message."""

    kind: str  # callback | followup | edit | channel
    payload: dict[str, Any]
    files: list[tuple[str, bytes]] = field(default_factory=list)
    at: float = 0.0


def shard_of(guild_id: str, shard_count: int) -> int:
    """Which shard a server's events come through (Discord's formula)."""
    return (int(guild_id) >> 22) % shard_count


class FakeDiscord(LoopbackServer):
    def __init__(self, token: str = "fake-bot-token") -> None:
        self.token = token
        self.sent: list[Sent] = []
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.attachments: dict[str, bytes] = {}
        self.messages: dict[str, dict[str, Any]] = {}  # members' messages, by id
        self.reject_uploads_over: int | None = None  # answer 413 above this many bytes
        self.downloads: list[str] = []  # attachment ids fetched from the CDN
        self.identifies = 0  # gateway sessions the bot opened
        # Every message the bot created, in order, duplicates included (with its files).
        self.bot_messages: list[dict[str, Any]] = []
        # Faults for the next uploads, one each: "500" (refused, nothing created),
        # "drop-before-create", "500-after-create", "drop-after-create".
        self.upload_faults: list[str] = []
        # Called at "received" (nothing created yet) and "created" (before the answer)
        # of every upload: the crash test kills the bot there.
        self.on_upload: Callable[[str], Awaitable[None]] | None = None
        self._token_channel: dict[str, str] = {}
        self._snowflakes = itertools.count()
        self._sockets: list[web.WebSocketResponse] = []
        # Each identified connection's shard, as its IDENTIFY gave it ([id, count]).
        self._shards: dict[web.WebSocketResponse, tuple[int, int]] = {}
        self.identified_shards: list[tuple[int, int]] = []
        self._sequence = 0
        self.ready = asyncio.Event()
        self.synced = asyncio.Event()  # the bot has put its global command list
        super().__init__()
        app = web.Application(client_max_size=200 * 2**20)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/cdn/{id}/{name}", self._cdn)
        api = "/api/v10"
        app.router.add_get(f"{api}/users/@me", self._me)
        app.router.add_get(f"{api}/oauth2/applications/@me", self._application)
        app.router.add_put(f"{api}/applications/{{app}}/commands", self._sync)
        app.router.add_put(f"{api}/applications/{{app}}/guilds/{{guild}}/commands", self._sync)
        app.router.add_post(f"{api}/interactions/{{id}}/{{token}}/callback", self._callback)
        app.router.add_post(f"{api}/webhooks/{{app}}/{{token}}", self._followup)
        app.router.add_patch(f"{api}/webhooks/{{app}}/{{token}}/messages/{{message}}", self._edit)
        app.router.add_post(f"{api}/channels/{{channel}}/messages", self._channel_message)
        app.router.add_post(f"{api}/channels/{{channel}}/typing", self._typing)
        app.router.add_get(f"{api}/channels/{{channel}}/messages/{{message}}", self._get_message)
        app.router.add_get(f"{api}/channels/{{channel}}/messages", self._history)
        app.router.add_patch(f"{api}/channels/{{channel}}/messages/{{message}}", self._channel_edit)
        self.app = app

    # --- lifecycle ------------------------------------------------------------------

    async def before_stop(self) -> None:
        for socket in list(self._sockets):
            await socket.close()

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"{self.base_url.replace('http://', 'ws://')}/gateway"

    def snowflake(self, *, age_s: float = 0.0) -> str:
        """A Discord id made now (or `age_s` ago): discord.py reads times from ids."""
        ms = int((time.time() - age_s) * 1000) - DISCORD_EPOCH_MS
        return str((ms << 22) | (next(self._snowflakes) % 4096))

    # --- what tests do -------------------------------------------------------------------

    def add_attachment(self, filename: str, data: bytes, content_type: str) -> dict[str, Any]:
        attachment_id = self.snowflake()
        self.attachments[attachment_id] = data
        return {
            "id": attachment_id,
            "filename": filename,
            "size": len(data),
            "url": f"{self.base_url}/cdn/{attachment_id}/{filename}",
            "proxy_url": f"{self.base_url}/cdn/{attachment_id}/{filename}",
            "content_type": content_type,
            "width": 128,
            "height": 72,
        }

    async def send_raw(self, text: str) -> None:
        """A gateway frame exactly as given (for malformed-payload tests)."""
        for socket in list(self._sockets):
            await socket.send_str(text)

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """An event to the connection of its server's shard, as Discord routes them
        ((guild_id >> 22) % shard_count; DMs through shard 0)."""
        self._sequence += 1
        frame = json.dumps({"op": 0, "t": event, "s": self._sequence, "d": data})
        guild_id = data.get("guild_id") or (data.get("id") if event == "GUILD_CREATE" else None)
        for socket in list(self._sockets):
            if self._routes_to(socket, guild_id):
                await socket.send_str(frame)

    def _routes_to(self, socket: web.WebSocketResponse, guild_id: str | None) -> bool:
        shard, count = self._shards.get(socket, (0, 1))
        return shard == (shard_of(guild_id, count) if guild_id else 0)

    def slash_command(
        self,
        name: str,
        options: list[dict[str, Any]],
        *,
        attachments: list[dict[str, Any]] = (),
        user_id: str = "700000000000000001",
        roles: list[str] = (),
        permissions: str = EVERYONE_PERMISSIONS,
        guild: bool = True,
        age_s: float = 0.0,
        channel_id: str = CHANNEL_ID,
        resolved: dict[str, Any] | None = None,
        locale: str = "en-US",
    ) -> dict[str, Any]:
        """An INTERACTION_CREATE payload for a chat-input command (`age_s` old), in
        `channel_id` (and so in that channel's server). `resolved`: what Discord sends
        for user, role and channel options, e.g. from `resolved_member`."""
        interaction_id = self.snowflake(age_s=age_s)
        data = {"id": self.snowflake(), "name": name, "type": 1, "options": list(options)}
        data["resolved"] = dict(resolved or {})
        if attachments:
            data["resolved"]["attachments"] = {a["id"]: a for a in attachments}
        guild_id = GUILD_OF_CHANNEL.get(channel_id, GUILD_ID)
        self._token_channel[f"interaction-token-{interaction_id}"] = channel_id
        payload = {
            "id": interaction_id,
            "application_id": APP_ID,
            "type": 2,
            "token": f"interaction-token-{interaction_id}",
            "version": 1,
            "data": data,
            "channel_id": channel_id,
            "locale": locale,  # the user's client language
            "app_permissions": "2147483647",
            "attachment_size_limit": 10 * 2**20,
            "entitlements": [],
            "channel": {**self._channel(channel_id), "guild_id": guild_id},
        }
        person = user(user_id, f"user{user_id[-3:]}")
        if guild:
            payload.update(
                guild_id=guild_id,
                guild_locale="en-US",
                context=0,
                authorizing_integration_owners={"0": guild_id},
            )
            payload["member"] = {
                "user": person,
                "roles": list(roles),
                "joined_at": _now(),
                "deaf": False,
                "mute": False,
                "flags": 0,
                "permissions": permissions,
                "nick": None,
                "avatar": None,
            }
        else:
            payload.update(context=1, authorizing_integration_owners={"1": user_id}, user=person)
            payload["channel"] = {"id": CHANNEL_ID, "type": 1, "recipients": [person]}
        return payload

    @staticmethod
    def resolved_member(user_id: str, roles: list[str] = ()) -> dict[str, Any]:
        """The `resolved` part of an interaction whose user option names this member."""
        return {
            "users": {user_id: user(user_id, f"user{user_id[-3:]}")},
            "members": {
                user_id: {
                    "roles": list(roles),
                    "joined_at": _now(),
                    "deaf": False,
                    "mute": False,
                    "flags": 0,
                    "permissions": EVERYONE_PERMISSIONS,
                    "nick": None,
                    "avatar": None,
                }
            },
        }

    def resolved_role(self, role_id: str) -> dict[str, Any]:
        guild_id = GUILD_ID if role_id != OTHER_GUILD_ID else OTHER_GUILD_ID
        role = next(r for r in self.guild(guild_id)["roles"] if r["id"] == role_id)
        return {"roles": {role_id: role}}

    def resolved_channel(self, channel_id: str) -> dict[str, Any]:
        channel = {**self._channel(channel_id), "permissions": EVERYONE_PERMISSIONS}
        return {"channels": {channel_id: channel}}

    def component(self, custom_id: str, **who: Any) -> dict[str, Any]:
        """An INTERACTION_CREATE payload for a button press on one of the bot's messages."""
        payload = self.slash_command("unused", [], **who)
        payload["type"] = 3
        payload["data"] = {"custom_id": custom_id, "component_type": 2}
        # Discord sends the message the button sits on, components included.
        button = {"type": 2, "style": 1, "label": "button", "custom_id": custom_id}
        payload["message"] = self._message(
            {
                "content": "a message with buttons",
                "components": [{"type": 1, "components": [button]}],
            },
            [],
        )
        return payload

    def user_message(
        self,
        content: str,
        *,
        attachments: list[dict[str, Any]] = (),
        author_id: str = "700000000000000001",
        mentions_bot: bool = False,
        reply_to: dict[str, Any] | None = None,
        channel_id: str = CHANNEL_ID,
    ) -> dict[str, Any]:
        """A MESSAGE_CREATE payload for a member's message (optionally a reply)."""
        author = user(author_id, f"user{author_id[-3:]}")
        message = {
            "id": self.snowflake(),
            "channel_id": channel_id,
            "guild_id": GUILD_OF_CHANNEL.get(channel_id, GUILD_ID),
            "author": author,
            "content": content,
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [user(BOT_ID, "framepack", bot=True)] if mentions_bot else [],
            "mention_roles": [],
            "attachments": list(attachments),
            "embeds": [],
            "pinned": False,
            "type": 19 if reply_to else 0,
            "flags": 0,
            "components": [],
            "member": {"roles": [], "joined_at": _now(), "deaf": False, "mute": False, "flags": 0},
        }
        self.messages[message["id"]] = message
        if reply_to is not None:
            message["message_reference"] = {
                "message_id": reply_to["id"],
                "channel_id": CHANNEL_ID,
                "guild_id": GUILD_ID,
            }
            message["referenced_message"] = reply_to
        return message

    def message_command(self, name: str, target: dict[str, Any], **who: Any) -> dict[str, Any]:
        """A message context-menu command (right-click > Apps > name) on `target`."""
        payload = self.slash_command(name, [], **who)
        payload["data"] = {
            "id": self.snowflake(),
            "name": name,
            "type": 3,
            "target_id": target["id"],
            "resolved": {"messages": {target["id"]: target}},
        }
        return payload

    def modal_submit(self, custom_id: str, values: dict[str, str], **who: Any) -> dict[str, Any]:
        payload = self.slash_command("unused", [], **who)
        payload["type"] = 5
        payload["data"] = {
            "custom_id": custom_id,
            # As Discord sends a form of labels back: each input inside its label.
            "components": [
                {"type": 18, "id": n, "component": {"type": 4, "custom_id": key, "value": value}}
                for n, (key, value) in enumerate(values.items(), 1)
            ],
        }
        return payload

    def of_kind(self, kind: str, token: str | None = None) -> list[Sent]:
        return [
            s
            for s in self.sent
            if s.kind == kind and (token is None or s.payload.get("_token") == token)
        ]

    # --- gateway ---------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.append(socket)
        await socket.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}}))
        try:
            async for message in socket:
                if message.type is not WSMsgType.TEXT:
                    continue
                frame = json.loads(message.data)
                if frame["op"] == 1:
                    await socket.send_str(json.dumps({"op": 11}))
                elif frame["op"] == 2:
                    self.identifies += 1
                    shard = tuple(frame["d"].get("shard") or (0, 1))
                    self._shards[socket] = (int(shard[0]), int(shard[1]))
                    self.identified_shards.append(self._shards[socket])
                    await self._ready(socket)
        finally:
            self._sockets.remove(socket)
            self._shards.pop(socket, None)
        return socket

    async def _ready(self, socket: web.WebSocketResponse) -> None:
        shard, count = self._shards[socket]
        guilds = [g for g in (GUILD_ID, OTHER_GUILD_ID) if shard_of(g, count) == shard]
        self._sequence += 1
        await socket.send_str(
            json.dumps(
                {
                    "op": 0,
                    "t": "READY",
                    "s": self._sequence,
                    "d": {
                        "v": 10,
                        "user": user(BOT_ID, "framepack", bot=True),
                        "guilds": [{"id": g, "unavailable": True} for g in guilds],
                        "session_id": "session-1",
                        "resume_gateway_url": self.gateway_url,
                        "application": {"id": APP_ID, "flags": 0},
                        "private_channels": [],
                        "relationships": [],
                        "shard": [shard, count],
                    },
                }
            )
        )
        for guild_id in guilds:
            self._sequence += 1
            frame = {"op": 0, "t": "GUILD_CREATE", "s": self._sequence, "d": self.guild(guild_id)}
            await socket.send_str(json.dumps(frame))
        self.ready.set()

    @staticmethod
    def _role(role_id: str, name: str, permissions: str = "0", position: int = 1) -> dict:
        return {
            "id": role_id,
            "name": name,
            "permissions": permissions,
            "position": position,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }

    @staticmethod
    def _channel(channel_id: str) -> dict[str, Any]:
        guild_id = GUILD_OF_CHANNEL.get(channel_id, GUILD_ID)
        overwrites = []
        if channel_id == STAFF_CHANNEL_ID:  # hidden from @everyone, open to staff
            overwrites = [
                {"id": guild_id, "type": 0, "allow": "0", "deny": str(VIEW_CHANNEL)},
                {"id": STAFF_ROLE_ID, "type": 0, "allow": str(VIEW_CHANNEL), "deny": "0"},
            ]
        names = {STAFF_CHANNEL_ID: "staff", NSFW_CHANNEL_ID: "after-dark"}
        return {
            "id": channel_id,
            "type": 0,
            "name": names.get(channel_id, "general"),
            "position": 0,
            "permission_overwrites": overwrites,
            "nsfw": channel_id == NSFW_CHANNEL_ID,
            "topic": None,
            "parent_id": None,
            "rate_limit_per_user": 0,
        }

    def guild(self, guild_id: str = GUILD_ID) -> dict[str, Any]:
        roles = [self._role(guild_id, "@everyone", EVERYONE_PERMISSIONS, 0)]
        if guild_id == GUILD_ID:
            roles += [self._role(STAFF_ROLE_ID, "staff"), self._role(ADMIN_ROLE_ID, "bot admin")]
        return {
            "id": guild_id,
            "name": "Fake Guild" if guild_id == GUILD_ID else "Other Guild",
            "icon": None,
            "owner_id": OWNER_ID,
            "roles": roles,
            "channels": [self._channel(c) for c, g in GUILD_OF_CHANNEL.items() if g == guild_id],
            "members": [
                {
                    "user": user(BOT_ID, "framepack", bot=True),
                    "roles": [],
                    "joined_at": _now(),
                    "deaf": False,
                    "mute": False,
                    "flags": 0,
                }
            ],
            "member_count": 2,
            "premium_tier": 0,
            "features": [],
            "emojis": [],
            "stickers": [],
            "voice_states": [],
            "presences": [],
            "threads": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "large": False,
            "unavailable": False,
            "joined_at": _now(),
            "mfa_level": 0,
            "verification_level": 0,
            "explicit_content_filter": 0,
            "default_message_notifications": 0,
            "afk_timeout": 300,
            "system_channel_flags": 0,
            "nsfw_level": 0,
            "preferred_locale": "en-US",
            "premium_progress_bar_enabled": False,
        }

    # --- REST ---------------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bot {self.token}"

    @staticmethod
    def _json(data: Any, status: int = 200) -> web.Response:
        # Exactly "application/json": discord.py compares the header string.
        return web.Response(
            body=json.dumps(data).encode(),
            status=status,
            headers={"Content-Type": "application/json"},
        )

    async def _me(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._json({"message": "401: Unauthorized", "code": 0}, 401)
        return self._json(user(BOT_ID, "framepack", bot=True))

    async def _application(self, request: web.Request) -> web.Response:
        return self._json(
            {
                "id": APP_ID,
                "name": "framepack",
                "icon": None,
                "description": "",
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": 0,
                "owner": user(OWNER_ID, "owner"),
                "team": None,
                "summary": "",
                "interactions_endpoint_url": None,
            }
        )

    async def _sync(self, request: web.Request) -> web.Response:
        commands = await request.json()
        scope = request.match_info.get("guild", "global")
        self.commands[scope] = commands
        if scope == "global":
            self.synced.set()
        return self._json(
            [  # as Discord answers: context menus come back with an empty description
                {
                    "description": "",
                    **c,
                    "id": self.snowflake(),
                    "application_id": APP_ID,
                    "version": "1",
                    "default_member_permissions": c.get("default_member_permissions"),
                }
                for c in commands
            ]
        )

    async def _read_message(self, request: web.Request) -> tuple[dict[str, Any], list]:
        if request.content_type.startswith("multipart/"):
            payload, files = {}, []
            reader = await request.multipart()
            async for part in reader:
                if part.name == "payload_json":
                    payload = json.loads(await part.text())
                else:
                    files.append((part.filename or "", await part.read()))
            return payload, files
        return (await request.json() if request.can_read_body else {}), []

    def posts_of(self, filename: str) -> int:
        """How many messages the bot created carrying a file of this name."""
        return sum(
            1 for m in self.bot_messages if any(a["filename"] == filename for a in m["attachments"])
        )

    def _message(
        self, payload: dict[str, Any], files: list, channel_id: str = CHANNEL_ID
    ) -> dict[str, Any]:
        return {
            "id": self.snowflake(),
            "channel_id": channel_id,
            "author": user(BOT_ID, "framepack", bot=True),
            "content": payload.get("content", ""),
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [
                {
                    "id": self.snowflake(),
                    "filename": name,
                    "size": len(data),
                    "url": f"{self.base_url}/cdn/x/{name}",
                    "proxy_url": f"{self.base_url}/cdn/x/{name}",
                }
                for name, data in files
            ],
            "embeds": payload.get("embeds", []),
            "pinned": False,
            "type": 0,
            "flags": payload.get("flags", 0),
            "components": payload.get("components", []),
        }

    def _too_large(self, files: list) -> bool:
        limit = self.reject_uploads_over
        return limit is not None and sum(len(d) for _, d in files) > limit

    async def _callback(self, request: web.Request) -> web.Response:
        payload = await request.json()
        payload["_token"] = request.match_info["token"]
        self.sent.append(Sent("callback", payload, at=asyncio.get_running_loop().time()))
        interaction = {
            "id": request.match_info["id"],
            "type": 2,
            "response_message_id": self.snowflake(),
            "response_message_loading": payload.get("type") == 5,
            "response_message_ephemeral": bool((payload.get("data") or {}).get("flags", 0) & 64),
        }
        return self._json({"interaction": interaction})

    async def _followup(self, request: web.Request) -> web.Response:
        payload, files = await self._read_message(request)
        if self._too_large(files):
            return self._json({"message": "Request entity too large", "code": 40005}, 413)
        token = request.match_info["token"]
        payload["_token"] = token
        return await self._create(
            request, "followup", payload, files, self._token_channel.get(token, CHANNEL_ID)
        )

    async def _create(
        self, request: web.Request, kind: str, payload: dict, files: list, channel_id: str
    ) -> web.Response:
        """Create a message of the bot's, with the upload faults and hooks applied."""
        fault = self.upload_faults.pop(0) if files and self.upload_faults else None
        if files and self.on_upload is not None:
            await self.on_upload("received")
        if fault == "500":
            return self._json({"message": "Internal Server Error", "code": 0}, 500)
        if fault == "drop-before-create":
            return self.break_off(request)
        message = self._message(payload, files, channel_id)
        self.bot_messages.append(message)
        self.sent.append(Sent(kind, payload, files, asyncio.get_running_loop().time()))
        if files and self.on_upload is not None:
            await self.on_upload("created")
        if fault == "500-after-create":
            return self._json({"message": "Internal Server Error", "code": 0}, 500)
        if fault == "drop-after-create":
            return self.break_off(request)
        return self._json(message)

    async def _history(self, request: web.Request) -> web.Response:
        """GET channel messages: newest first, `limit` of them, those after `after`."""
        channel = request.match_info["channel"]
        after = int(request.query.get("after", 0))
        limit = int(request.query.get("limit", 50))
        found = [
            m
            for m in [*self.bot_messages, *self.messages.values()]
            if m["channel_id"] == channel and int(m["id"]) > after
        ]
        found.sort(key=lambda m: int(m["id"]), reverse=True)
        return self._json(found[:limit])

    async def _edit(self, request: web.Request) -> web.Response:
        payload, files = await self._read_message(request)
        payload["_token"] = request.match_info["token"]
        self.sent.append(Sent("edit", payload, files, asyncio.get_running_loop().time()))
        return self._json(self._message(payload, files))

    async def _channel_message(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._json({"message": "401: Unauthorized", "code": 0}, 401)
        payload, files = await self._read_message(request)
        if self._too_large(files):
            return self._json({"message": "Request entity too large", "code": 40005}, 413)
        channel = request.match_info["channel"]
        payload["_channel"] = channel
        return await self._create(request, "channel", payload, files, channel)

    async def _get_message(self, request: web.Request) -> web.Response:
        message = self.messages.get(request.match_info["message"])
        if message is None:
            return self._json({"message": "Unknown Message", "code": 10008}, 404)
        return self._json(message)

    async def _channel_edit(self, request: web.Request) -> web.Response:
        payload, files = await self._read_message(request)
        payload["_message"] = request.match_info["message"]
        self.sent.append(Sent("channel_edit", payload, files, asyncio.get_running_loop().time()))
        return self._json(self._message(payload, files))

    async def _typing(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def _cdn(self, request: web.Request) -> web.Response:
        self.downloads.append(request.match_info["id"])
        data = self.attachments.get(request.match_info["id"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")
