"""Wiring: the pieces a running bot is made of, built from the settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from bot.clock import Clock, system_clock
from bot.config import REMOTE_PROVIDERS, Settings
from bot.core.safety import DenyList, SafetyChecker, default_detector
from providers import PROVIDERS, Provider

if TYPE_CHECKING:
    from bot.core.admin import AdminService
    from bot.core.api import DeliveryTarget, Platform
    from bot.core.context import JobContext, Sleep
    from bot.core.service import JobService
    from storage import Store


class MissingExtra(Exception):
    """A configured part needs an extra that is not installed (said in one line)."""


def build_providers(settings: Settings, **overrides: Any) -> dict[str, Provider]:
    """Every remote provider that is enabled and has its key and base URL, and the
    local engine when it is enabled."""
    providers: dict[str, Provider] = {
        name: PROVIDERS[name].from_config(settings.providers.remote(name), **overrides)
        for name in REMOTE_PROVIDERS
        if settings.providers.remote(name).usable
    }
    if settings.providers.local.enabled:
        providers["local"] = build_local(settings)
    return providers


def build_local(settings: Settings) -> Provider:
    """The local FramePack engine: in this process, where its weights load at the first
    job (in a thread; a missing folder fails that job with the list of what is missing,
    and `doctor` shows the same beforehand), or the GPU worker pool behind Redis."""
    import importlib.util

    from providers.local import from_config

    pool = settings.providers.local
    if pool.redis_url is None:
        missing = [m for m in ("torch", "diffusers") if importlib.util.find_spec(m) is None]
        if missing:
            raise MissingExtra(
                f"the local engine runs in this process here and needs {', '.join(missing)}: "
                "install the `local` extra (pip install '.[local]'), or point "
                "[providers.local] redis_url at a GPU worker pool"
            )
    return from_config(
        settings.engine, workdir=settings.data_dir / "engine", pool=settings.providers.local
    )


def build_safety(settings: Settings, *, with_detector: bool = True) -> SafetyChecker:
    return SafetyChecker(
        DenyList.load(settings.safety.deny_list_path),
        default_detector() if with_detector else None,
        settings.safety.nudity_threshold,
    )


def build_admin(
    store: Store,
    settings: Settings,
    *,
    provider_names: Collection[str],
    clock: Clock = system_clock,
) -> AdminService:
    """The admin operations on their own, for the CLI, where no job service runs
    (`build_service` builds the chat adapters' over the service's own parts)."""
    from bot.core.admin import AdminService
    from bot.core.authority import Authority
    from bot.core.quotas import QuotaService
    from bot.core.settings import ScopedSettings

    return AdminService(
        store=store,
        quotas=QuotaService(store, settings.quotas, clock),
        authority=Authority(settings),
        scoped=ScopedSettings(store.settings, settings),
        clock=clock,
        provider_names=provider_names,
    )


def build_service(
    store: Store,
    settings: Settings,
    providers: Mapping[str, Provider],
    safety: SafetyChecker,
    *,
    delivery: Mapping[str, DeliveryTarget] | None = None,
    clock: Clock = system_clock,
    sleep: Sleep = asyncio.sleep,
    stop_grace_s: float | None = None,
) -> JobService:
    """The composition root: the job service and every role it is made of, built once
    and handed what each needs (no role builds its own collaborators). `run`, the
    benches and the tests build theirs here."""
    from bot.core.admin import AdminService
    from bot.core.delivery import Delivery
    from bot.core.endings import Endings
    from bot.core.followups import FollowUps
    from bot.core.intake import Intake
    from bot.core.retention import Retention
    from bot.core.running import STOP_GRACE_S, Runner
    from bot.core.service import JobService

    ctx = _context(store, settings, providers, safety, clock=clock, sleep=sleep)
    endings = Endings(ctx)
    posting = Delivery(ctx, endings)
    for platform, target in (delivery or {}).items():
        posting.register(platform, target)
    # None: the default grace; 0 is a real choice (stop without waiting for submits).
    grace = STOP_GRACE_S if stop_grace_s is None else stop_grace_s
    runner = Runner(ctx, endings, posting, stop_grace_s=grace)
    intake = Intake(ctx, endings, runner)
    admin = AdminService(
        store=store,
        quotas=ctx.quotas,
        authority=ctx.authority,
        scoped=ctx.scoped,
        clock=clock,
        provider_names=ctx.providers.keys(),
        cancel=lambda job_id, who: runner.cancel(job_id, by=who),
    )
    retention = Retention(
        store,
        ctx.jobs_dir,
        keep_days=settings.storage.keep_days,
        max_bytes=settings.storage.max_disk_mb * 2**20,
        clock=clock,
    )
    return JobService(
        ctx,
        intake=intake,
        runner=runner,
        delivery=posting,
        follow_ups=FollowUps(ctx, intake),
        admin=admin,
        retention=retention,
    )


def _context(
    store: Store,
    settings: Settings,
    providers: Mapping[str, Provider],
    safety: SafetyChecker,
    *,
    clock: Clock,
    sleep: Sleep,
) -> JobContext:
    """What every role of the job service shares."""
    from bot.core.authority import Authority
    from bot.core.context import JobContext
    from bot.core.cpu import CpuPool
    from bot.core.quotas import QuotaService
    from bot.core.settings import ScopedSettings
    from bot.core.updates import Updates
    from bot.log import Redactor
    from bot.owner import this_process

    return JobContext(
        store=store,
        settings=settings,
        providers=dict(providers),
        safety=safety,
        quotas=QuotaService(store, settings.quotas, clock),
        authority=Authority(settings),
        scoped=ScopedSettings(store.settings, settings),
        clock=clock,
        sleep=sleep,
        cpu=CpuPool(),
        updates=Updates(),
        redact=Redactor(settings.secrets()),
        owner=this_process(),
    )


def freeze_startup_heap() -> None:
    """Move everything start-up made (~100k objects: pydantic, discord.py, numpy,
    onnxruntime, av, ...) out of the collector's reach: none of it is garbage, and a
    full collection walking it stalls the event loop 40-110 ms, in the middle of a
    burst of interactions that each have 3 seconds to be answered."""
    import gc

    gc.collect()
    gc.freeze()
    logging.getLogger("bot.cli.run").info(
        "froze %d start-up objects out of the garbage collector", gc.get_freeze_count()
    )


async def run_bot(settings: Settings) -> None:
    """Run every configured chat platform in this process around one job service, until
    Ctrl-C or SIGTERM, then stop cleanly (the service leaves every job resumable). A
    platform that cannot start, or whose connection ends for good, is logged and the
    others go on."""
    import functools
    import signal

    main = asyncio.current_task()
    assert main is not None  # run inside asyncio.run
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)

    from storage import Store

    log = logging.getLogger("bot.cli.run")
    store = await Store.open(
        settings.store_location, busy_timeout_ms=settings.storage.busy_timeout_ms
    )
    # From here on whatever fails closes what was opened: the store's writer thread
    # would otherwise keep a process that cannot run alive, deaf to Ctrl-C.
    providers: dict[str, Provider] = {}
    service: JobService | None = None
    platforms: list[Platform] = []
    serving: list[asyncio.Task[None]] = []
    try:
        providers = build_providers(settings)
        service = build_service(store, settings, providers, build_safety(settings))
        log.info(
            "store %s (schema %d); providers: %s",
            store.db.location,
            await store.db.schema_version(),
            ", ".join(providers) or "none",
        )
        await _serve_metrics(settings, store, service, log)
        platforms = build_platforms(service, settings)
        running = await _start_all(platforms, log)
        await service.start()  # after the adapters registered their delivery targets
        freeze_startup_heap()
        log.info("running: %s", ", ".join(p.name for p in running) or "no chat platform")
        for platform in running:
            task = asyncio.create_task(platform.serve(), name=f"serve-{platform.name}")
            task.add_done_callback(functools.partial(_ended, name=platform.name, log=log))
            serving.append(task)
        await asyncio.Event().wait()  # until SIGTERM or Ctrl-C cancels this task
    except asyncio.CancelledError:
        log.info("stopping")
    finally:
        await _close_all(store, service, providers, platforms, serving, log)


async def _serve_metrics(
    settings: Settings, store: Store, service: JobService, log: logging.Logger
) -> None:
    if settings.metrics.port is None:
        return
    from bot.core.metrics import BotMetrics
    from storage import ACTIVE_STATES

    metrics = BotMetrics()
    metrics.seed(await store.jobs.in_states(ACTIVE_STATES))
    where = f"{settings.metrics.address}:{settings.metrics.port}"
    try:
        metrics.serve(settings.metrics.port, settings.metrics.address)
    except OSError as exc:  # a port in use must not keep the bot from its users
        log.error("metrics: cannot listen on %s (%s); running without them", where, exc)
    else:
        service.subscribe(metrics)
        log.info("metrics on http://%s/metrics", where)


async def _close_all(
    store: Store,
    service: JobService | None,
    providers: dict[str, Provider],
    platforms: list[Platform],
    serving: list[asyncio.Task[None]],
    log: logging.Logger,
) -> None:
    if service is not None:
        await service.stop()
    for platform in platforms:
        try:
            await platform.stop()
        except Exception:
            log.exception("%s did not stop cleanly", platform.name)
    for task in serving:
        task.cancel()
    await asyncio.gather(*serving, return_exceptions=True)
    for name, provider in providers.items():
        # Whatever a backend does on the way out (a pool whose Redis is gone), the
        # store still closes: its thread would otherwise keep the process alive.
        try:
            async with asyncio.timeout(10):
                await provider.aclose()
        except Exception:
            log.exception("%s did not close cleanly", name)
    await store.close()


def build_platforms(service: JobService, settings: Settings) -> list[Platform]:
    """An adapter for each platform that has a token."""
    platforms: list[Platform] = []
    if settings.discord.token is not None:
        from bot.discord.adapter import DiscordAdapter

        platforms.append(DiscordAdapter(service, settings))
    if settings.telegram.token is not None:
        from bot.telegram.app import TelegramAdapter

        platforms.append(TelegramAdapter(service, settings))
    return platforms


async def _start_all(platforms: list[Platform], log: logging.Logger) -> list[Platform]:
    """The platforms that started. One that cannot is logged and left out while
    another runs; when none can, the first one's error is raised for the CLI to
    explain (a refused token, an unreachable API)."""
    running: list[Platform] = []
    errors: list[Exception] = []
    for platform in platforms:
        try:
            await platform.start()
        except Exception as exc:
            # An expected condition (a refused token, an unreachable API): one line.
            log.warning("%s could not start (%s); running without it", platform.name, _said(exc))
            log.debug("%s start failure", platform.name, exc_info=exc)
            errors.append(exc)
        else:
            running.append(platform)
    if errors and not running:
        raise errors[0]
    return running


def _said(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _ended(task: asyncio.Task[None], *, name: str, log: logging.Logger) -> None:
    if task.cancelled():
        return
    if task.exception() is not None:
        log.error("%s stopped working; the other platforms go on", name, exc_info=task.exception())
