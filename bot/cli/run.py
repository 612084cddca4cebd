"""Wiring: the pieces a running bot is made of, built from the settings."""

from __future__ import annotations

import logging
from typing import Any

from bot.config import REMOTE_PROVIDERS, Settings
from bot.core.safety import DenyList, SafetyChecker, default_detector
from providers import PROVIDERS, RemoteProvider


def build_providers(settings: Settings, **overrides: Any) -> dict[str, RemoteProvider]:
    """Every remote provider that is enabled and has its key and base URL."""
    return {
        name: PROVIDERS[name].from_config(settings.providers.remote(name), **overrides)
        for name in REMOTE_PROVIDERS
        if settings.providers.remote(name).usable
    }


def build_safety(settings: Settings, *, with_detector: bool = True) -> SafetyChecker:
    return SafetyChecker(
        DenyList.load(settings.safety.deny_list_path),
        default_detector() if with_detector else None,
        settings.safety.nudity_threshold,
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
    """Run the configured chat platforms until Ctrl-C or SIGTERM, then stop cleanly
    (the service leaves every job resumable)."""
    import asyncio
    import logging
    import signal

    main = asyncio.current_task()
    assert main is not None  # run inside asyncio.run
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)

    from bot.core.service import JobService
    from bot.discord.client import FramepackBot, configure_endpoints
    from storage import Store

    log = logging.getLogger("bot.cli.run")
    store = await Store.open(
        settings.database_path, busy_timeout_ms=settings.storage.busy_timeout_ms
    )
    providers = build_providers(settings)
    service = JobService(
        store=store,
        settings=settings,
        providers=providers,
        safety=build_safety(settings),
        delivery={},
    )
    log.info(
        "store %s (schema %d); providers: %s",
        settings.database_path,
        await store.db.schema_version(),
        ", ".join(providers) or "none",
    )
    discord_bot = None
    try:
        if settings.discord.token is not None:
            configure_endpoints(settings)
            discord_bot = FramepackBot(service, settings)
            await discord_bot.login(settings.discord.token.get_secret_value())
        await service.start()  # after the adapters registered their delivery targets
        freeze_startup_heap()
        log.info("running")
        if discord_bot is not None:
            await discord_bot.connect()
        else:
            await asyncio.Event().wait()
    except asyncio.CancelledError:
        log.info("stopping")
    finally:
        await service.stop()
        if discord_bot is not None:
            await discord_bot.close()
        for provider in providers.values():
            await provider.aclose()
        await store.close()
