"""The one HTTP layer every remote client shares: retries that never pay twice,
Retry-After, backoff with jitter, poll pacing, and size-capped result downloads.

Retry only what surely never reached the provider (connection errors, 429, 503) —
and, for requests that are safe to repeat (status polls, downloads), also timeouts
and other 5xx. A submit that fails after it was sent is *ambiguous* and is never
re-sent: see AmbiguousSubmitError.

Built on aiohttp, not httpx: with tens of requests in flight (hundreds of jobs polling
under a burst), httpx cost ~3 ms of CPU a request here against aiohttp's ~0.1 ms —
httpcore re-checks every pooled connection, with syscalls, at each request
(bench/providers.py measures both). The bot's one event loop was spending most of
its time there.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from providers.answers import is_web_url
from providers.errors import (
    AmbiguousSubmitError,
    AuthenticationError,
    InvalidInputError,
    InvalidResultError,
    OutOfCreditError,
    ProviderError,
    RateLimitedError,
    ResultExpiredError,
    TransientError,
)
from providers.mp4 import mp4_problem

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

# Failed before a byte of the request left: safe to send again, even a submit.
NEVER_ARRIVED = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
# Nothing was or ever will be sent to this URL (a provider handed us a bad one).
UNUSABLE_URL = (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError)
# Anything else the connection or the answer did (a read timeout, a reset, a truncated
# or malformed answer) may have come after the provider acted on the request.
MAYBE_ARRIVED = (aiohttp.ClientError, TimeoutError)
# An API answer is a small JSON document; a bigger one is a broken or hostile server,
# not something to hold in memory.
MAX_ANSWER_BYTES = 4 << 20
WRITE_BYTES = 1 << 20  # a download's writes to disk go a megabyte at a time
# A provider's Retry-After is waited out up to this; beyond it (a day, say) it is a
# refusal for now, reported at once, not a reason to hold a job, a shutdown or a
# terminal for hours.
MAX_RETRY_AFTER_S = 60.0
# A rate-limit reset above this is a time (epoch seconds), below it a wait in seconds.
EPOCH_LIKE = 1e9
# A rate-limited job's polls slow down to at most one a minute: it is still running.
RATE_LIMITED_MAX_WAIT_S = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(max, base * 2^attempt)]."""
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


DEFAULT_RETRY = RetryPolicy()


@dataclass
class PollSchedule:
    """Waits between status polls: from `initial`, growing by half each time, to `maximum`."""

    initial: float
    maximum: float
    factor: float = 1.5
    _next: float = 0.0

    def __post_init__(self) -> None:
        self._next = self.initial

    def next_wait(self, rng: random.Random) -> float:
        wait = self._next
        self._next = min(self.maximum, self._next * self.factor)
        return wait * rng.uniform(0.9, 1.1)

    def slow_down(self, retry_after: float | None) -> float:
        """After a rate limit: the wait before the next poll (the provider's hint, or
        twice the last wait, up to RATE_LIMITED_MAX_WAIT_S), and the pace from then on."""
        ceiling = max(self.maximum, RATE_LIMITED_MAX_WAIT_S)
        wait = min(ceiling, max(self._next * 2, retry_after or 0.0))
        self._next = max(self._next, min(wait, ceiling))
        return wait


