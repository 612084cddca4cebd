"""An Extend that carries on the earlier video's motion, on FramePack-F1: the sampler
sees the earlier video's last frames as its history, as FramePack-Studio's video
extension does, instead of one still frame.

diffusers' pipeline takes no history: it starts F1's history as zeros followed by the
first image's latent, and each section adds its latents after them. The history slots
a section reads (16 at 4x, 2 at 2x, 1 at 1x: the F1 checkpoint's) are the last 19 of
that; the leading ones are zeros until enough sections are made. A forward pre-hook
on the transformer puts the earlier video's latents in those zero slots, so the
history the model sees is [the earlier video…, its last frame, the new sections…].

Sections are counted by the transformer's calls (local_engine.section_hook)."""

from __future__ import annotations

import collections
import io
from typing import Any

import av
from PIL import Image

from local_engine.buckets import fit_to_bucket
from local_engine.section_hook import SectionHook

# The history slots before the 1x one (diffusers' F1 history_sizes [16, 2, 1]); the 1x
# slot holds the first image's latent, which the pipeline fills itself.
HISTORY_LATENTS = 16 + 2
TEMPORAL = 4  # the VAE makes one latent of 4 frames (the first frame alone)
HISTORY_FRAMES = TEMPORAL * (HISTORY_LATENTS - 1) + 1


def last_frames(video: bytes, count: int = HISTORY_FRAMES) -> list[Image.Image]:
    """The video's last `count` frames (all of a shorter one), decoded in order."""
    kept: collections.deque[Image.Image] = collections.deque(maxlen=count)
    with av.open(io.BytesIO(video), mode="r") as container:
        for frame in container.decode(video=0):
            kept.append(frame.to_image())
    if not kept:
        raise ValueError("the video to carry on has no frames")
    return list(kept)


def usable_frames(count: int) -> int:
    """The most frames of `count` that make whole latents (1 + 4n), so the last latent
    ends on the video's last frame."""
    return (count - 1) // TEMPORAL * TEMPORAL + 1


class Continuation(SectionHook):
    def __init__(
        self,
        pipe: Any,
        frames: list[Image.Image],
        *,
        bucket: tuple[int, int],
        steps: int,
        window: int,
    ) -> None:
        import torch

        super().__init__(pipe.transformer, steps)
        frames = frames[-usable_frames(len(frames)) :]
        height, width = bucket
        pixels = pipe.video_processor.preprocess(
            [fit_to_bucket(frame, bucket) for frame in frames], height, width
        )  # frames x 3 x H x W, in [-1, 1]
        video = pixels.permute(1, 0, 2, 3).unsqueeze(0)
        vae = pipe.vae
        with torch.no_grad():
            encoded = vae.encode(video.to(device=vae.device, dtype=vae.dtype))
        # The mode, not a sample: the history is what the video was; and no draw from
        # the job's generator, so the seed makes the same video whatever came before.
        latents = encoded.latent_dist.mode() * vae.config.scaling_factor
        self.latents = latents[:, :, -HISTORY_LATENTS:].to(pipe.transformer.dtype)
        self.window = window

    def given(self, section: int, kwargs: dict[str, Any]) -> dict[str, Any]:
        import torch

        empty = max(0, HISTORY_LATENTS - self.window * section)  # slots still zero
        filled = min(empty, self.latents.shape[2])
        if not filled:
            return kwargs
        clean = kwargs["latents_clean"]  # the first image's latent, then the 1x slot
        history = torch.cat(
            [kwargs["latents_history_4x"], kwargs["latents_history_2x"], clean[:, :, 1:]], dim=2
        ).clone()
        history[:, :, empty - filled : empty] = self.latents[:, :, -filled:].to(history)
        four, two, one = history.split([16, 2, 1], dim=2)
        kwargs.update(
            latents_history_4x=four,
            latents_history_2x=two,
            latents_clean=torch.cat([clean[:, :, :1], one], dim=2),
        )
        return kwargs
