"""Many chats sending a captioned photo at once: our bot beside a minimal
python-telegram-bot app.

    python bench/telegram.py [--chats 100] [--rounds 3] [--job-seconds 5]

Both run as their own processes (`framepack-bot run` with only Telegram configured, and
bench/minimal_telegram_bot.py, which replies to a photo with a message), each against
its own loopback Bot API (tests/support/fakes/telegram.py) in this process; rounds alternate.
Our bot works for real behind it: the status photo, getFile and the download, the job
service, SQLite, NudeNet on the image, and a fake fal whose jobs take `--job-seconds`.

Per round, `--chats` private chats each send `/animate` on a photo at once (on a quiet
bot: the next round starts once the last round's videos are delivered); measured:
update available (getUpdates would return it) -> the bot's first answer in that chat
(ours: the status photo; minimal: its reply), p50 and p99, and the ratio of the p99s.
Both keep to Telegram's ~30 messages a second (ours: bot.telegram.send_budget; the
minimal app: AIORateLimiter), so the answers to a burst of 100 spread over ~3 s for
either.

    python bench/telegram.py --busy [--chats 100] [--rounds 2]

Our bot alone, its first answers on a quiet bot beside those to a burst sent while
the videos of an earlier burst of as many are being delivered: p50/p99 of each and
their ratio (the send budget serves first answers before deliveries and progress).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import tempfile
from pathlib import Path

# This file is named telegram.py; its folder must not shadow the telegram package.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from PIL import Image  # noqa: E402

from bench.side_by_side import pct, stop  # noqa: E402
from tests.support.fakes.telegram import FakeTelegram  # noqa: E402
from tests.support.provider_world import API_KEY, FAKES  # noqa: E402
from tests.support.subprocess_env import ROOT, isolated_env, telegram_env  # noqa: E402

PNG = io.BytesIO()
Image.new("RGB", (640, 360), (40, 120, 200)).save(PNG, "PNG")


async def start(command: list[str], env: dict[str, str], fake: FakeTelegram):
    process = await asyncio.create_subprocess_exec(*command, cwd=ROOT, env=env)
    for _ in range(1200):  # polling has begun once the webhook is cleared
        if fake.of_method("deleteWebhook"):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(2.0)  # start-up settles (the bot freezes its heap, ...)
    return process


async def burst(fake: FakeTelegram, chats: int, first_chat: int, answer: str) -> list[float]:
    """Each of `chats` chats sends a captioned photo at once; seconds to each answer."""
    requests = {}
    for n in range(chats):
        chat = first_chat + n
        message = fake.photo_message(
            PNG.getvalue(), "/animate waves roll in", chat_id=chat, user_id=chat
        )
        update = fake.push_update(message=message)
        requests[(chat, message["message_id"])] = update["update_id"]

    def answered() -> dict[tuple[int, int], float]:
        found = {}
        for call in fake.of_method(answer):
            reply = call.params.get("reply_parameters") or {}
            key = (int(call.params.get("chat_id") or 0), reply.get("message_id"))
            if key in requests:
                found.setdefault(key, call.at)
        return found

    for _ in range(1200):
        if len(answered()) == chats:
            break
        await asyncio.sleep(0.05)
    times = answered()
    missing = chats - len(times)
    if missing:
        print(f"  ({missing} chats got no answer within 60 s)")
    return [
        times[key] - fake.pushed_at[update_id]
        for key, update_id in requests.items()
        if key in times
    ]


def our_env(tmp: Path, fake: FakeTelegram, fal, *, max_concurrent: int) -> dict[str, str]:
    """`framepack-bot run` with only Telegram, against `fake` and a fake fal."""
    return isolated_env(
        tmp / "data",
        **telegram_env(fake),
        FAL_KEY=API_KEY,
        FPBOT_PROVIDERS__FAL__BASE_URL=fal.base_url,
        FPBOT_PROVIDERS__FAL__MAX_CONCURRENT=str(max_concurrent),
        FPBOT_QUOTAS__GLOBAL_QUEUE_LENGTH="100000",
        FPBOT_LOG_LEVEL="WARNING",
    )


def videos(fake: FakeTelegram) -> int:
    return sum(1 for message in fake.sent.values() if "video" in message)


async def until_delivered(fake: FakeTelegram, count: int, within: float = 300.0) -> None:
    for _ in range(int(within / 0.1)):
        if videos(fake) >= count:
            return
        await asyncio.sleep(0.1)
    print(f"  (not all {count} videos were delivered within {within:g} s)")


async def run(chats: int, rounds: int, job_seconds: float) -> None:
    results: dict[str, list[float]] = {"ours": [], "minimal": []}
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            FakeTelegram() as ours_fake,
            FakeTelegram() as minimal_fake,
            FAKES["fal"](API_KEY) as fal,
        ):
            fal.job_seconds = job_seconds
            ours_env = our_env(Path(tmp), ours_fake, fal, max_concurrent=64)
            ours = await start([sys.executable, "-m", "bot", "run"], ours_env, ours_fake)
            minimal = await start(
                [
                    sys.executable,
                    str(ROOT / "bench" / "minimal_telegram_bot.py"),
                    minimal_fake.api_base,
                    minimal_fake.file_base,
                    minimal_fake.token,
                ],
                isolated_env(Path(tmp) / "minimal"),
                minimal_fake,
            )
            try:
                chat = 1_000_000
                for _ in range(rounds):
                    for name, fake, answer in (
                        ("ours", ours_fake, "sendPhoto"),
                        ("minimal", minimal_fake, "sendMessage"),
                    ):
                        results[name].extend(await burst(fake, chats, chat, answer))
                        chat += chats
                        if name == "ours":  # each burst on a quiet bot: its videos are out
                            await until_delivered(ours_fake, len(results["ours"]))
                        await asyncio.sleep(2.0)  # the rate limiter's window clears
            finally:
                await stop(ours, minimal)

    print(f"{chats} chats send a captioned photo at once, {rounds} alternating rounds each")
    print("  bot      first answer p50  p99")
    for name in ("ours", "minimal"):
        times = results[name]
        print(f"  {name:7}  {pct(times, 0.5) * 1e3:10.0f} ms  {pct(times, 0.99) * 1e3:6.0f} ms")
    ratio = pct(results["ours"], 0.99) / pct(results["minimal"], 0.99)
    ratio50 = pct(results["ours"], 0.5) / pct(results["minimal"], 0.5)
    print(f"  ours/minimal: p50 {ratio50:.2f}, p99 {ratio:.2f}")


async def run_busy(chats: int, rounds: int, job_seconds: float) -> None:
    """Our bot alone: per round a burst on a quiet bot, then a burst sent the moment
    the videos of an earlier burst of as many start coming out (their deliveries and
    progress edits all want the send budget then)."""
    quiet: list[float] = []
    busy: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeTelegram() as fake, FAKES["fal"](API_KEY) as fal:
            fal.job_seconds = job_seconds
            env = our_env(Path(tmp), fake, fal, max_concurrent=256)
            bot = await start([sys.executable, "-m", "bot", "run"], env, fake)
            try:
                chat, made = 1_000_000, 0
                for _ in range(rounds):
                    quiet.extend(await burst(fake, chats, chat, "sendPhoto"))
                    chat, made = chat + chats, made + chats
                    await until_delivered(fake, made)
                    await asyncio.sleep(2.0)
                    # The earlier burst: not measured; its videos are the busy moment.
                    earlier = asyncio.create_task(burst(fake, chats, chat, "sendPhoto"))
                    chat += chats
                    for _ in range(6000):
                        if videos(fake) > made:  # its first video is out
                            break
                        await asyncio.sleep(0.01)
                    busy.extend(await burst(fake, chats, chat, "sendPhoto"))
                    await earlier
                    chat, made = chat + chats, made + 2 * chats
                    await until_delivered(fake, made)
                    await asyncio.sleep(2.0)
            finally:
                await stop(bot)
    print(
        f"{chats} chats send a captioned photo at once, {rounds} rounds: on a quiet bot, "
        f"and while {chats} videos are being delivered"
    )
    print("  moment   first answer p50  p99")
    for name, times in (("quiet", quiet), ("busy", busy)):
        print(f"  {name:7}  {pct(times, 0.5) * 1e3:10.0f} ms  {pct(times, 0.99) * 1e3:6.0f} ms")
    print(
        f"  busy/quiet: p50 {pct(busy, 0.5) / pct(quiet, 0.5):.2f}, "
        f"p99 {pct(busy, 0.99) / pct(quiet, 0.99):.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--job-seconds", type=float, default=5.0)
    parser.add_argument(
        "--busy", action="store_true", help="our bot's first answers, quiet and busy"
    )
    args = parser.parse_args()
    chosen = run_busy if args.busy else run
    asyncio.run(chosen(args.chats, args.rounds, args.job_seconds))


if __name__ == "__main__":
    main()
