"""The part every fake server shares: an aiohttp app served on 127.0.0.1, any free port."""

from __future__ import annotations

from typing import Self

from aiohttp import web


class LoopbackServer:
    app: web.Application

    @staticmethod
    def break_off(request: web.Request) -> web.Response:
        """The connection breaks off without an answer (return what this returns)."""
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)

    def __init__(self) -> None:
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        # A test ends with requests still held (a stuck submit): do not wait a minute.
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def before_stop(self) -> None:
        """Close what the runner's cleanup would wait on (open websockets)."""

    async def stop(self) -> None:
        await self.before_stop()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


class HandlerServer(LoopbackServer):
    """A one-off loopback server: every request, any method and path, to `handler`."""

    def __init__(self, handler) -> None:
        super().__init__()
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", handler)
