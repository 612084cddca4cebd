"""Every sentence a user or operator reads, in one place to reword or translate."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.core.quotas import UserQuota, Window, format_credits
from bot.core.text import quote
from storage import JobRecord, Limit, LimitOverride, Refusal


def until(moment: datetime, now: datetime) -> str:
    """'00:00 UTC (in 4 h 12 min)'."""
    minutes = max(0, int((moment - now).total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days} d"] if days else []
    if hours:
        parts.append(f"{hours} h")
    if not days:
        parts.append(f"{mins} min")
    stamp = moment.strftime("%H:%M UTC") if days == 0 else moment.strftime("%d %b %H:%M UTC")
    return f"{stamp} (in {' '.join(parts)})"


def quota_refused(refusal: Refusal, cost_mc: int, now: datetime) -> str:
    left, cost = format_credits(refusal.remaining), format_credits(cost_mc)
    match refusal.limit:
        case Limit.GLOBAL_QUEUE:
            return "The queue is full right now. Please try again in a few minutes."
        case Limit.USER_CONCURRENT:
            return (
                f"You already have {refusal.cap} job(s) running, the most at once. "
                "Wait for one to finish or cancel it."
            )
        case Limit.MEMBER_CONCURRENT:
            return (
                f"You already have {refusal.cap} job(s) running in this server, the most "
                "its admins allow at once. Wait for one to finish or cancel it."
            )
        case Limit.GUILD_DAILY:
            what = "This server's daily budget"
        case Limit.MEMBER_DAILY:
            what = "Your daily allowance in this server"
        case Limit.MEMBER_MONTHLY:
            what = "Your monthly allowance in this server"
        case Limit.USER_MONTHLY:
            what = "Your monthly quota"
        case _:
            what = "Your daily quota"
    resets = f" It resets at {until(refusal.resets_at, now)}." if refusal.resets_at else ""
    return f"{what} has {left} credits left; this job costs {cost}.{resets}"


def _window_line(name: str, window: Window, now: datetime) -> str:
    return (
        f"{name}: {format_credits(window.remaining_mc)} of "
        f"{format_credits(window.cap_mc + window.usage.bonus)} credits left, "
        f"resets at {until(window.resets_at, now)}"
    )


def user_quota_summary(quota: UserQuota, now: datetime) -> str:
    lines = [
        _window_line("Today", quota.daily, now),
        _window_line("This month", quota.monthly, now),
        f"Jobs running: {quota.open_jobs} of {quota.concurrent_cap}",
    ]
    if quota.member_daily is not None:
        lines.append(_window_line("Your allowance in this server today", quota.member_daily, now))
    if quota.member_monthly is not None:
        lines.append(
            _window_line("Your allowance in this server this month", quota.member_monthly, now)
        )
    if quota.guild is not None and quota.guild.daily is not None:
        lines.append(_window_line("Server today", quota.guild.daily, now))
    return "\n".join(lines)


# --- job intake -------------------------------------------------------------------------------

IMAGE_EMPTY = "The image is empty. Please send a PNG, JPEG or WebP."
IMAGE_UNSUPPORTED = (
    "That file is not an image I can read. Please send a PNG, JPEG, WebP, GIF, HEIC or AVIF."
)
IMAGE_CORRUPT = "The image file is damaged and cannot be read. Please send it again."
IMAGE_TOO_MANY_PIXELS = (
    "The image has too many pixels to process safely. Please send a smaller one."
)


def image_over_limit(limit: int) -> str:
    return f"The image is over the {limit / 2**20:.0f} MiB I take. Please send a smaller file."


def image_too_many_bytes(size: int, limit: int) -> str:
    return (
        f"The image is {size / 2**20:.1f} MiB; the most I take is {limit / 2**20:.0f} MiB. "
        "Please send a smaller file."
    )


def image_too_small(width: int, height: int, minimum: int) -> str:
    return f"The image is {width}×{height}; it needs at least {minimum} pixels on each side."


def image_too_large(width: int, height: int, maximum: int) -> str:
    return f"The image is {width}×{height}; the most I take is {maximum} pixels on a side."


PROMPT_EMPTY = "Please add a prompt: a sentence about what should happen in the video."


def prompt_too_long(length: int, limit: int) -> str:
    return f"The prompt is {length} characters; the most is {limit}. Please shorten it."


def bad_option(field: str, reason: str) -> str:
    return f"The option {field} is not valid: {reason}."


def provider_unavailable(name: str) -> str:
    return f"The provider {name} is not available here. Try another, or leave it unset."


def provider_cannot(name: str, reason: str) -> str:
    return f"{name} cannot make this video: {reason}."


SAFETY_CHECK_NAMES = {
    "prompt": "the prompt filter",
    "image": "the image check",
    "last frame": "the image check (last frame)",
    "output video": "the check of the finished video",
    "provider": "the provider's safety checker",
}


def blocked(check: str) -> str:
    name = SAFETY_CHECK_NAMES.get(check, check)
    return f"This request was stopped by {name}. Your credits were not charged."


def seconds_text(seconds: float) -> str:
    """A video's length as users read it: 6 -> "6 s", 5.0625 -> "5.1 s"."""
    return f"{round(seconds, 1):g} s"


