"""What the Telegram adapter says that the core does not: how to use it here."""

from __future__ import annotations

from bot.config import PROVIDER_NAMES
from bot.core.api import MAX_SEED

PROVIDERS = "|".join(PROVIDER_NAMES)  # every one the registry knows, and local

USAGE = (
    "Send a photo with the caption\n"
    "/animate <what should happen> [options]\n"
    "or reply to a photo with /animate <prompt>. Two photos sent as an album make the "
    "first and the last frame.\n\n"
    "Example: /animate the waves roll in, the camera pans left duration=5 seed=42"
)

HELP = (
    USAGE + "\n\nOptions, as key=value words anywhere in the prompt:\n"
    "duration=1..60 (seconds) · res=480p|720p · aspect=16:9|9:16|auto · seed=0.."
    f"{MAX_SEED} · "
    "steps=4..50 · guidance=0..32 · strength=0..1 (how strongly the last frame pulls) · "
    f'negative="what to avoid" · provider={PROVIDERS} · '
    "model=framepack|framepack-f1|wan-flf2v · loop=1 (ends on the first image; plays as a "
    "loop) · draft=1 (480p, fewer steps: cheap to try) · lora=name:0.7 (local engine; two "
    "with a comma) · a prompt per section on the local engine: [0s: …] [2.5s: …]\n\n"
    "Under each video: HD (a draft again at 720p, same seed) · Retry (a new seed) · "
    "Extend (a longer video) · Remix (a new prompt, same image and seed).\n\n"
    "Commands: /quota your credits · /jobs your recent videos · /help this text.\n"
    "Admins of a group: /quota_set, /quota_grant, /quota_reset (reply to the member's "
    "message or give their numeric id), /provider <name>, /replies on|off (answer "
    "replies to photos without a mention), /safety on|off, /job <id> [cancel]."
)


def greeting(name: str, quota_text: str) -> str:
    return f"Hi {name}! I turn a still image into a short video.\n\n{USAGE}\n\n{quota_text}"


def download_over_limit(limit: int) -> str:
    return (
        f"Telegram lets bots download files of up to {limit // 1_000_000} MB, and this one "
        "is larger. Please send a smaller image, or send it as a photo."
    )


def download_limit(size: int, limit: int) -> str:
    return (
        f"Telegram lets bots download files of up to {limit // 1_000_000} MB, and this one "
        f"is {size / 1_000_000:.1f} MB. Please send a smaller image, or send it as a photo."
    )


ALBUM_NOT_TWO = (
    "An album makes a first and a last frame: please send exactly two photos, "
    "captioned /animate <prompt>."
)
NEEDS_CAPTION = (
    "What should happen in the video? Reply to the photo with a prompt, or send it "
    "again with a caption."
)
WHOM = (
    "Whose quota? Reply to one of their messages, or give their numeric user id "
    "(bots cannot look up @usernames)."
)
ON_OFF = "Say on or off, for example: /safety on"


def usage_of(command: str, arguments: str) -> str:
    return f"Usage: /{command} {arguments}"
