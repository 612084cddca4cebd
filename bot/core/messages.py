"""Every sentence a user reads, in one place to reword or translate.

Each is English source text in a gettext catalog (bot.i18n): rendered, when it is
asked for, in the locale in force (the requester's, or the job's), so the same
`messages.CANCELLED` reads 「キャンセルしました…」 to a user of Japanese Discord.
Fixed sentences are looked up by name (`messages.CANCELLED`) through the module's
`__getattr__`, which translates at each access; sentences with values are functions.
Placeholders are named (`{cost}`), so a translation may put them in any order."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from babel.dates import format_datetime, format_skeleton
from babel.lists import format_list

from bot.core.quotas import MC_PER_CREDIT, UserQuota, Window
from bot.core.text import quote
from bot.i18n import LANGUAGE_NAMES, N_, _, babel_locale, duration, ngettext, number
from storage import JobRecord, Limit, LimitOverride, Refusal

# --- numbers, lengths and times ---------------------------------------------------------------


def amount(mc: int) -> str:
    """Milli-credits as the locale writes the number: 7500 -> '7.5' / '7,5'."""
    return number(Decimal(mc) / MC_PER_CREDIT)


def _plural_n(mc: int) -> int:
    """The n that picks a plural form for a number of credits. gettext's rules take
    whole numbers; a fraction takes the form of 2 in every catalog here: the plural
    in English, Spanish and Portuguese, and in Russian the form of 2..4 ("1,5 кредита",
    "7,5 кредита"), which is the one fractions take."""
    whole, rest = divmod(mc, MC_PER_CREDIT)
    return whole if not rest else 2


def credits(mc: int) -> str:
    """'1 credit', '7.5 credits', '5 кредитов'."""
    return ngettext("{amount} credit", "{amount} credits", _plural_n(mc)).format(amount=amount(mc))


def seconds_text(seconds: float) -> str:
    """A video's length as users read it: 6 -> "6 s", 5.0625 -> "5.1 s"."""
    return _("{seconds} s").format(seconds=number(round(seconds, 1)))


