"""The one intake flow of the three ways in — the slash command, the "Animate" menu
and a reply to an image: the images refused from their announced sizes before any
download, then read, then one `AnimateRequest` for the core. Each way in says the
outcome in its own place (an interaction's status, or a reply)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import discord

from bot.core.api import Accepted, AnimateRequest, JobAPI, Refused, Requester


def size_refusal(service: JobAPI, *attachments: discord.Attachment | None) -> str | None:
    """The refusal for the first image over the intake limit, from the metadata."""
    for attachment in attachments:
        if attachment is not None:
            refusal = service.image_size_refusal(attachment.size)
            if refusal is not None:
                return refusal
    return None


async def read_images(
    first: discord.Attachment, last: discord.Attachment | None
) -> tuple[bytes, bytes | None] | None:
    """Both images' bytes; None when Discord would not hand one over (deleted since)."""
    try:
        return await first.read(), (await last.read() if last is not None else None)
    except discord.HTTPException:
        return None


async def submit(
    service: JobAPI,
    who: Requester,
    prompt: str,
    images: tuple[bytes, bytes | None],
    *,
    options: Mapping[str, Any],
    reply_ref: Mapping[str, Any],
    source: str,
) -> Accepted | Refused:
    first, last = images
    return await service.submit(
        AnimateRequest(who, prompt, first, last, options, reply_ref, source)
    )