def accepted(
    cost_mc: int,
    position: int,
    seconds: float,
    *,
    draft: bool = False,
    total_seconds: float | None = None,
) -> str:
    """`total_seconds`: an Extend's length once joined (it costs its new seconds)."""
    where = "next in line" if position <= 1 else f"number {position} in the queue"
    what = f"{seconds_text(seconds)} {'draft' if draft else 'video'}"
    if total_seconds is not None:
        what = f"{seconds_text(seconds)} extension ({seconds_text(total_seconds)} in all)"
    return f"Queued ({where}). This {what} costs {format_credits(cost_mc)} credits."


LOOP_ONE_IMAGE = (
    "A loop ends on the image it starts from: send one image, or drop loop to end on "
    "your last frame."
)
DRAFT_IS_480P = "A draft is made at 480p: leave out the resolution, or drop draft."


def cannot_loop(provider: str, model: str) -> str:
    return (
        f"{provider} cannot make a loop with {model}: a loop needs a model that takes a "
        "last frame (framepack on fal or the local engine, or wan-flf2v)."
    )


def too_long_to_extend(total_s: float, added_s: float, cap_s: float) -> str:
    return (
        f"This video is {seconds_text(total_s)} long; another {seconds_text(added_s)} would "
        f"pass the {seconds_text(cap_s)} limit. Nothing was charged."
    )


NOT_A_DRAFT = "Only a draft has an HD version to make: this video is already full quality."
NO_SEED_FOR_HD = (
    "The service did not say which seed made this draft, so an HD version would not match it."
)


# --- progress and results ---------------------------------------------------------------------


def eta_text(seconds: float | None, what: str = "left") -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    return f", about {minutes} min {secs} s {what}" if minutes else f", about {secs} s {what}"


def status_line(
    state: str,
    *,
    position: int | None = None,
    progress: float | None = None,
    eta_s: float | None = None,
    note: str | None = None,
) -> str:
    if state == "queued":
        return "Waiting in the queue" + (f" (position {position})" if position else "") + "…"
    if state in ("submitting", "submitted"):
        place = f" (position {position}{eta_text(eta_s, 'until it starts')})" if position else ""
        waiting = f"Sent to the video model; waiting for a slot{place}…"
        return f"{waiting} {note}" if note else waiting
    if state == "running":
        percent = f" {progress * 100:.0f}%" if progress is not None else ""
        return f"Generating{percent}{eta_text(eta_s)}…"
    if state == "succeeded":
        return "Done; uploading the video…"
    return state


def failed(reason: str) -> str:
    return f"The video could not be made: {quote(reason, 300)}. Your credits were refunded."


CANCELLED = "Cancelled. Your credits were refunded."
KEEPING = (
    "Stopping: you get the part finished so far, charged for its seconds only; the rest "
    "of the credits come back."
)
CANNOT_KEEP = "Only a running job on the local engine can be stopped and kept."
NOTHING_TO_KEEP = "Nothing is finished to keep yet: wait for the first section, or Cancel."


