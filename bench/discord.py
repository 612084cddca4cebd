"""Bursts of /animate from distinct users: our bot beside a minimal discord.py bot.

    python bench/discord.py [--bursts 30,100,300] [--rounds 3] [--job-seconds 5]
                            [--image-checks on|off]

Both run as their own processes (`framepack-bot run`, and bench/minimal_bot.py which
defers, reads the attachment and posts a small MP4), each against its own loopback
Discord (tests/support/fakes/discord.py) in this process; rounds alternate between the two.
Our bot works for real behind it: the job service, SQLite, NudeNet on the image and on
the finished video, and a fake fal whose every job takes `--job-seconds` of real time.

Per burst size, for both: INTERACTION_CREATE sent -> defer callback received (p50, p99;
Discord's limit is 3 s), and -> the video posted (p50, p99), and the ratio ours /
minimal of the defer p99. The video time of ours is set against the provider's own
time per job. `--image-checks off` starts every chat with the image checks off, which
shows the bot's own share of the time to video apart from NudeNet's CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import tempfile
from pathlib import Path

# This file is named discord.py; its folder must not shadow the discord package, so the
# repository root takes its place on the path.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from PIL import Image  # noqa: E402

from bench.side_by_side import pct, stop  # noqa: E402
from tests.support.fakes.discord import FakeDiscord  # noqa: E402
from tests.support.provider_world import API_KEY, FAKES  # noqa: E402
from tests.support.subprocess_env import ROOT, bot_env, isolated_env  # noqa: E402

PNG = io.BytesIO()
Image.new("RGB", (640, 360), (40, 120, 200)).save(PNG, "PNG")


async def start(command: list[str], env: dict[str, str], fake: FakeDiscord):
    fake.ready.clear()
    fake.synced.clear()
    process = await asyncio.create_subprocess_exec(*command, cwd=ROOT, env=env)
    await asyncio.wait_for(fake.ready.wait(), 120)
    await asyncio.wait_for(fake.synced.wait(), 60)
    await asyncio.sleep(1.0)  # start-up settles (the bot freezes its heap, ...)
    return process


async def burst(fake: FakeDiscord, size: int, first_user: int) -> tuple[list, list]:
    """Send `size` /animate at once; (defer delays, video delays) in seconds."""
    loop = asyncio.get_running_loop()
    payloads = []
    for n in range(size):
        image = fake.add_attachment("photo.png", PNG.getvalue(), "image/png")
        payloads.append(
            fake.slash_command(
                "animate",
                [
                    {"name": "image", "type": 11, "value": image["id"]},
                    {"name": "prompt", "type": 3, "value": "waves roll in"},
                ],
                attachments=[image],
                user_id=str(first_user + n),
            )
        )
    sent_at = {}
    for payload in payloads:  # back to back on the gateway
        sent_at[payload["token"]] = loop.time()
        await fake.dispatch("INTERACTION_CREATE", payload)
    tokens = set(sent_at)

    def first(kind, files: bool) -> dict[str, float]:
        found: dict[str, float] = {}
        for sent in fake.sent:
            token = sent.payload.get("_token")
            if sent.kind == kind and token in tokens and (sent.files or not files):
                found.setdefault(token, sent.at)
        return found

    async with asyncio.timeout(600):
        while len(first("followup", True)) < size:  # noqa: ASYNC110 (the fake's record)
            await asyncio.sleep(0.05)
    callbacks, videos = first("callback", False), first("followup", True)
    return (
        [callbacks[t] - sent_at[t] for t in tokens],
        [videos[t] - sent_at[t] for t in tokens],
    )


async def run(sizes: list[int], rounds: int, job_seconds: float, image_checks: bool) -> None:
    results: dict[tuple[str, int], tuple[list, list]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            FakeDiscord() as ours_fake,
            FakeDiscord() as minimal_fake,
            FAKES["fal"](API_KEY) as fal,
        ):
            fal.job_seconds = job_seconds
            ours_env = bot_env(
                Path(tmp) / "data",
                ours_fake,
                fal,
                FPBOT_DISCORD__ANIMATE_RATE="1000",
                FPBOT_PROVIDERS__FAL__POLL_INTERVAL="1",
                FPBOT_PROVIDERS__FAL__MAX_POLL_INTERVAL="1",
                FPBOT_PROVIDERS__FAL__MAX_CONCURRENT="64",
                FPBOT_QUOTAS__GLOBAL_QUEUE_LENGTH="100000",
                FPBOT_QUOTAS__GUILD_DAILY_CREDITS="10000000",
                FPBOT_LOG_LEVEL="WARNING",
                FPBOT_SAFETY__ENABLED_BY_DEFAULT=str(image_checks).lower(),
            )
            ours = await start([sys.executable, "-m", "bot", "run"], ours_env, ours_fake)
            minimal = await start(
                [
                    sys.executable,
                    str(ROOT / "bench" / "minimal_bot.py"),
                    minimal_fake.api_url,
                    minimal_fake.gateway_url,
                    minimal_fake.token,
                ],
                isolated_env(Path(tmp) / "minimal"),
                minimal_fake,
            )
            try:
                user = 720_000_000_000_000_000
                for size in sizes:
                    for _ in range(rounds):
                        for name, fake in (("ours", ours_fake), ("minimal", minimal_fake)):
                            defer, video = await burst(fake, size, user)
                            user += size
                            got = results.setdefault((name, size), ([], []))
                            got[0].extend(defer)
                            got[1].extend(video)
                            await asyncio.sleep(1.0)  # let the last burst's tail settle
            finally:
                await stop(ours, minimal)

    print(
        f"/animate bursts, {rounds} alternating rounds each; fake provider: {job_seconds:g} s"
        f" a job; image checks {'on' if image_checks else 'off'}"
    )
    print("  burst  bot      defer p50  defer p99  video p50  video p99")
    for size in sizes:
        for name in ("ours", "minimal"):
            defer, video = results[(name, size)]
            print(
                f"  {size:5d}  {name:7}  {pct(defer, 0.5) * 1e3:6.0f} ms"
                f"  {pct(defer, 0.99) * 1e3:6.0f} ms"
                f"  {pct(video, 0.5):7.2f} s  {pct(video, 0.99):7.2f} s"
            )
        ratio = pct(results[("ours", size)][0], 0.99) / pct(results[("minimal", size)][0], 0.99)
        video_ratio = pct(results[("ours", size)][1], 0.99) / job_seconds
        print(
            f"  {size:5d}  defer p99 ours/minimal = {ratio:.2f}; "
            f"video p99 ours / provider's own {job_seconds:g} s = {video_ratio:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", default="30,100,300")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--job-seconds", type=float, default=5.0)
    parser.add_argument("--image-checks", choices=("on", "off"), default="on")
    args = parser.parse_args()
    sizes = [int(s) for s in args.bursts.split(",")]
    asyncio.run(run(sizes, args.rounds, args.job_seconds, args.image_checks == "on"))


if __name__ == "__main__":
    main()
