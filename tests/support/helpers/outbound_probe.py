"""A job service with NudeNet loaded, run through one job against the fake provider
whose URL is in the environment, then kept alive past onnxruntime's telemetry delay:
the outbound-connection test traces this process's connections.

    python -m tests.support.helpers.outbound_probe SECONDS_TO_LINGER
"""

from __future__ import annotations

import asyncio
import sys
import time

from bot.cli.run import build_providers, build_safety, build_service
from bot.config import load_settings
from bot.core.api import AnimateRequest, Requester
from storage import Store
from tests.support.helpers.service_process import FileDelivery
from tests.support.provider_world import png_bytes


async def main(linger: float) -> None:
    settings = load_settings()
    safety = build_safety(settings)  # NudeNet, with onnxruntime under it
    assert safety.detector is not None, "NudeNet is not installed"
    loaded = time.monotonic()
    store = await Store.open(settings.store_location)
    service = build_service(
        store,
        settings,
        build_providers(settings),
        safety,
        delivery={"discord": FileDelivery(settings.data_dir / "posted")},
    )
    await service.start()
    who = Requester("discord", "discord:1", "discord:77", "discord:c1", "1")
    outcome = await service.submit(
        AnimateRequest(who, "a boat on a lake", png_bytes(128, 72), None, {"num_frames": 30})
    )
    await service.join()
    job = await store.jobs.get(outcome.job_id)
    print(f"job {job.state.value}", flush=True)
    await asyncio.sleep(max(0.0, linger - (time.monotonic() - loaded)))
    await service.stop()
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1])))