def until(moment: datetime, now: datetime) -> str:
    """'00:00 UTC (in 4 hr 12 min)'."""
    minutes = max(0, int((moment - now).total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    shown = [(days, "day")] if days else []
    if hours:
        shown.append((hours, "hour"))
    if not days:
        shown.append((mins, "minute"))
    left = duration(shown)
    stamp = format_datetime(moment, "HH:mm", tzinfo=moment.tzinfo, locale=babel_locale())
    if days:  # the day too, as the locale writes a month and day ("Dec 4", "12月4日")
        day = format_skeleton("MMMd", moment, tzinfo=moment.tzinfo, locale=babel_locale())
        stamp = f"{day} {stamp}"
    return _("{time} UTC (in {duration})").format(time=stamp, duration=left)


# --- quotas -----------------------------------------------------------------------------------


def quota_refused(refusal: Refusal, cost_mc: int, now: datetime) -> str:
    match refusal.limit:
        case Limit.GLOBAL_QUEUE:
            return _("The queue is full right now. Please try again in a few minutes.")
        case Limit.USER_CONCURRENT:
            return ngettext(
                "You already have {count} job running, the most at once. Wait for it to "
                "finish or cancel it.",
                "You already have {count} jobs running, the most at once. Wait for one to "
                "finish or cancel it.",
                refusal.cap,
            ).format(count=refusal.cap)
        case Limit.MEMBER_CONCURRENT:
            return ngettext(
                "You already have {count} job running in this server, the most its admins "
                "allow at once. Wait for it to finish or cancel it.",
                "You already have {count} jobs running in this server, the most its admins "
                "allow at once. Wait for one to finish or cancel it.",
                refusal.cap,
            ).format(count=refusal.cap)
        case Limit.GUILD_DAILY:
            what = _("This server's daily budget has {left} left; this job costs {cost}.")
        case Limit.MEMBER_DAILY:
            what = _("Your daily allowance in this server has {left} left; this job costs {cost}.")
        case Limit.MEMBER_MONTHLY:
            what = _(
                "Your monthly allowance in this server has {left} left; this job costs {cost}."
            )
        case Limit.USER_MONTHLY:
            what = _("Your monthly quota has {left} left; this job costs {cost}.")
        case _:
            what = _("Your daily quota has {left} left; this job costs {cost}.")
    text = what.format(left=credits(refusal.remaining), cost=amount(cost_mc))
    if refusal.resets_at:
        resets = _("It resets at {when}.").format(when=until(refusal.resets_at, now))
        text = f"{text} {resets}"
    return text


def _window_line(name: str, window: Window, now: datetime) -> str:
    return _("{name}: {left} of {cap} left, resets at {when}").format(
        name=name,
        left=amount(window.remaining_mc),
        cap=credits(window.cap_mc + window.usage.bonus),
        when=until(window.resets_at, now),
    )


def user_quota_summary(quota: UserQuota, now: datetime) -> str:
    lines = [
        _window_line(_("Today"), quota.daily, now),
        _window_line(_("This month"), quota.monthly, now),
        _("Jobs running: {open} of {cap}").format(open=quota.open_jobs, cap=quota.concurrent_cap),
    ]
    if quota.member_daily is not None:
        name = _("Your allowance in this server today")
        lines.append(_window_line(name, quota.member_daily, now))
    if quota.member_monthly is not None:
        name = _("Your allowance in this server this month")
        lines.append(_window_line(name, quota.member_monthly, now))
    if quota.guild is not None and quota.guild.daily is not None:
        lines.append(_window_line(_("Server today"), quota.guild.daily, now))
    return "\n".join(lines)


# --- job intake -------------------------------------------------------------------------------


def _mib(size: int) -> str:
    return number(size / 2**20, "0.0")


def image_over_limit(limit: int) -> str:
    return _("The image is over the {limit} MiB I take. Please send a smaller file.").format(
        limit=number(round(limit / 2**20))
    )


def image_too_many_bytes(size: int, limit: int) -> str:
    return _(
        "The image is {size} MiB; the most I take is {limit} MiB. Please send a smaller file."
    ).format(size=_mib(size), limit=number(round(limit / 2**20)))


def image_too_small(width: int, height: int, minimum: int) -> str:
    return _(
        "The image is {width}×{height}; it needs at least {minimum} pixels on each side."
    ).format(width=width, height=height, minimum=minimum)


def image_too_large(width: int, height: int, maximum: int) -> str:
    return _(
        "The image is {width}×{height}; the most I take is {maximum} pixels on a side."
    ).format(width=width, height=height, maximum=maximum)


def prompt_too_long(length: int, limit: int) -> str:
    return _("The prompt is {length} characters; the most is {limit}. Please shorten it.").format(
        length=length, limit=limit
    )


def bad_option(field: str, reason: str) -> str:
    return _("The option {field} is not valid: {reason}.").format(field=field, reason=reason)


def between(low: float, high: float) -> str:
    return _("it must be between {low} and {high}").format(low=number(low), high=number(high))


def _shown(value: object) -> str:
    return number(value) if isinstance(value, int | float) else str(value)


def option_reason(error: Mapping[str, Any]) -> str:
    """Why pydantic refused an option (one of `ValidationError.errors()`), in the
    language in force; pydantic's own English `msg` for a kind not named here."""
    ctx = error.get("ctx") or {}
    kind = error.get("type")
    if kind in ("greater_than_equal", "greater_than"):
        return _("it must be at least {low}").format(low=_shown(ctx.get("ge", ctx.get("gt"))))
    if kind in ("less_than_equal", "less_than"):
        return _("it must be at most {high}").format(high=_shown(ctx.get("le", ctx.get("lt"))))
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return _(_FIXED["MUST_BE_WHOLE_NUMBER"])
    if kind in ("float_parsing", "float_type"):
        return _(_FIXED["MUST_BE_NUMBER"])
    if kind in ("bool_parsing", "bool_type"):
        return _(_FIXED["MUST_BE_ONE_OR_ZERO"])
    if kind in ("literal_error", "enum"):
        return _("it must be one of {choices}").format(choices=_either(str(ctx.get("expected"))))
    if kind == "string_too_long":
        return _("it may be at most {limit} characters long").format(limit=ctx.get("max_length"))
    if kind == "extra_forbidden":
        return _(_FIXED["UNKNOWN_OPTION_REASON"])
    return str(error.get("msg", ""))


def _either(expected: str) -> str:
    """pydantic's "'a', 'b' or 'c'" as the current locale lists alternatives."""
    choices = re.split(r", | or ", expected)
    return format_list(choices, style="or", locale=babel_locale())


def unknown_option(name: str, known: str) -> str:
    return _("I do not know the option “{name}”. Options: {known} (see /help).").format(
        name=name, known=known
    )


def provider_unavailable(name: str) -> str:
    return _("The provider {name} is not available here. Try another, or leave it unset.").format(
        name=name
    )


def provider_cannot(name: str, reason: str) -> str:
    return _("{provider} cannot make this video: {reason}.").format(provider=name, reason=reason)


SAFETY_CHECK_NAMES = {
    "prompt": N_("the prompt filter"),
    "image": N_("the image check"),
    "last frame": N_("the image check (last frame)"),
    "output video": N_("the check of the finished video"),
    "provider": N_("the provider's safety checker"),
}


def blocked(check: str) -> str:
    name = _(SAFETY_CHECK_NAMES[check]) if check in SAFETY_CHECK_NAMES else check
    return _("This request was stopped by {check}. Your credits were not charged.").format(
        check=name
    )


def accepted(
    cost_mc: int,
    position: int,
    seconds: float,
    *,
    draft: bool = False,
    total_seconds: float | None = None,
) -> str:
    """`total_seconds`: an Extend's length once joined (it costs its new seconds)."""
    where = (
        _("next in line")
        if position <= 1
        else _("number {position} in the queue").format(position=position)
    )
    length = seconds_text(seconds)
    if total_seconds is not None:
        what = _("This {length} extension ({total} in all) costs {cost}.").format(
            length=length, total=seconds_text(total_seconds), cost=credits(cost_mc)
        )
    elif draft:
        what = _("This {length} draft costs {cost}.").format(length=length, cost=credits(cost_mc))
    else:
        what = _("This {length} video costs {cost}.").format(length=length, cost=credits(cost_mc))
    return _("Queued ({where}). {what}").format(where=where, what=what)


def cannot_loop(provider: str, model: str) -> str:
    return _(
        "{provider} cannot make a loop with {model}: a loop needs a model that takes a last "
        "frame (framepack on fal or the local engine, or wan-flf2v)."
    ).format(provider=provider, model=model)


def too_long_to_extend(total_s: float, added_s: float, cap_s: float) -> str:
    return _(
        "This video is {total} long; another {added} would pass the {cap} limit. Nothing "
        "was charged."
    ).format(total=seconds_text(total_s), added=seconds_text(added_s), cap=seconds_text(cap_s))


# --- progress and results ---------------------------------------------------------------------


def _about(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    minutes, secs = divmod(int(seconds), 60)
    if minutes:
        return _("about {minutes} min {seconds} s").format(minutes=minutes, seconds=secs)
    return _("about {seconds} s").format(seconds=secs)


def status_line(
    state: str,
    *,
    position: int | None = None,
    progress: float | None = None,
    eta_s: float | None = None,
    note: str | None = None,
) -> str:
    about = _about(eta_s)
    if state == "queued":
        if position:
            return _("Waiting in the queue (position {position})…").format(position=position)
        return _("Waiting in the queue…")
    if state in ("submitting", "submitted"):
        if position and about:
            waiting = _(
                "Sent to the video model; waiting for a slot (position {position}, {about} "
                "until it starts)…"
            ).format(position=position, about=about)
        elif position:
            waiting = _(
                "Sent to the video model; waiting for a slot (position {position})…"
            ).format(position=position)
        else:
            waiting = _("Sent to the video model; waiting for a slot…")
        return f"{waiting} {note}" if note else waiting
    if state == "running":
        percent = number(round(progress * 100)) if progress is not None else None
        if percent is not None and about:
            return _("Generating {percent}%, {about} left…").format(percent=percent, about=about)
        if percent is not None:
            return _("Generating {percent}%…").format(percent=percent)
        if about:
            return _("Generating, {about} left…").format(about=about)
        return _("Generating…")
    if state == "succeeded":
        return _("Done; uploading the video…")
    return state


def failed(reason: str) -> str:
    return _("The video could not be made: {reason}. Your credits were refunded.").format(
        reason=quote(reason, 300)
    )


def keep_hint(seconds: float) -> str:
    """Said beside the progress while Stop & keep would give something."""
    return _("Stop & keep now gives the first {length}.").format(length=seconds_text(seconds))


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
        length += " " + _("({length} new)").format(length=seconds_text(added_seconds))
    if stopped_of is not None:
        length += " " + _("(⏹ stopped, of {length})").format(length=seconds_text(stopped_of))
    parts = [
        f"“{quote(prompt, 120)}”",
        provider,
        _("seed {seed}").format(seed=seed) if seed is not None else None,
        length,
        settings,
        _("🔁 loops") if loop else None,
        credits(cost_mc),
    ]
    if remaining_mc is not None:
        parts.append(_("{amount} left today").format(amount=amount(remaining_mc)))
    return " · ".join(p for p in parts if p)


def job_footer(cost_mc: int, job_id: str) -> str:
    """Under a running job's status: what it costs and its id (for /job)."""
    return _("{credits} · job {job}").format(credits=credits(cost_mc), job=job_id)


def settings_text(
    resolution: str, *, draft: bool, steps: int | None, guidance: float | None
) -> str:
    """The settings a user needs to make the same video by hand (with its seed)."""
    parts = [_("{resolution} draft").format(resolution=resolution) if draft else resolution]
    if steps is not None:
        parts.append(ngettext("{steps} step", "{steps} steps", steps).format(steps=steps))
    if guidance is not None:
        parts.append(_("guidance {guidance}").format(guidance=number(guidance)))
    return ", ".join(parts)


def remix_question(old_prompt: str, minutes: int) -> str:
    return _(
        "Send the new prompt as a reply to this message (within {minutes} min). The old one: "
        "“{prompt}”"
    ).format(minutes=minutes, prompt=quote(old_prompt, 300))


def job_history(jobs: Sequence[JobRecord]) -> str:
    if not jobs:
        return _("You have no videos yet. Try /animate.")
    lines = []
    for job in jobs:
        seconds = job.request.get("frames", 180) / 30
        made_by = (
            _("{provider}, seed {seed}").format(provider=job.provider, seed=job.seed)
            if job.seed is not None
            else job.provider
        )
        parts = [f"`{job.id}` {state_name(job.state.value)}", made_by]
        lines.append(" · ".join([*parts, seconds_text(seconds), credits(job.cost_mc)]))
    return "\n".join(lines)


STATE_NAMES = {
    "queued": N_("queued"),
    "submitting": N_("submitting"),
    "submitted": N_("submitted"),
    "running": N_("running"),
    "succeeded": N_("succeeded"),
    "delivered": N_("delivered"),
    "failed": N_("failed"),
    "cancelled": N_("cancelled"),
    "blocked": N_("blocked"),
}


def state_name(state: str) -> str:
    return _(STATE_NAMES[state]) if state in STATE_NAMES else state


BUTTON_LABELS = {
    "cancel": N_("Cancel"),
    "keep": N_("Stop & keep"),
    "retry": N_("Retry"),
    "extend": N_("Extend"),
    "hd": N_("HD"),
    "remix": N_("Remix"),
}


def button_label(action: str) -> str:
    """The label of a job's button (cancel, keep or a FollowUp value)."""
    return _(BUTTON_LABELS[action])


# --- admin ------------------------------------------------------------------------------------


def limits_text(override: LimitOverride) -> str:
    parts = []
    if override.daily_mc is not None:
        parts.append(_("{credits} a day").format(credits=credits(override.daily_mc)))
    if override.monthly_mc is not None:
        parts.append(_("{amount} a month").format(amount=amount(override.monthly_mc)))
    if override.concurrent_jobs is not None:
        count = override.concurrent_jobs
        parts.append(
            ngettext("{count} job at once", "{count} jobs at once", count).format(count=count)
        )
    if not parts:
        return _("Limits: the defaults.")
    return _("Limits: {limits}.").format(limits=", ".join(parts))


# What an admin's quota change applied to, by limit scope.
LIMIT_SCOPE_NAMES = {
    "user": N_("The user's bot-wide limits"),
    "role": N_("The role's bot-wide limits"),
    "guild": N_("The server's budget"),
    "member": N_("The member's limits in this server"),
    "guild_role": N_("The role's limits in this server"),
}


def limits_updated(scope: str, override: LimitOverride) -> str:
    what = _(LIMIT_SCOPE_NAMES[scope]) if scope in LIMIT_SCOPE_NAMES else scope
    return _("{what} updated.").format(what=what) + " " + limits_text(override)


def granted(mc: int, scope: str) -> str:
    if scope == "member":
        return _("Granted {credits} in this server. Their bot-wide quota still applies.").format(
            credits=credits(mc)
        )
    return _("Granted {credits}.").format(credits=credits(mc))


PERIOD_NAMES = {"day": N_("day"), "month": N_("month")}


def usage_reset(periods: list[str]) -> str:
    names = ", ".join(_(PERIOD_NAMES[p]) if p in PERIOD_NAMES else p for p in periods)
    return _("Usage reset ({periods}).").format(periods=names)


def setting_changed(name: str, value: object, channel: bool) -> str:
    if name == "safety":
        return safety_set(bool(value), channel)
    if name == "reply_without_mention":
        return replies_set(bool(value))
    if name == "language":
        return server_language_set(str(value))
    if channel:
        return _("Default provider for this channel set to {provider}.").format(provider=value)
    return _("Default provider for this server set to {provider}.").format(provider=value)


def server_language_set(locale: str) -> str:
    if not locale:
        return _("This server's videos are captioned in each requester's language again.")
    return _(
        "Videos in this server are now captioned in {language}, except for people who "
        "chose their own with /language."
    ).format(language=LANGUAGE_NAMES.get(locale, locale))


def operators_only(what: str) -> str:
    return _("Only the bot's operators can {what}.").format(what=what)


def guild_budget(window: Window | None, now: datetime) -> str:
    if window is None:
        return _("This server has no daily budget.")
    return _window_line(_("Server today"), window, now)


def safety_set(enabled: bool, channel: bool) -> str:
    match enabled, channel:
        case True, True:
            return _("The safety checker is on for this channel.")
        case True, False:
            return _("The safety checker is on for this server.")
        case False, True:
            return _("The safety checker is off for this channel.")
        case _:
            return _("The safety checker is off for this server.")


def job_record(job: JobRecord, ledger: dict[str, int]) -> str:
    """For admins: the job's row, its ledger entries by their (English) names."""
    entries = ", ".join(f"{k} {amount(v)}" for k, v in sorted(ledger.items()))
    error = " · " + _("error: {error}").format(error=quote(job.error, 300)) if job.error else ""
    lines = [
        f"`{job.id}` {state_name(job.state.value)} · {job.provider} · "
        + _("user {user}").format(user=job.user_key),
        _("prompt: {prompt}").format(prompt=quote(job.request.get("prompt", ""), 200)),
        _("seed {seed} · {frames} frames · {resolution} · cost {cost} ({entries})").format(
            seed=job.seed,
            frames=job.request.get("frames", 0),
            resolution=job.request.get("resolution"),
            cost=amount(job.cost_mc),
            entries=entries,
        ),
        _("created {when} UTC").format(when=f"{job.created_at:%Y-%m-%d %H:%M:%S}") + error,
    ]
    return "\n".join(lines)


def replies_set(enabled: bool) -> str:
    if enabled:
        return _("In this channel I now answer replies to images even without a mention.")
    return _("In this channel I answer replies to images only when mentioned.")


def language_set(name: str) -> str:
    return _("From now on I answer you in {language}.").format(language=name)


def language_auto(name: str) -> str:
    return _("From now on I answer you in your app's language (now {language}).").format(
        language=name
    )


def slow_down(seconds: int) -> str:
    return _("You are sending requests a bit fast. Try again in {seconds} s.").format(
        seconds=seconds
    )


# --- fixed sentences, by name ----------------------------------------------------------------

_FIXED = {
    "MUST_BE_ONE_OR_ZERO": N_("it must be 1 or 0"),
    "MUST_BE_NUMBER": N_("it must be a number"),
    "MUST_BE_WHOLE_NUMBER": N_("it must be a whole number"),
    "MUST_BE_SECONDS": N_("it must be a number of seconds"),
    "UNKNOWN_OPTION_REASON": N_("there is no such option"),
    "IMAGE_EMPTY": N_("The image is empty. Please send a PNG, JPEG or WebP."),
    "IMAGE_UNSUPPORTED": N_(
        "That file is not an image I can read. Please send a PNG, JPEG, WebP, GIF, HEIC or AVIF."
    ),
    "IMAGE_CORRUPT": N_("The image file is damaged and cannot be read. Please send it again."),
    "IMAGE_TOO_MANY_PIXELS": N_(
        "The image has too many pixels to process safely. Please send a smaller one."
    ),
    "PROMPT_EMPTY": N_("Please add a prompt: a sentence about what should happen in the video."),
    "LOOP_ONE_IMAGE": N_(
        "A loop ends on the image it starts from: send one image, or drop loop to end on "
        "your last frame."
    ),
    "DRAFT_IS_480P": N_("A draft is made at 480p: leave out the resolution, or drop draft."),
    "NOT_A_DRAFT": N_(
        "Only a draft has an HD version to make: this video is already full quality."
    ),
    "NO_SEED_FOR_HD": N_(
        "The service did not say which seed made this draft, so an HD version would not match it."
    ),
    "CANCELLED": N_("Cancelled. Your credits were refunded."),
    "KEEPING": N_(
        "Stopping: you get the part finished so far, charged for its seconds only; the rest "
        "of the credits come back."
    ),
    "CANNOT_KEEP": N_("Only a running job on the local engine can be stopped and kept."),
    "NOTHING_TO_KEEP": N_(
        "Nothing is finished to keep yet: wait for the first section, or Cancel."
    ),
    "DELIVERED": N_("Delivered."),
    # Reasons, said inside failed(): "The video could not be made: <reason>."
    "INTERRUPTED_SUBMIT": N_(
        "the service restarted while sending the job, and it is never sent twice"
    ),
    "TOO_LARGE_TO_POST": N_("the video is too large to post here even after compressing it"),
    "POST_FAILED": N_("posting the video failed"),
    "REMIX_TIMED_OUT": N_("That Remix waited too long for a prompt. Press Remix again."),
    "REMIX_ASK": N_("Send the new prompt as a reply to this message"),
    "GENERIC_ERROR": N_("Something went wrong on my side. Please try again in a moment."),
    "ATTACHMENT_UNREADABLE": N_("I could not download that attachment. Please upload it again."),
    "UNKNOWN_JOB": N_("I do not know that job any more."),
    # Said (where anything is said) when a platform hands over an event already handled.
    "ALREADY_TAKEN": N_("I already have that request; its video is on the way."),
    "BUTTON_UNKNOWN": N_("This button no longer works. Please start again with /animate."),
    "NOTHING_TO_EXTEND": N_("Only a finished video can be extended."),
    "INPUTS_GONE": N_("The images of that job are no longer stored, so it cannot be repeated."),
    "NOT_YOURS": N_("Only the person who asked for this video, or an admin, can cancel it."),
    "CANNOT_CANCEL": N_("That job has already finished."),
    "CANCEL_REQUESTED": N_("Cancelling…"),
    "ADMIN_ONLY": N_("Only admins of this server or group, or the bot's operators, can do that."),
    "GUILD_ONLY": N_("This works in a server or group, not in private messages."),
    "NO_OVERRIDES": N_("No overrides: members get the configured defaults."),
    "NAME_A_SERVER": N_("Name a server: quotas inside a server are set from that server."),
    "NAME_WHOM": N_("Name a member or a role."),
    "GRANT_TO_WHOM": N_("Grants and resets go to a member or the server, not to a role."),
    "GRANT_POSITIVE": N_("A grant must be a positive number of credits."),
    "OWN_SERVER_ONLY": N_("Admins act only inside their own server."),
    "SAFETY_OPERATORS_ONLY": N_("Only the bot's operators can switch the safety checker off."),
    "SAFETY_NSFW_ONLY": N_(
        "The safety checker can be switched off only for an age-restricted (NSFW) channel."
    ),
    "NO_IMAGE_IN_MESSAGE": N_("That message has no image attached. Pick a message with a picture."),
    "BAD_MESSAGE_LINK": N_(
        "I could not find an image at that message link. Copy the link of a message with a "
        "picture (right-click > Copy Message Link)."
    ),
    "LAST_FRAME_NOT_VISIBLE": N_(
        "I can only use a last frame from a message in this server that you can see yourself."
    ),
    "SOURCE_GONE": N_(
        "That message or its image is gone. Pick a message that still has a picture."
    ),
    "NEEDS_RUNNING_BOT": N_("That needs the running bot: use the admin command in chat."),
    "LANGUAGE_MENU": N_("Which language should I answer you in? (auto: your app's)"),
    "OPTIONS_UNREADABLE": N_(
        "I could not read the options of that command. If the bot was just updated, wait a "
        "minute for Discord to refresh its command list, then try again."
    ),
}


def __getattr__(name: str) -> str:
    """`messages.CANCELLED` and the others: the sentence in the locale in force now."""
    try:
        return _(_FIXED[name])
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
