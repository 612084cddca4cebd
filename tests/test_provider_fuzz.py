"""Every provider answer is data: each client is fed arbitrary JSON shapes at every
step (submit, status polls, result), built from the provider's real answers with any
value swapped for arbitrary JSON (a string where a number belongs, a list where an
object belongs, keys dropped, URLs of other schemes). Whatever it reads, a job ends
as a video or as a typed ProviderError, never as another exception, and within its
deadline."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from providers.errors import ProviderError
from tests.support.fakes.loopback import LoopbackServer
from tests.support.fakes.media import make_mp4
from tests.support.provider_world import FakeTime, make_provider, request_for

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["ftp://x/y.mp4", "file:///etc/passwd", "/relative.mp4", "http://"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


_DROP = object()


def mutated(template: Any) -> st.SearchStrategy[Any]:
    """The template, or it with any part kept, dropped or swapped for arbitrary JSON."""
    if isinstance(template, dict):
        items = [
            st.one_of(mutated(value).map(lambda v, key=key: (key, v)), st.just((key, _DROP)))
            for key, value in template.items()
        ]
        whole = st.tuples(*items).map(lambda kvs: {k: v for k, v in kvs if v is not _DROP})
    elif isinstance(template, list):
        whole = st.lists(st.one_of(*[mutated(item) for item in template]), max_size=3)
    else:
        whole = st.just(template)
    return st.one_of(whole, whole, whole, JSON)  # mostly near the real shape


class ScriptedServer(LoopbackServer):
    """Answers each API request with the next scripted JSON (then 500s); serves a real
    MP4 at /video.mp4 whatever the script says."""

    def __init__(self) -> None:
        super().__init__()
        self.script: list[Any] = []
        self.requests = 0
        self.app = web.Application()
        self.app.router.add_get("/video.mp4", self._video)
        self.app.router.add_route("*", "/{tail:.*}", self._answer)

    async def _video(self, request: web.Request) -> web.Response:
        return web.Response(body=make_mp4(30, 64, 36), content_type="video/mp4")

    async def _answer(self, request: web.Request) -> web.Response:
        self.requests += 1
        if not self.script:
            return web.Response(status=500, text="script over")
        return web.Response(text=json.dumps(self.script.pop(0)), content_type="application/json")


def templates(name: str, base: str) -> list[Any]:
    video = f"{base}/video.mp4"
    return {
        "fal": [
            {
                "request_id": "r1",
                "status_url": f"{base}/status",
                "response_url": f"{base}/result",
                "cancel_url": f"{base}/cancel",
            },
            {"status": "IN_QUEUE", "queue_position": 2},
            {"status": "IN_PROGRESS", "logs": [{"message": "50%"}]},
            {"status": "COMPLETED", "metrics": {"inference_time": 1.5}, "error": None},
            {"video": {"url": video}, "seed": 5},
        ],
        "wavespeed": [
            {"data": {"id": "p1", "urls": {"get": f"{base}/get"}}},
            {"data": {"status": "created"}},
            {"data": {"status": "processing"}},
            {
                "data": {
                    "status": "completed",
                    "outputs": [video],
                    "has_nsfw_contents": [False],
                    "timings": {"inference": 1200},
                    "error": "",
                }
            },
        ],
        "piapi": [
            {"data": {"task_id": "t1"}},
            {"data": {"status": "pending"}},
            {"data": {"status": "processing"}},
            {
                "data": {
                    "status": "completed",
                    "output": {"video_url": video, "works": [{"resource": {"resource": video}}]},
                    "error": {"message": "", "raw_message": ""},
                }
            },
        ],
        "lannetech": [
            {"request_id": "l1"},
            {"status": "pending", "queue_position": 1},
            {"status": "processing"},
            {"status": "success", "video": {"url": video}, "seed": 9, "error": None},
        ],
    }[name]


@pytest.fixture(scope="module")
def scripted():
    import asyncio
    import threading

    # One server for every example, on a loop of its own (hypothesis runs each example
    # to completion; the provider talks to it over real loopback HTTP).
    server = ScriptedServer()
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    started.wait(10)
    yield server
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.mark.parametrize("name", ["fal", "wavespeed", "piapi", "lannetech"])
def test_any_answer_ends_in_a_video_or_a_typed_error(scripted, name, tmp_path_factory) -> None:
    import asyncio

    base = scripted.base_url

    @settings(
        max_examples=80,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.data())
    def check(data: st.DataObject) -> None:
        answers = [data.draw(mutated(t)) for t in templates(name, base)]
        extra = data.draw(st.lists(JSON, max_size=3))  # more polls, arbitrary
        scripted.script = [*answers[:-1], *extra, answers[-1]]
        time = FakeTime()

        async def run() -> None:
            provider = make_provider(name, base, time, deadline=120)
            dest = tmp_path_factory.mktemp("fuzz") / "out.mp4"
            try:
                result = await provider.run(request_for(name), dest)
                assert result.path.exists() and result.size_bytes > 0
            except ProviderError:
                pass
            finally:
                await provider.aclose()

        started = time.now
        asyncio.run(run())
        # Ended by itself, within the deadline (plus at most one capped wait).
        assert time.now - started <= 120 + 60 + 30

    check()
