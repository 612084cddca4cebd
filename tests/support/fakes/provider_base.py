"""The engine every fake provider shares: a real aiohttp server on 127.0.0.1, job
progression driven by polls (no clocks, no sleeps), fault switches, and counters
that tests read (submits accepted, submit attempts, requests by kind)."""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from PIL import Image

from tests.support.fakes.documented import Documented, problems
from tests.support.fakes.loopback import LoopbackServer
from tests.support.fakes.media import SIZES, make_mp4

# Set by a subclass middleware when one URL serves two kinds of request.
KIND = web.RequestKey("kind", str)
# Where each provider's submit carries its (first) image.
FIRST_IMAGE_FIELDS = ("image_url", "start_image_url", "image", "first_image", "start_image")


def start_shade(body: dict[str, Any], uploads: dict[str, bytes] | None = None) -> int:
    """Like a model, a fake's clip starts from the image it was given: the red of the
    image's top-left pixel is the first frame's shade (0 when the image is not at hand).
    An Extend then starts where the earlier clip ended, as a real one would."""
    fields = body.get("input") if isinstance(body.get("input"), dict) else body
    for name in FIRST_IMAGE_FIELDS:
        value = fields.get(name)
        if not isinstance(value, str):
            continue
        data = None
        if value.startswith("data:") and "," in value:
            try:
                data = base64.b64decode(value.split(",", 1)[1])
            except ValueError:
                data = None
        elif uploads is not None:
            data = uploads.get(value.rsplit("/", 1)[-1])
        if data:
            return _red_of(data)
    return 0


def _red_of(data: bytes) -> int:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", (8, 8))  # a JPEG decoded at 1/8 scale: a pixel is enough
            return int(image.convert("RGB").getpixel((0, 0))[0])
    except (OSError, ValueError):  # not an image: the provider's own checks say so
        return 0


@dataclass
class Faults:
    unauthorized: bool = False  # every API call answers 401
    no_credit: bool = False  # submits answer 402
    rate_limit: int = 0  # the next N API calls answer 429 with Retry-After
    rate_limit_on: str | None = None  # only calls of this kind (submit | status); None: all
    retry_after: float = 2.0
    error_burst: int = 0  # the next N calls of kind `burst_on` answer `burst_status`
    burst_status: int = 503
    burst_on: str = "submit"  # submit | status
    slow_submit: float = 0.0  # accept the job, then wait this long before answering
    stuck_queue: bool = False  # jobs never leave the queue
    fail_job: str | None = None  # jobs end failed with this reason
    nsfw: bool = False  # the output is flagged / blocked by the safety checker
    expired_result: int | None = None  # the video URL answers 403 or 404
    truncated_result: bool = False  # the video is served cut in half
    malformed_json: int = 0  # the next N status answers are not JSON
    slow_answers: float = 0.0  # every API answer takes this long (seconds)
    cut_submit: bool = False  # accept the job, then break the connection off unanswered
    cut_status: int = 0  # the next N status polls: the connection breaks off unanswered


@dataclass
class FakeJob:
    id: str
    endpoint: str
    input: dict[str, Any]
    frames: int
    size: tuple[int, int]
    seed: int | None
    polls: int = 0
    cancelled: bool = False
    created: float = field(default_factory=time.monotonic)
    seconds: float | None = None  # runs this long after its submit (real time), if set
    fps: int = 30  # the frame rate the model makes its video at
    shade: int = 0  # the first frame's (see start_shade)

    def stage(self, faults: Faults, queue_polls: int, running_polls: int) -> str:
        if self.cancelled:
            return "cancelled"
        if self.seconds is not None:
            if time.monotonic() - self.created < self.seconds:
                return "running"
        elif faults.stuck_queue or self.polls <= queue_polls:
            return "queued"
        elif self.polls <= queue_polls + running_polls:
            return "running"
        if faults.fail_job:
            return "failed"
        return "nsfw" if faults.nsfw else "done"


