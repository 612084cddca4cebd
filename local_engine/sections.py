"""A prompt per section of time on diffusers' FramePack pipeline, which takes one
prompt for the whole video: each part is encoded once, and a forward pre-hook on the
transformer (local_engine.section_hook) hands it the part in force for the section
being sampled. The original sampler makes the sections from the end of the video back
to its start; F1 samples forwards."""

from __future__ import annotations

from typing import Any

from local_engine.encode import FPS
from local_engine.section_hook import SectionHook


class SectionPrompts(SectionHook):
    def __init__(
        self,
        pipe: Any,
        parts: tuple[tuple[float, str], ...],
        *,
        sections: int,
        steps: int,
        window: int,
        forward: bool,
        prompt_template: dict[str, Any] | None,
    ) -> None:
        super().__init__(pipe.transformer, steps)
        template = {"prompt_template": prompt_template} if prompt_template is not None else {}
        dtype = pipe.transformer.dtype
        self.encoded = []
        for _, text in parts:
            embeds, pooled, mask = pipe.encode_prompt(
                prompt=text, device=pipe._execution_device, **template
            )
            self.encoded.append((embeds.to(dtype), pooled.to(dtype), mask.to(dtype)))
        # Sampling order -> the part in force where that section starts in the video.
        starts = [(k if forward else sections - 1 - k) * window * 4 / FPS for k in range(sections)]
        self.part_of_section = [_in_force(parts, start) for start in starts]

    def given(self, section: int, kwargs: dict[str, Any]) -> dict[str, Any]:
        part = self.part_of_section[min(section, len(self.part_of_section) - 1)]
        embeds, pooled, mask = self.encoded[part]
        kwargs.update(
            encoder_hidden_states=embeds, encoder_attention_mask=mask, pooled_projections=pooled
        )
        return kwargs


def _in_force(parts: tuple[tuple[float, str], ...], seconds: float) -> int:
    """The last part that has started by `seconds`."""
    return max(i for i, (start, _) in enumerate(parts) if start <= seconds or i == 0)
