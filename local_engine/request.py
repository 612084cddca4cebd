"""What the engine takes and reports, without the engine: the GPU pool's bot side and
its queue use these, and must not import numpy or torch (a slim install has neither)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image


class EngineRefused(Exception):
    """A request this engine cannot do as asked; the message says why."""


class Cancelled(Exception):
    """Raised from the step callback: the pipeline stops within one step."""


@dataclass(frozen=True)
class EngineRequest:
    image: Image.Image
    prompt: str
    num_frames: int
    base: int = 640  # the bucket table's base resolution (480p: 640, 720p: 960)
    last_image: Image.Image | None = None
    seed: int = 0
    steps: int = 25
    guidance: float = 10.0  # distilled guidance, FramePack's default
    negative_prompt: str = ""
    f1: bool = False  # FramePack-F1 (vanilla sampling)
    # A prompt per section of time: (start in seconds, words), the first at 0; each
    # section is sampled with the part in force at its start. () : `prompt` throughout.
    timed_prompts: tuple[tuple[float, str], ...] = ()
    loras: tuple[tuple[str, float], ...] = ()  # (installed LoRA, weight), at most two
    draft: bool = False  # a cheap try: sampled with the draft step cache
    # An Extend's earlier video (MP4): FramePack-F1 samples on with its last frames as
    # history (`image` is its last frame). The original sampler starts from `image`.
    history: bytes | None = None


@dataclass(frozen=True)
class Progress:
    step: int  # 1-based, over the whole job
    total_steps: int
    section: int  # 0-based
    sections: int
    eta_s: float | None
    # Frames a Stop-and-keep would give now (the finished sections; 0: it cannot).
    keepable_frames: int = 0
