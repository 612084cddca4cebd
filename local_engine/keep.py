"""Stop and keep: the sections finished so far become the video.

diffusers' pipeline builds the video in a local variable and hands it back only at the
end; stopped from the step callback it hands back nothing, and its `_interrupt` flag
would still decode every section left (noise). So the pipeline's own decodes are
watched: the first section's decode is the video so far, and each later section's
`_soft_append` result replaces it. Stopped, the engine turns that into frames as the
pipeline would have at the end.

Only F1's forward sampler makes the beginning first: with the original sampler the
finished sections are the end of the clip, so no keep is offered there."""

from __future__ import annotations

from typing import Any

import numpy as np

from local_engine.continuation import TEMPORAL, usable_frames


class Stopped(Exception):
    """Raised from the step callback when the user asked to stop and keep."""


def frames_after(sections: int, window: int) -> int:
    """Frames of the video once `sections` forward sections are decoded: the first
    image's frame, then 4 x window frames per section."""
    return TEMPORAL * window * sections + 1 if sections else 0


class FinishedSections:
    """Watches one pipeline call; `video` is the decoded video of the sections finished
    (None before the first)."""

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        self.video: Any = None

    def __enter__(self) -> FinishedSections:
        pipe, vae = self.pipe, self.pipe.vae
        decode, soft_append = vae.decode, pipe._soft_append

        def decoded(*args: Any, **kwargs: Any) -> Any:
            out = decode(*args, **kwargs)
            if self.video is None:  # the first section: the whole video so far
                self.video = out[0]
            return out

        def appended(*args: Any, **kwargs: Any) -> Any:
            self.video = soft_append(*args, **kwargs)
            return self.video

        # Instance attributes, shadowing the methods for this call only.
        vae.decode, pipe._soft_append = decoded, appended
        return self

    def __exit__(self, *exc: object) -> None:
        del self.pipe.vae.decode, self.pipe._soft_append

    def frames(self, num_frames: int) -> np.ndarray | None:
        """The finished sections as floats in [0, 1] (F x H x W x 3), as the pipeline
        would hand them back; None when no section was finished."""
        if self.video is None:
            return None
        count = usable_frames(self.video.shape[2])  # as the pipeline trims at its end
        video = self.pipe.video_processor.postprocess_video(
            self.video[:, :, :count], output_type="np"
        )
        return np.asarray(video[0])[:num_frames]
