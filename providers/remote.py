"""The lifecycle shared by every remote API: submit, watch, fetch the result, cancel.

A client file (fal.py, wavespeed.py, ...) says only what differs: how a request maps
onto the provider's schema, where the handle's ids are, and how to read one status.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import re
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from providers.config import RemoteProviderConfig
from providers.contract import (
    Capabilities,
    Event,
    Failed,
    GenerationRequest,
    Handle,
    ImageInput,
    JobTag,
    ModelSpec,
    Succeeded,
    VideoResult,
)
from providers.errors import (
    DeadlineExceededError,
    ProviderError,
    RateLimitedError,
    TransientError,
)
from providers.transport import (
    DEFAULT_RETRY,
    Clock,
    PollSchedule,
    RetryPolicy,
    Sleep,
    Transport,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_RESULT_BYTES = 512 * 1024 * 1024
_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%")


def data_uri(image: ImageInput) -> str:
    """The image inline, so no URL (a chat platform's carries the bot token) leaves us."""
    return f"data:{image.mime_type};base64,{base64.b64encode(image.data).decode('ascii')}"


def progress_from_logs(logs: tuple[str, ...]) -> float | None:
    """The last "NN%" a provider logged, as 0..1."""
    for line in reversed(logs):
        match = _PERCENT.search(line)
        if match:
            return min(1.0, float(match.group(1)) / 100)
    return None


class RemoteProvider(ABC):
    name: ClassVar[str]
    # Its section of the configuration ([providers.<name>]): enabled, key, base URL,
    # and whatever options the client takes (see options_from).
    config_class: ClassVar[type[RemoteProviderConfig]] = RemoteProviderConfig
    # The variable the provider's own documentation names for the key (FAL_KEY), if any.
    key_variable: ClassVar[str | None] = None
    listed: ClassVar[int] = 100  # where it comes in lists (the config's, the choices)
    # What the provider's documentation says each model takes; a client whose operator
    # can enable more (lannetech's undocumented models) sets its own in __init__.
    capabilities: Capabilities

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        connect_timeout: float = 10,
        read_timeout: float = 60,
        poll_interval: float = 3,
        max_poll_interval: float = 15,
        deadline: float = 1800,
        max_concurrent: int = 16,
        policy: RetryPolicy = DEFAULT_RETRY,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.rng = rng or random.Random()
        self.clock = clock
        self.sleep = sleep
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.deadline = deadline
        # What is limited is the requests in flight (submits and polls), not the jobs:
        # a job between two polls holds no slot.
        self.slots = asyncio.Semaphore(max_concurrent)
        self.http = Transport(
            self.name,
            base_url=base_url.rstrip("/") + "/",
            headers=self.auth_headers(api_key),
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            policy=policy,
            sleep=sleep,
            clock=clock,
            rng=self.rng,
        )

    @classmethod
    def from_config(cls, config: RemoteProviderConfig, **overrides: Any) -> RemoteProvider:
        if config.api_key is None or config.base_url is None:
            raise ValueError(f"{cls.name} needs an api_key and a base_url")
        return cls(
            api_key=config.api_key.get_secret_value(),
            base_url=str(config.base_url),
            connect_timeout=config.connect_timeout,
            read_timeout=config.read_timeout,
            poll_interval=config.poll_interval,
            max_poll_interval=config.max_poll_interval,
            deadline=config.deadline,
            max_concurrent=config.max_concurrent,
            **{**cls.options_from(config), **overrides},
        )

    @classmethod
    def options_from(cls, config: RemoteProviderConfig) -> dict[str, Any]:
        """This provider's own settings (its config_class's), as constructor options."""
        return {}

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> RemoteProvider:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # --- what each provider says --------------------------------------------------

    @staticmethod
    @abstractmethod
    def auth_headers(api_key: str) -> Mapping[str, str]: ...

    @abstractmethod
    async def submission(
        self, request: GenerationRequest, spec: ModelSpec, seed: int | None
    ) -> tuple[str, str, dict[str, Any]]:
        """(endpoint id, URL path, JSON body) for a request already checked against spec.
        Async for clients that first upload the images (WaveSpeed)."""

    @abstractmethod
    def handle_from(self, data: dict[str, Any], endpoint: str, seed: int | None) -> Handle:
        """The handle, from the submit answer. Missing ids raise AmbiguousSubmitError."""

    @abstractmethod
    async def poll(self, handle: Handle) -> Event:
        """One status read: Queued, Running, Succeeded or Failed."""

    async def request_cancel(self, handle: Handle) -> bool:
        return False

    async def status_json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        """One status read (safe to repeat), checked and parsed."""
        response = await self.http.send(method, url, safe_to_repeat=True, **kwargs)
        self.http.check_status(response, what="status")
        return self.http.json_of(response, ambiguous=False)

    # --- the lifecycle -----------------------------------------------------------

    def check(self, request: GenerationRequest) -> ModelSpec:
        """Refuse what this provider cannot do, before any network call."""
        return self.capabilities.check(self.name, request)

    async def submit(self, request: GenerationRequest, tag: JobTag | None = None) -> Handle:
        """Send the job once. The returned handle must be saved before watching.
        (`tag` is for queueing backends; a remote API has its own queue.)"""
        spec = self.check(request)
        # A random seed is chosen here, not by the provider, so it can always be
        # reported back (and a retry can ask for a different one).
        seed = None
        if spec.seed is not None:
            seed = request.seed if request.seed is not None else self.rng.randint(*spec.seed)
        endpoint, path, body = await self.submission(request, spec, seed)
        async with self.slots:
            response = await self.http.send(
                "POST",
                path,
                json_body=body,
                safe_to_repeat=False,
                deadline=self.clock() + self.deadline,
            )
        self.http.check_status(response, what="submit")
        handle = self.handle_from(self.http.json_of(response, ambiguous=True), endpoint, seed)
        log.info("%s: submitted %s as %s", self.name, endpoint, handle.request_id)
        return handle

    async def watch(self, handle: Handle) -> AsyncIterator[Event]:
        """Status events until the job ends; the last one is Succeeded or Failed.
        Works the same on a handle saved by an earlier process (see resume)."""
        schedule = PollSchedule(self.poll_interval, self.max_poll_interval)
        deadline = handle.submitted_at + self.deadline
        last_event: Event | None = None
        event: Event | None
        last_problem = ""
        while True:
            if self.clock() > deadline:
                yield Failed(
                    DeadlineExceededError(
                        f"job {handle.request_id} did not finish within {self.deadline:g} s"
                        + (f" (last poll: {last_problem})" if last_problem else ""),
                        provider=self.name,
                    )
                )
                return
            try:
                async with self.slots:
                    event = await self.poll(handle)
                last_problem = ""
            except RateLimitedError as exc:
                # The provider is still running the job it was paid for: a rate limit
                # slows the polling down, it never ends the job (only the deadline does).
                last_problem = exc.message
                wait = schedule.slow_down(exc.retry_after)
                log.info(
                    "%s: job %s: rate limited; next poll in %.0f s",
                    self.name,
                    handle.request_id,
                    wait,
                )
                await self.sleep(wait)
                continue
            except TransientError as exc:
                last_problem = exc.message
                # Outages and unreadable answers pass: keep polling until the deadline.
                log.info("%s: job %s: %s", self.name, handle.request_id, exc)
                event = last_event
            except ProviderError as exc:
                yield Failed(exc)
                return
            except Exception:
                # An answer no client code foresaw is the provider's problem, not a
                # reason to lose a paid job: log it and poll again.
                log.exception("%s: job %s: unexpected status answer", self.name, handle.request_id)
                last_problem = "an answer that could not be read"
                event = last_event
            if event is not None and event != last_event:
                yield event
                last_event = event
            if isinstance(event, Succeeded | Failed):
                return
            await self.sleep(schedule.next_wait(self.rng))

    def resume(self, handle: Handle | Mapping[str, Any]) -> AsyncIterator[Event]:
        """Continue watching a job from a saved handle (a restart never resubmits)."""
        if not isinstance(handle, Handle):
            handle = Handle.model_validate(handle)
        if handle.provider != self.name:
            raise ValueError(f"a {handle.provider} handle cannot be resumed by {self.name}")
        return self.watch(handle)

    async def fetch_result(
        self,
        handle: Handle,
        done: Succeeded,
        dest: Path,
        *,
        max_bytes: int = DEFAULT_MAX_RESULT_BYTES,
    ) -> VideoResult:
        """Download the video now (result URLs expire), capped and checked."""
        size = await self.http.download(done.video_url, dest, max_bytes=max_bytes)
        seed = done.seed if done.seed is not None else handle.seed
        return VideoResult(path=dest, size_bytes=size, seed=seed, timings=done.timings)

    async def cancel(self, handle: Handle) -> bool:
        """Ask the provider to stop the job; False where it cannot be cancelled."""
        if not self.capabilities.cancel:
            return False
        return await self.request_cancel(handle)

    async def run(self, request: GenerationRequest, dest: Path) -> VideoResult:
        """submit + watch + fetch_result, for callers that need no events (tests, CLI)."""
        handle = await self.submit(request)
        async for event in self.watch(handle):
            if isinstance(event, Failed):
                raise event.error
            if isinstance(event, Succeeded):
                return await self.fetch_result(handle, event, dest)
        raise AssertionError("watch ended without a final event")
