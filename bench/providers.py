"""Our provider clients' overhead per job against bare HTTP round trips.

    python bench/providers.py [--jobs 150] [--providers fal,wavespeed,piapi,lannetech]
                              [--polls 1200] [--in-flight 64]

Each fake provider runs in its own process. For every provider the same jobs run
twice, sequentially: once through our client (submit, watch, fetch_result: request
mapping, retries layer, events, MP4 check), once as the bare aiohttp requests the
protocol needs (the same submit body, status polls until done, result, download).
Poll waits are zero in both, so the figures are pure overhead. Prints wall time per
job for each, the ratio (ours / bare; aim: under 1.1) and this process's CPU per job.

Then the case of a burst: `--polls` status polls with `--in-flight` of them at once,
CPU per request through our transport, bare aiohttp, and bare httpx (which the
transport used before: its connection pool re-checks every connection at each
request, which is what moved the transport to aiohttp).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from providers import PROVIDERS
from providers.remote import RemoteProvider
from tests.support.fakes.serve import fake_provider_process
from tests.support.provider_world import API_KEY, request_for

DONE = {"fal": "COMPLETED", "wavespeed": "completed", "piapi": "completed", "lannetech": "success"}


async def no_wait(_: float) -> None:
    await asyncio.sleep(0)


async def ours(provider: RemoteProvider, name: str, out: Path) -> None:
    await provider.run(request_for(name), out)


class Bare:
    """Bare aiohttp requests below a base URL, answers read whole as JSON."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.headers = headers
        self.session = aiohttp.ClientSession()

    def url(self, path: str) -> str:
        return path if "://" in path else self.base_url + path.lstrip("/")

    async def json(self, method: str, path: str, **kwargs) -> dict:
        async with self.session.request(
            method, self.url(path), headers=self.headers, **kwargs
        ) as response:
            return await response.json(content_type=None)

    async def content(self, url: str) -> bytes:
        async with self.session.get(url) as response:
            return await response.read()


async def bare(client: Bare, provider: RemoteProvider, name: str, out: Path) -> None:
    """The requests our client makes, with nothing around them."""
    request = request_for(name)
    spec = provider.check(request)
    _, path, body = provider.submission(request, spec, 1234)
    submitted = await client.json("POST", path, json=body)
    if name == "fal":
        status_url, result_url = submitted["status_url"], submitted["response_url"]
        while (await client.json("GET", status_url, params={"logs": "1"}))["status"] != DONE[name]:
            pass
        url = (await client.json("GET", result_url))["video"]["url"]
    elif name == "wavespeed":
        job = submitted["data"]["id"]
        while True:
            data = (await client.json("GET", f"api/v3/predictions/{job}/result"))["data"]
            if data["status"] == DONE[name]:
                url = data["outputs"][0]
                break
    elif name == "piapi":
        task = submitted["data"]["task_id"]
        while True:
            data = (await client.json("GET", f"api/v1/task/{task}"))["data"]
            if data["status"] == DONE[name]:
                output = data["output"]
                url = output.get("video_url") or output["works"][0]["resource"]["resource"]
                break
    else:
        while True:
            data = await client.json("POST", path, json={"request_id": submitted["request_id"]})
            if data["status"] == DONE[name]:
                url = data["video"]["url"]
                break
    # Written inline, as our transport writes its chunks: the same cost on both sides.
    out.write_bytes(await client.content(url))  # noqa: ASYNC240


async def measure(name: str, base_url: str, jobs: int, tmp: Path) -> dict[str, float]:
    provider = PROVIDERS[name](api_key=API_KEY, base_url=base_url, sleep=no_wait)
    client = Bare(base_url, dict(provider.auth_headers(API_KEY)))
    results: dict[str, list[float]] = {"ours": [], "bare": [], "ours_cpu": [], "bare_cpu": []}
    async with provider, client.session:
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


async def polls_in_flight(base_url: str, polls: int, in_flight: int) -> dict[str, float]:
    """CPU per status poll with `in_flight` at once: ours, bare aiohttp, bare httpx."""
    provider = PROVIDERS["fal"](api_key=API_KEY, base_url=base_url, sleep=no_wait)
    headers = dict(provider.auth_headers(API_KEY))
    async with provider:
        handle = await provider.submit(request_for("fal"))
        url = handle.urls["status"]
        bare_aiohttp = Bare(base_url, headers)
        bare_httpx = httpx.AsyncClient(headers=headers, timeout=30)

        async def one(kind: str) -> None:
            if kind == "ours":
                await provider.status_json("GET", url)
            elif kind == "aiohttp":
                await bare_aiohttp.json("GET", url)
            else:
                (await bare_httpx.get(url)).json()

        cpu: dict[str, list[float]] = {"ours": [], "aiohttp": [], "httpx": []}
        async with bare_aiohttp.session, bare_httpx:
            for _ in range(3):  # interleaved rounds
                for kind in cpu:
                    gate = asyncio.Semaphore(in_flight)

                    async def gated(kind: str = kind, gate: asyncio.Semaphore = gate) -> None:
                        async with gate:
                            await one(kind)

                    start = time.process_time()
                    await asyncio.gather(*(gated() for _ in range(polls)))
                    cpu[kind].append((time.process_time() - start) / polls)
    return {kind: statistics.median(values) for kind, values in cpu.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=150)
    parser.add_argument("--providers", default="fal,wavespeed,piapi,lannetech")
    parser.add_argument("--polls", type=int, default=1200)
    parser.add_argument("--in-flight", type=int, default=64)
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
    with fake_provider_process("fal") as base_url:
        cpu = asyncio.run(polls_in_flight(base_url, args.polls, args.in_flight))
    print(
        f"{args.polls} fal status polls, {args.in_flight} at once, CPU per poll "
        "(median of 3 interleaved rounds):"
    )
    for kind, label in (("ours", "ours"), ("aiohttp", "bare aiohttp"), ("httpx", "bare httpx")):
        print(f"  {label:<13} {cpu[kind] * 1e3:6.3f} ms")
    print(
        f"  ours / bare aiohttp = {cpu['ours'] / cpu['aiohttp']:.2f}; "
        f"bare httpx / ours = {cpu['httpx'] / cpu['ours']:.1f}"
    )


if __name__ == "__main__":
    main()