@dataclass(frozen=True)
class Reply:
    """An API answer, read whole: status, headers (case-insensitive) and body."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


def rate_limit_reset(response: Reply, now: float) -> float | None:
    """When an API that counts requests (X-RateLimit-Remaining / X-RateLimit-Reset, as
    lannetech documents) has none left: the clock() time it gives them back. The reset
    is read as epoch seconds when it looks like one, else as seconds from now."""
    remaining = response.headers.get("x-ratelimit-remaining")
    reset = response.headers.get("x-ratelimit-reset")
    if remaining is None or reset is None:
        return None
    try:
        if float(remaining) > 0:
            return None
        value = float(reset)
    except ValueError:
        return None
    if value != value or value < 0:  # NaN or negative: no usable hint
        return None
    return value if value > EPOCH_LIKE else now + value


def retry_after_seconds(response: Reply, now: float) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - now)


class Transport:
    def __init__(
        self,
        provider: str,
        *,
        base_url: str,
        headers: Mapping[str, str],
        connect_timeout: float,
        read_timeout: float,
        policy: RetryPolicy = DEFAULT_RETRY,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/") + "/"
        self._origin = _origin(self.base_url)
        self.headers = dict(headers)
        self.timeout = aiohttp.ClientTimeout(
            total=None,
            # Waiting for a pooled connection and opening one: nothing was sent yet.
            connect=connect_timeout + read_timeout,
            sock_connect=connect_timeout,
            sock_read=read_timeout,
        )
        # Two sessions, opened on first use (aiohttp binds them to the running loop):
        # the provider's own API gets the key; result downloads go to storage hosts (a
        # CDN, a bucket) and get no credentials at all. Neither keeps cookies.
        self._api: aiohttp.ClientSession | None = None
        self._download: aiohttp.ClientSession | None = None
        self.policy = policy
        self.sleep = sleep
        self.clock = clock
        self.rng = rng or random.Random()
        # Until when the API has said it takes no more requests (clock() time).
        self._paused_until = 0.0

    def _session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            timeout=self.timeout,
            cookie_jar=aiohttp.DummyCookieJar(),
            connector=aiohttp.TCPConnector(limit=100),
            trust_env=_proxy_configured(),
        )

    async def aclose(self) -> None:
        for session in (self._api, self._download):
            if session is not None:
                await session.close()
        self._api = self._download = None

    def _target(self, url: str) -> tuple[str, dict[str, str]]:
        """The absolute URL, and the headers it gets. A path is taken below the API's
        base URL (as httpx's base_url did). The key goes only to the API's own origin:
        an absolute URL a provider answered with that points elsewhere gets none."""
        if not urlsplit(url).scheme:
            url = self.base_url + url.lstrip("/")
        origin = _origin(url)
        return url, self.headers if origin is not None and origin == self._origin else {}

    async def _request(
        self,
        method: str,
        url: str,
        json_body: Any,
        params: Mapping[str, str] | None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        if self._api is None:
            self._api = self._session()
        target, credentials = self._target(url)
        payload: dict[str, Any] = {"json": json_body} if data is None else {"data": data}
        headers = credentials if headers is None else dict(headers)
        async with self._api.request(
            method, target, params=params, headers=headers, allow_redirects=False, **payload
        ) as response:
            if (response.content_length or 0) > MAX_ANSWER_BYTES:
                raise _OversizedAnswer(f"an answer of {response.content_length} bytes")
            body = bytearray()
            async for chunk in response.content.iter_chunked(1 << 16):
                body += chunk
                if len(body) > MAX_ANSWER_BYTES:
                    raise _OversizedAnswer(f"an answer over {MAX_ANSWER_BYTES} bytes")
            return Reply(response.status, response.headers, bytes(body))

    async def send(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        safe_to_repeat: bool,
        params: Mapping[str, str] | None = None,
        deadline: float | None = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Send with retries; returns the first response that is not retried (any status).
        The body is `json_body` as JSON, or `data` as it is. `headers`, when given, are
        sent instead of the API's credentials (an upload to a storage host gets none).
        Raises RateLimitedError, TransientError or, for a request that is not safe to
        repeat and may have arrived, AmbiguousSubmitError. No wait runs past `deadline`
        (a clock() time): the retry that would is given up instead."""
        for attempt in range(self.policy.attempts):
            last = attempt == self.policy.attempts - 1
            await self._wait_out_pause(deadline)
            try:
                response = await self._request(method, url, json_body, params, data, headers)
            except UNUSABLE_URL as exc:
                # Nothing was sent; for a URL a provider handed us, nothing ever will be.
                raise TransientError(f"unusable URL: {exc}", provider=self.provider) from exc
            except NEVER_ARRIVED as exc:
                if last:
                    raise TransientError(
                        f"cannot reach the API: {exc!r}", provider=self.provider
                    ) from exc
                await self._wait(
                    attempt, None, f"connection failed ({type(exc).__name__})", deadline
                )
                continue
            except (*MAYBE_ARRIVED, _OversizedAnswer) as exc:
                if not safe_to_repeat:
                    raise AmbiguousSubmitError(
                        f"no usable answer after the request was sent ({type(exc).__name__}); "
                        "not resubmitted",
                        provider=self.provider,
                    ) from exc
                if last:
                    raise TransientError(f"no answer: {exc!r}", provider=self.provider) from exc
                await self._wait(attempt, None, f"{type(exc).__name__}", deadline)
                continue

            wait = self._retry_wait(
                response, attempt, last=last, safe_to_repeat=safe_to_repeat, deadline=deadline
            )
            if wait is None:
                return response
            await self._wait(attempt, wait[0], wait[1], deadline)
        raise AssertionError("unreachable")

    def _retry_wait(
        self,
        response: Reply,
        attempt: int,
        *,
        last: bool,
        safe_to_repeat: bool,
        deadline: float | None,
    ) -> tuple[float | None, str] | None:
        """For an answer: None to hand it back, or (the API's Retry-After, why) to try
        again; raises when it must not be tried again."""
        status = response.status_code
        reset = rate_limit_reset(response, self.clock())
        if reset is not None:
            self._paused_until = max(self._paused_until, reset)
        retry_after = retry_after_seconds(response, self.clock())
        too_long = retry_after is not None and retry_after > MAX_RETRY_AFTER_S
        if status == 429:
            if last or too_long or self._past(deadline, attempt, retry_after):
                raise RateLimitedError(
                    "rate limited", provider=self.provider, retry_after=retry_after
                )
            return retry_after, "429 rate limited"
        if status == 503 or (status >= 500 and safe_to_repeat):
            if last or too_long or self._past(deadline, attempt, retry_after):
                raise TransientError(f"HTTP {status} from the API", provider=self.provider)
            return retry_after, f"HTTP {status}"
        if status >= 500:
            raise AmbiguousSubmitError(
                f"HTTP {status} after the request was sent; not resubmitted",
                provider=self.provider,
            )
        return None

    async def _wait_out_pause(self, deadline: float | None) -> None:
        """Before a request: wait while the API has said it has no requests left for
        us (up to MAX_RETRY_AFTER_S a time); past the deadline, a rate limit now."""
        pause = self._paused_until - self.clock()
        if pause <= 0:
            return
        if pause > MAX_RETRY_AFTER_S or (deadline is not None and self.clock() + pause > deadline):
            raise RateLimitedError(
                "no requests left until the API's reset", provider=self.provider, retry_after=pause
            )
        log.info("%s: no requests left; waiting %.1f s for the reset", self.provider, pause)
        await self.sleep(pause)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        delay = self.policy.backoff(attempt, self.rng)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay

    def _past(self, deadline: float | None, attempt: int, retry_after: float | None) -> bool:
        """Would the wait before the next try end after the deadline? (The delay is
        drawn again for the wait itself; this uses its largest value.)"""
        if deadline is None:
            return False
        longest = min(self.policy.max_delay, self.policy.base_delay * 2**attempt)
        if retry_after is not None:
            longest = max(longest, retry_after)
        return self.clock() + longest > deadline

    async def _wait(
        self, attempt: int, retry_after: float | None, why: str, deadline: float | None = None
    ) -> None:
        delay = self._delay(attempt, retry_after)
        if deadline is not None and self.clock() + delay > deadline:
            raise TransientError(
                f"{why}; the next try would come after the job's deadline", provider=self.provider
            )
        log.info("%s: %s; retrying in %.1f s", self.provider, why, delay)
        await self.sleep(delay)

    def check_status(self, response: Reply, *, what: str) -> None:
        """Map a 4xx answer onto the error types; 2xx passes."""
        status = response.status_code
        if status < 400:
            return
        detail = error_detail(response)
        if status in (401, 403):
            raise AuthenticationError(
                f"{what}: the API key was refused ({status}) {detail}", provider=self.provider
            )
        if status == 402:
            raise OutOfCreditError(
                f"{what}: the account is out of credit {detail}", provider=self.provider
            )
        if status in (400, 422):
            raise InvalidInputError(f"{what}: refused as invalid: {detail}", provider=self.provider)
        raise ProviderError(f"{what}: HTTP {status} {detail}", provider=self.provider)

    def json_of(self, response: Reply, *, ambiguous: bool) -> dict[str, Any]:
        """The JSON object of a response. Unreadable: ambiguous after a submit (the job
        may exist), transient otherwise."""
        try:
            data = response.json()
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            return data
        except (ValueError, json.JSONDecodeError) as exc:
            error = AmbiguousSubmitError if ambiguous else TransientError
            raise error(
                f"unreadable answer (HTTP {response.status_code}): {exc}", provider=self.provider
            ) from exc

    async def download(self, url: str, dest: Path, *, max_bytes: int) -> int:
        """Stream a result to `dest` (via a .part file), capped and checked to be a whole
        MP4. Retries what may be passing; an expired URL is ResultExpiredError."""
        if not is_web_url(url):
            raise InvalidResultError(
                f"the result URL is not an http(s) URL: {url[:100]!r}", provider=self.provider
            )
        part = dest.with_name(dest.name + ".part")
        dest.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(self.policy.attempts):
            last = attempt == self.policy.attempts - 1
            try:
                size, problem = await self._download_once(url, part, dest, max_bytes)
            except (*MAYBE_ARRIVED, _RetryableDownload) as exc:
                part.unlink(missing_ok=True)
                if last:
                    raise TransientError(f"download failed: {exc}", provider=self.provider) from exc
                await self._wait(attempt, None, f"download: {exc}")
                continue
            except BaseException:
                part.unlink(missing_ok=True)
                raise
            if problem:
                raise InvalidResultError(
                    f"the result is not a usable MP4: {problem}", provider=self.provider
                )
            return size
        raise AssertionError("unreachable")

    async def _download_once(
        self, url: str, part: Path, dest: Path, max_bytes: int
    ) -> tuple[int, str | None]:
        """(bytes, what is wrong with them as an MP4 or None); a whole MP4 is at `dest`."""
        if self._download is None:
            self._download = self._session()
        async with self._download.get(url, allow_redirects=True, max_redirects=5) as response:
            status = response.status
            if status in (403, 404, 410):
                raise ResultExpiredError(
                    f"the result URL answers {status}: it has expired", provider=self.provider
                )
            if status == 429 or status >= 500:
                raise _RetryableDownload(f"HTTP {status}")
            if status >= 400:
                raise InvalidResultError(f"result download: HTTP {status}", provider=self.provider)
            declared = int(response.headers.get("content-length") or 0)
            if declared > max_bytes:
                raise InvalidResultError(
                    f"the result is {declared} bytes, over the {max_bytes} byte cap",
                    provider=self.provider,
                )
            # The writes go to a thread (a slow disk must not stall the event loop), a
            # megabyte at a time: under a burst each trip waits a turn of the loop, and
            # most results then take one, which also checks and renames the file.
            size = buffered = 0
            pending: list[bytes] = []
            async for chunk in response.content.iter_chunked(1 << 20):
                size += len(chunk)
                if size > max_bytes:
                    raise InvalidResultError(
                        f"the result is over the {max_bytes} byte cap", provider=self.provider
                    )
                pending.append(chunk)
                buffered += len(chunk)
                if buffered >= WRITE_BYTES:
                    written = size - buffered
                    await asyncio.to_thread(_write_part, part, pending, written > 0)
                    pending, buffered = [], 0
            written = size - buffered
            problem = await asyncio.to_thread(_finish_part, part, dest, pending, written > 0)
            return size, problem


def _write_part(part: Path, chunks: list[bytes], append: bool) -> None:
    with part.open("ab" if append else "wb") as out:
        out.writelines(chunks)


def _finish_part(part: Path, dest: Path, chunks: list[bytes], append: bool) -> str | None:
    """The last chunks written, then the MP4 check: a whole one becomes `dest`, anything
    else is removed and said what is wrong with it."""
    _write_part(part, chunks, append)
    problem = mp4_problem(part)
    if problem:
        part.unlink(missing_ok=True)
    else:
        part.replace(dest)
    return problem


class _RetryableDownload(Exception):
    pass


class _OversizedAnswer(Exception):
    pass


def _proxy_configured() -> bool:
    """Whether to honour HTTPS_PROXY and friends, as httpx did. Asked only when one is
    set: with trust_env aiohttp also reads ~/.netrc, in a thread, at every request."""
    return any(
        os.environ.get(name)
        for name in (
            "https_proxy",
            "HTTPS_PROXY",
            "http_proxy",
            "HTTP_PROXY",
            "all_proxy",
            "ALL_PROXY",
        )
    )


def _origin(url: str) -> tuple[str, str | None, int | None] | None:
    """(scheme, host, port); None for a URL too broken to say (aiohttp refuses it)."""
    parts = urlsplit(url)
    try:
        return parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:  # a port out of range or not a number
        return None


def error_detail(response: Reply) -> str:
    """The provider's own words about an error, shortened, when it gave any."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        for key in ("detail", "message", "error"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message") or value.get("raw_message")
            if value:
                return str(value)[:200]
    return json.dumps(body)[:200]