def keep_hint(seconds: float) -> str:
    """Said beside the progress while Stop & keep would give something."""
    return f"Stop & keep now gives the first {seconds_text(seconds)}."


DELIVERED = "Delivered."
INTERRUPTED_SUBMIT = "the service restarted while sending the job, and it is never sent twice"
TOO_LARGE_TO_POST = "the video is too large to post here even after compressing it"
POST_FAILED = "posting the video failed"


def caption(
    prompt: str,
    provider: str,
    seed: int | None,
    seconds: float,
    cost_mc: int,
    remaining_mc: int | None,
    *,
    settings: str = "",
    added_seconds: float | None = None,
    loop: bool = False,
    stopped_of: float | None = None,
) -> str:
    """`settings`: see `settings_text`; `added_seconds`: an Extend's new part;
    `stopped_of`: the length asked of a job stopped and kept."""
    length = seconds_text(seconds)
    if added_seconds is not None:
        length += f" ({seconds_text(added_seconds)} new)"
    if stopped_of is not None:
        length += f" (⏹ stopped, of {seconds_text(stopped_of)})"
    parts = [
        f"“{quote(prompt, 120)}”",
        provider,
        f"seed {seed}" if seed is not None else None,
        length,
        settings,
        "🔁 loops" if loop else None,
        f"{format_credits(cost_mc)} credits",
    ]
    if remaining_mc is not None:
        parts.append(f"{format_credits(remaining_mc)} left today")
    return " · ".join(p for p in parts if p)


def settings_text(
    resolution: str, *, draft: bool, steps: int | None, guidance: float | None
) -> str:
    """The settings a user needs to make the same video by hand (with its seed)."""
    parts = [f"{resolution} draft" if draft else resolution]
    if steps is not None:
        parts.append(f"{steps} steps")
    if guidance is not None:
        parts.append(f"guidance {guidance:g}")
    return ", ".join(parts)


REMIX_TIMED_OUT = "That Remix waited too long for a prompt. Press Remix again."


REMIX_ASK = "Send the new prompt as a reply to this message"


def remix_question(old_prompt: str, minutes: int) -> str:
    return f"{REMIX_ASK} (within {minutes} min). The old one: “{quote(old_prompt, 300)}”"


GENERIC_ERROR = "Something went wrong on my side. Please try again in a moment."
ATTACHMENT_UNREADABLE = "I could not download that attachment. Please upload it again."


def job_history(jobs: Sequence[JobRecord]) -> str:
    if not jobs:
        return "You have no videos yet. Try /animate."
    lines = []
    for job in jobs:
        seconds = job.request.get("frames", 180) / 30
        seed = f", seed {job.seed}" if job.seed is not None else ""
        lines.append(
            f"`{job.id}` {job.state.value} · {job.provider}{seed} · {seconds:g} s · "
            f"{format_credits(job.cost_mc)} credits"
        )
    return "\n".join(lines)


UNKNOWN_JOB = "I do not know that job any more."
# Said (where anything is said) when a platform hands over an event already handled.
ALREADY_TAKEN = "I already have that request; its video is on the way."
BUTTON_UNKNOWN = "This button no longer works. Please start again with /animate."
NOTHING_TO_EXTEND = "Only a finished video can be extended."
INPUTS_GONE = "The images of that job are no longer stored, so it cannot be repeated."
NOT_YOURS = "Only the person who asked for this video, or an admin, can cancel it."
CANNOT_CANCEL = "That job has already finished."
CANCEL_REQUESTED = "Cancelling…"
ADMIN_ONLY = "Only admins of this server or group, or the bot's operators, can do that."
GUILD_ONLY = "This works in a server or group, not in private messages."
NO_OVERRIDES = "No overrides: members get the configured defaults."


