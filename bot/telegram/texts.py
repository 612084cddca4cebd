"""What the Telegram adapter says that the core does not: how to use it here. Each is
English source text in the catalogs (bot.i18n), rendered in the locale in force when
it is asked for, like bot.core.messages."""

from __future__ import annotations

from bot.config import PROVIDER_NAMES
from bot.core.api import MAX_SEED
from bot.i18n import N_, _, number

PROVIDERS = "|".join(PROVIDER_NAMES)  # every one the registry knows, and local


def usage() -> str:
    return _(
        "Send a photo with the caption\n"
        "/animate <what should happen> [options]\n"
        "or reply to a photo with /animate <prompt>. Two photos sent as an album make the "
        "first and the last frame.\n\n"
        "Example: /animate the waves roll in, the camera pans left duration=5 seed=42"
    )


def help_text() -> str:
    options = _(
        "Options, as key=value words anywhere in the prompt:\n"
        "duration=1..60 (seconds) · res=480p|720p · aspect=16:9|9:16|auto · seed=0..{max_seed} · "
        "steps=4..50 · guidance=0..32 · strength=0..1 (how strongly the last frame pulls) · "
        'negative="what to avoid" · provider={providers} · '
        "model=framepack|framepack-f1|wan-flf2v · loop=1 (ends on the first image; plays as a "
        "loop) · draft=1 (480p, fewer steps: cheap to try) · lora=name:0.7 (local engine; two "
        "with a comma) · a prompt per section on the local engine: [0s: …] [2.5s: …]"
    ).format(max_seed=MAX_SEED, providers=PROVIDERS)
    buttons = _(
        "Under each video: HD (a draft again at 720p, same seed) · Retry (a new seed) · "
        "Extend (a longer video) · Remix (a new prompt, same image and seed). While a "
        "FramePack-F1 job runs on the local engine: Stop & keep (the part made so far)."
    )
    commands = _(
        "Commands: /quota your credits · /jobs your recent videos · /language the language "
        "I answer you in · /help this text.\n"
        "Admins of a group: /quota_set, /quota_grant, /quota_reset (reply to the member's "
        "message or give their numeric id), /provider <name>, /replies on|off (answer "
        "replies to photos without a mention), /safety on|off, /group_language <code>|none "
        "(the captions' language here), /job <id> [cancel]."
    )
    return f"{usage()}\n\n{options}\n\n{buttons}\n\n{commands}"


def greeting(name: str, quota_text: str) -> str:
    hello = _("Hi {name}! I turn a still image into a short video.").format(name=name)
    return f"{hello}\n\n{usage()}\n\n{quota_text}"


def download_over_limit(limit: int) -> str:
    return _(
        "Telegram lets bots download files of up to {limit} MB, and this one is larger. "
        "Please send a smaller image, or send it as a photo."
    ).format(limit=number(limit // 1_000_000))


def download_limit(size: int, limit: int) -> str:
    return _(
        "Telegram lets bots download files of up to {limit} MB, and this one is {size} MB. "
        "Please send a smaller image, or send it as a photo."
    ).format(limit=number(limit // 1_000_000), size=number(size / 1_000_000, "0.0"))


def usage_of(command: str, arguments: str) -> str:
    return _("Usage: /{command} {arguments}").format(command=command, arguments=arguments)


_FIXED = {
    "ALBUM_NOT_TWO": N_(
        "An album makes a first and a last frame: please send exactly two photos, "
        "captioned /animate <prompt>."
    ),
    "NEEDS_CAPTION": N_(
        "What should happen in the video? Reply to the photo with a prompt, or send it "
        "again with a caption."
    ),
    "WHOM": N_(
        "Whose quota? Reply to one of their messages, or give their numeric user id "
        "(bots cannot look up @usernames)."
    ),
    "ON_OFF": N_("Say on or off, for example: /safety on"),
}


def __getattr__(name: str) -> str:
    """`texts.WHOM` and the others: the sentence in the locale in force now; USAGE and
    HELP as they always were named."""
    if name == "USAGE":
        return usage()
    if name == "HELP":
        return help_text()
    try:
        return _(_FIXED[name])
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
