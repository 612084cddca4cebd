"""Downloads of users' files from the Bot API, bounded and confined.

python-telegram-bot's own `get_file` + `download_as_bytearray` trust the API twice: a
`file_path` that names an existing file on this machine (`../secret.png`, an absolute
path) is read from the local disk even outside local mode, and the whole file is read
before any size check, whatever size was announced. Here the raw getFile answer is
read, the path is used only as a URL path (or, with a local Bot API server, only
under its configured files directory), and every read stops at the cap.
"""

from __future__ import annotations

import asyncio
import logging
import re
import warnings
from pathlib import Path
from urllib.parse import quote

import httpx
from telegram import Bot
from telegram.error import TelegramError
from telegram.warnings import PTBUserWarning

log = logging.getLogger(__name__)
# The raw getFile answer is the point here (Bot.get_file rewrites file_path and would
# read a local file): PTB's advice to use get_file instead is declined, once, here.
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.getFile'", category=PTBUserWarning)

CHUNK = 64 * 1024
# What the Bot API's relative file paths look like ("photos/file_12.jpg"): no "..",
# no leading slash, no scheme, no backslash.
_SAFE_PATH = re.compile(r"^(?!.*(?:^|/)\.\.?(?:/|$))[A-Za-z0-9_-][A-Za-z0-9_./-]{0,255}$")


class FileRefused(Exception):
    """The file cannot be taken: `too_large` (with its size, when known) or unusable."""

    def __init__(self, detail: str, *, too_large: bool = False, size: int | None = None):
        super().__init__(detail)
        self.too_large = too_large
        self.size = size


class FileFetcher:
    def __init__(self, local_files_dir: Path | None = None) -> None:
        self.local_files_dir = local_files_dir.resolve() if local_files_dir else None
        self._http: httpx.AsyncClient | None = None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def fetch(self, bot: Bot, file_id: str, *, cap: int) -> bytes:
        """The file's bytes; FileRefused past `cap` bytes (whatever was announced) or
        for a path that is not the Bot API's to give. TelegramError from getFile."""
        answer = await bot.do_api_request("getFile", api_kwargs={"file_id": file_id})
        if not isinstance(answer, dict):
            raise FileRefused("getFile answered no object")
        size, path = answer.get("file_size"), answer.get("file_path")
        if isinstance(size, int) and size > cap:
            raise FileRefused(f"announced as {size} bytes", too_large=True, size=size)
        if not isinstance(path, str) or not path:
            raise FileRefused("getFile gave no file_path")
        if path.startswith("/"):
            return await self._local(path, cap)
        if not _SAFE_PATH.match(path):
            raise FileRefused(f"an unusable file_path {path[:80]!r}")
        # The URL carries the bot token: it is used here and never leaves this module.
        return await self._download(f"{bot.base_file_url}/{quote(path)}", cap)

    async def _local(self, path: str, cap: int) -> bytes:
        """A local Bot API server's absolute path, only under its files directory."""
        root = self.local_files_dir
        if root is None:
            raise FileRefused("an absolute file_path, and no local_files_dir is configured")
        return await asyncio.to_thread(_read_capped, Path(path), root, cap)

    async def _download(self, url: str, cap: int) -> bytes:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(30, connect=10))
        body = bytearray()
        try:
            async with self._http.stream("GET", url) as response:
                if response.status_code != 200:
                    raise FileRefused(f"the file server answered {response.status_code}")
                async for chunk in response.aiter_bytes(CHUNK):
                    body += chunk
                    if len(body) > cap:
                        raise FileRefused(f"over {cap} bytes", too_large=True)
        except httpx.HTTPError as exc:
            # The exception text would carry the URL, and so the token: name its type.
            raise TelegramError(f"file download failed ({type(exc).__name__})") from None
        return bytes(body)


def _read_capped(path: Path, root: Path, cap: int) -> bytes:
    resolved = path.resolve()  # links and ".." followed before the check, not after
    if not resolved.is_relative_to(root):
        raise FileRefused(f"a file_path outside {root}")
    with resolved.open("rb") as source:
        data = source.read(cap + 1)
    if len(data) > cap:
        raise FileRefused(f"over {cap} bytes", too_large=True)
    return data
