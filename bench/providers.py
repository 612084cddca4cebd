"""Our provider clients' overhead per job against bare HTTP round trips.

    python bench/providers.py [--jobs 200] [--providers fal,wavespeed,piapi,lannetech]

Each fake provider runs in its own process. For every provider the same jobs run
twice, sequentially: once through our client (submit, watch, fetch_result: request
mapping, retries layer, events, MP4 check), once as the bare httpx requests the
protocol needs (the same submit body, status polls until done, result, download).
Poll waits are zero in both, so the figures are pure overhead. Prints wall time per
job for each, the ratio (ours / bare; aim: under 1.1) and this process's CPU per job.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from providers import PROVIDERS
from providers.remote import RemoteProvider
from tests.fakes.serve import fake_provider_process
from tests.provider_world import API_KEY, request_for

DONE = {"fal": "COMPLETED", "wavespeed": "completed", "piapi": "completed", "lannetech": "success"}


async def no_wait(_: float) -> None:
    await asyncio.sleep(0)


async def ours(provider: RemoteProvider, name: str, out: Path) -> None:
    await provider.run(request_for(name), out)


async def bare(client: httpx.AsyncClient, provider: RemoteProvider, name: str, out: Path) -> None:
    """The requests our client makes, with nothing around them."""
    request = request_for(name)
    spec = provider.check(request)
    _, path, body = provider.submission(request, spec, 1234)
    headers = dict(provider.auth_headers(API_KEY))
    submitted = (await client.post(path, json=body, headers=headers)).json()
    if name == "fal":
        status_url, result_url = submitted["status_url"], submitted["response_url"]
        while (await client.get(status_url, params={"logs": "1"}, headers=headers)).json()[
            "status"
        ] != DONE[name]:
            pass
        url = (await client.get(result_url, headers=headers)).json()["video"]["url"]
    elif name == "wavespeed":
        job = submitted["data"]["id"]
        while True:
            data = (await client.get(f"api/v3/predictions/{job}/result", headers=headers)).json()[
                "data"
            ]
            if data["status"] == DONE[name]:
                url = data["outputs"][0]
                break
    elif name == "piapi":
        task = submitted["data"]["task_id"]
        while True:
            data = (await client.get(f"api/v1/task/{task}", headers=headers)).json()["data"]
            if data["status"] == DONE[name]:
                output = data["output"]
                url = output.get("video_url") or output["works"][0]["resource"]["resource"]
                break
    else:
        while True:
            data = (
                await client.post(
                    path, json={"request_id": submitted["request_id"]}, headers=headers
                )
            ).json()
            if data["status"] == DONE[name]:
                url = data["video"]["url"]
                break
    # Written inline, as our transport writes its chunks: the same cost on both sides.
    out.write_bytes((await client.get(url)).content)  # noqa: ASYNC240


async def measure(name: str, base_url: str, jobs: int, tmp: Path) -> dict[str, float]:
    provider = PROVIDERS[name](api_key=API_KEY, base_url=base_url, sleep=no_wait)
    client = httpx.AsyncClient(base_url=base_url.rstrip("/") + "/", timeout=30)
    results: dict[str, list[float]] = {"ours": [], "bare": [], "ours_cpu": [], "bare_cpu": []}
    async with provider, client:
        for warmup in range(3):  # connections, caches, the fake's MP4 cache
            await ours(provider, name, tmp / f"w{warmup}.mp4")
            await bare(client, provider, name, tmp / f"v{warmup}.mp4")
        for round_ in range(3):  # interleaved rounds, so drift hits both sides alike
            for label, run in (
                ("ours", lambda i: ours(provider, name, tmp / f"o{i}.mp4")),
                ("bare", lambda i: bare(client, provider, name, tmp / f"b{i}.mp4")),
            ):
                wall, cpu = time.perf_counter(), time.process_time()
                for i in range(jobs // 3):
                    await run(i)
                n = jobs // 3
                results[label].append((time.perf_counter() - wall) / n)
                results[label + "_cpu"].append((time.process_time() - cpu) / n)
            del round_
    return {key: statistics.median(values) for key, values in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=150)
    parser.add_argument("--providers", default="fal,wavespeed,piapi,lannetech")
    args = parser.parse_args()
    print(
        f"per job, median of 3 rounds of {args.jobs // 3} sequential jobs "
        "(5 status polls each, a ~10 kB MP4):"
    )
    print(
        f"  {'provider':<10} {'ours ms':>8} {'bare ms':>8} {'ratio':>6} "
        f"{'ours cpu ms':>12} {'bare cpu ms':>12}"
    )
    for name in args.providers.split(","):
        with fake_provider_process(name) as base_url, tempfile.TemporaryDirectory() as tmp:
            r = asyncio.run(measure(name, base_url, args.jobs, Path(tmp)))
        print(
            f"  {name:<10} {r['ours'] * 1e3:8.2f} {r['bare'] * 1e3:8.2f} "
            f"{r['ours'] / r['bare']:6.3f} {r['ours_cpu'] * 1e3:12.2f} "
            f"{r['bare_cpu'] * 1e3:12.2f}"
        )


if __name__ == "__main__":
    main()