def limits_text(override: LimitOverride) -> str:
    parts = []
    if override.daily_mc is not None:
        parts.append(f"{format_credits(override.daily_mc)} credits a day")
    if override.monthly_mc is not None:
        parts.append(f"{format_credits(override.monthly_mc)} a month")
    if override.concurrent_jobs is not None:
        parts.append(f"{override.concurrent_jobs} jobs at once")
    return "Limits: " + (", ".join(parts) if parts else "the defaults") + "."


def limits_updated(what: str, override: LimitOverride) -> str:
    return f"{what} updated. " + limits_text(override)


# What an admin's quota change applied to, by limit scope.
LIMIT_SCOPE_NAMES = {
    "user": "The user's bot-wide limits",
    "role": "The role's bot-wide limits",
    "guild": "The server's budget",
    "member": "The member's limits in this server",
    "guild_role": "The role's limits in this server",
}


def granted(credits: str, scope: str) -> str:
    if scope == "member":
        return f"Granted {credits} credits in this server. Their bot-wide quota still applies."
    return f"Granted {credits} credits."


def usage_reset(periods: list[str]) -> str:
    return f"Usage reset ({', '.join(periods)})."


def setting_changed(name: str, value: object, channel: bool) -> str:
    if name == "safety":
        return safety_set(bool(value), channel)
    if name == "reply_without_mention":
        return replies_set(bool(value))
    where = "this channel" if channel else "this server"
    return f"Default provider for {where} set to {value}."


NAME_A_SERVER = "Name a server: quotas inside a server are set from that server."
NAME_WHOM = "Name a member or a role."
GRANT_TO_WHOM = "Grants and resets go to a member or the server, not to a role."
GRANT_POSITIVE = "A grant must be a positive number of credits."
OWN_SERVER_ONLY = "Admins act only inside their own server."
SAFETY_OPERATORS_ONLY = "Only the bot's operators can switch the safety checker off."
SAFETY_NSFW_ONLY = (
    "The safety checker can be switched off only for an age-restricted (NSFW) channel."
)


def operators_only(what: str) -> str:
    return f"Only the bot's operators can {what}."


def guild_budget(window: Window | None, now: datetime) -> str:
    if window is None:
        return "This server has no daily budget."
    return _window_line("Server today", window, now)


def safety_set(enabled: bool, channel: bool) -> str:
    where = "this channel" if channel else "this server"
    return f"The safety checker is {'on' if enabled else 'off'} for {where}."


def job_record(job: JobRecord, ledger: dict[str, int]) -> str:
    entries = ", ".join(f"{k} {format_credits(v)}" for k, v in sorted(ledger.items()))
    lines = [
        f"`{job.id}` {job.state.value} · {job.provider} · user {job.user_key}",
        f"prompt: {quote(job.request.get('prompt', ''), 200)}",
        f"seed {job.seed} · {job.request.get('frames', 0)} frames · "
        f"{job.request.get('resolution')} · cost {format_credits(job.cost_mc)} ({entries})",
        f"created {job.created_at:%Y-%m-%d %H:%M:%S} UTC"
        + (f" · error: {quote(job.error, 300)}" if job.error else ""),
    ]
    return "\n".join(lines)


NO_IMAGE_IN_MESSAGE = "That message has no image attached. Pick a message with a picture."
BAD_MESSAGE_LINK = (
    "I could not find an image at that message link. Copy the link of a "
    "message with a picture (right-click > Copy Message Link)."
)


def replies_set(enabled: bool) -> str:
    if enabled:
        return "In this channel I now answer replies to images even without a mention."
    return "In this channel I answer replies to images only when mentioned."


def slow_down(seconds: int) -> str:
    return f"You are sending requests a bit fast. Try again in {seconds} s."


LAST_FRAME_NOT_VISIBLE = (
    "I can only use a last frame from a message in this server that you can see yourself."
)
SOURCE_GONE = "That message or its image is gone. Pick a message that still has a picture."
NEEDS_RUNNING_BOT = "That needs the running bot: use the admin command in chat."
OPTIONS_UNREADABLE = (
    "I could not read the options of that command. If the bot was just updated, wait a "
    "minute for Discord to refresh its command list, then try again."
)
