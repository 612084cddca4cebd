"""Every sentence a user or operator reads, in one place to reword or translate."""

from __future__ import annotations

from datetime import datetime

from bot.quotas import UserQuota, Window, format_credits
from storage import Limit, Refusal


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
        case Limit.GUILD_DAILY:
            what = "This server's daily budget"
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
    if quota.guild is not None and quota.guild.daily is not None:
        lines.append(_window_line("Server today", quota.guild.daily, now))
    return "\n".join(lines)