class FakeProvider(LoopbackServer):
    """Subclasses add the provider's routes (named submit/status/result/cancel, or
    setting request[KIND] in a middleware) and say how the API key is presented."""

    def __init__(
        self, api_key: str = "test-key", *, queue_polls: int = 2, running_polls: int = 2
    ) -> None:
        self.api_key = api_key
        self.faults = Faults()
        self.queue_polls = queue_polls
        self.running_polls = running_polls
        self.jobs: dict[str, FakeJob] = {}
        self.submits = 0  # jobs accepted
        self.submit_attempts = 0  # submit requests received, accepted or not
        self.calls: Counter[str] = Counter()
        self.media_downloads = 0
        # Submit bodies refused for not being what the documentation requires: the
        # problems found in each, in order.
        self.refused: list[list[str]] = []
        self.last_headers: dict[str, str] = {}
        self.received: list[str] = []  # every request line, headers and body
        self.media_headers: dict[str, str] = {}
        self.video_override: bytes | None = None  # serve this instead of a generated clip
        self.in_flight = 0  # API requests being answered right now
        self.most_in_flight = 0
        self.queued_forever: set[int] = set()  # the nth submitted jobs never leave the queue
        # Benchmarks: every job runs this many real seconds after its submit, then is
        # done (instead of counting polls).
        self.job_seconds: float | None = None
        self._ids = itertools.count(1)
        super().__init__()
        self.app = web.Application(middlewares=[self._faults_middleware])
        self.app.router.add_get("/media/{job_id}.mp4", self._media, name="media")
        self.add_routes(self.app.router)

    # --- for subclasses ---------------------------------------------------------------

    def add_routes(self, router: web.UrlDispatcher) -> None:
        raise NotImplementedError

    def authorized(self, request: web.Request) -> bool:
        raise NotImplementedError

    def new_job(
        self,
        endpoint: str,
        body: dict[str, Any],
        *,
        frames: int,
        resolution: str,
        aspect: str,
        seed: int | None,
        fps: int = 30,
    ) -> FakeJob:
        job_id = f"{type(self).__name__.lower()}-{next(self._ids)}"
        size = SIZES[
            (
                resolution if resolution in ("480p", "720p") else "480p",
                aspect if aspect in ("16:9", "9:16") else "16:9",
            )
        ]
        job = FakeJob(
            job_id,
            endpoint,
            body,
            frames,
            size,
            seed,
            seconds=self.job_seconds,
            fps=fps,
            shade=start_shade(body, getattr(self, "uploads", None)),
        )
        self.jobs[job_id] = job
        self.submits += 1
        return job

    async def after_accept(self) -> None:
        """The slow-submit fault: the job exists, the answer comes late."""
        if self.faults.slow_submit:
            await asyncio.sleep(self.faults.slow_submit)

    def undocumented(self, schema: type[Documented], body: Any) -> list[str]:
        """What the provider's documentation says is wrong with a submit body; each
        refusal is recorded for tests to read."""
        found = problems(schema, body)
        if found:
            self.refused.append(found)
        return found

    def polled(self, job: FakeJob) -> str:
        job.polls += 1
        if int(job.id.rsplit("-", 1)[1]) in self.queued_forever:
            return "queued"

        return job.stage(self.faults, self.queue_polls, self.running_polls)

    def media_url(self, job: FakeJob) -> str:
        return f"{self.base_url}/media/{job.id}.mp4"

    @staticmethod
    def json(data: Any, status: int = 200) -> web.Response:
        # Exactly application/json, as the real services send it.
        return web.Response(text=json.dumps(data), status=status, content_type="application/json")

    # --- faults -------------------------------------------------------------------------

    @web.middleware
    async def _faults_middleware(self, request: web.Request, handler) -> web.StreamResponse:
        # A subclass may classify a request itself (one URL serving two kinds).
        # Everything the bot sent, as it arrived: tests search it for leaked secrets.
        body = await request.read() if request.can_read_body else b""
        self.received.append(f"{request.method} {request.path_qs}\n{dict(request.headers)}\n")
        self.received.append(body.decode("utf-8", "replace"))
        route = request.get(KIND) or request.match_info.route.name or ""
        if route.startswith("media"):  # storage (videos, uploads): no key, no faults
            return await handler(request)
        self.calls[route] += 1
        self.last_headers = dict(request.headers)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.faults.slow_answers:
                await asyncio.sleep(self.faults.slow_answers)
            if route == "status" and self.faults.cut_status:
                self.faults.cut_status -= 1
                return self.break_off(request)
            response = await self._answer_with_faults(request, handler, route)
            if route == "submit" and self.faults.cut_submit and response.status < 300:
                return self.break_off(request)
            return response
        finally:
            self.in_flight -= 1

    async def _answer_with_faults(self, request: web.Request, handler, route: str):
        if route == "submit":
            self.submit_attempts += 1
        faults = self.faults
        if faults.unauthorized or not self.authorized(request):
            return self.json({"detail": "Invalid API key"}, 401)
        if route == "upload":  # the fault switches are about jobs, not image uploads
            return await handler(request)
        if faults.rate_limit and faults.rate_limit_on in (None, route):
            faults.rate_limit -= 1
            return web.Response(
                status=429,
                text='{"detail": "Too many requests"}',
                headers={"Retry-After": f"{faults.retry_after:g}"},
                content_type="application/json",
            )
        if faults.error_burst and route == faults.burst_on:
            faults.error_burst -= 1
            return self.json({"detail": "upstream failure"}, faults.burst_status)
        if route == "submit" and faults.no_credit:
            return self.json({"detail": "Insufficient balance"}, 402)
        if route == "status" and faults.malformed_json:
            faults.malformed_json -= 1
            return web.Response(text="<html>502 Bad Gateway", content_type="application/json")
        return await handler(request)

    async def _media(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["job_id"])
        if job is None or self.faults.expired_result:
            return web.Response(status=self.faults.expired_result or 404, text="expired")
        self.media_downloads += 1
        self.media_headers = dict(request.headers)
        data = self.video_override or make_mp4(job.frames, *job.size, fps=job.fps, shade=job.shade)
        if self.faults.truncated_result:
            data = data[: len(data) // 2]
        return web.Response(body=data, content_type="video/mp4")
