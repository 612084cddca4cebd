"""A follow-up job started from Telegram (a button, a Remix prompt): its status is a
photo reply to the message it came from, which its video replaces later, or which
says why no job was made."""

from __future__ import annotations

from telegram import Message

from bot.core.api import Accepted, FollowUp, JobAPI, Requester
from bot.telegram.replies import post_status


async def start_follow_up(
    service: JobAPI,
    request: Message,
    job_id: str,
    who: Requester,
    *,
    kind: FollowUp,
    source: str,
    picture: bytes,
    prompt: str | None = None,
) -> None:
    """`picture`: what the status shows until the video comes (the earlier job's)."""
    status = await post_status(request, picture)
    outcome = await service.follow_up(
        job_id,
        who,
        kind=kind,
        prompt=prompt,
        reply_ref={
            "request_message_id": request.message_id,
            "status_message_id": status.message_id,
        },
        source=source,
    )
    if not isinstance(outcome, Accepted):
        await status.edit_caption(caption=outcome.message, reply_markup=None)
