"""Memory and speed options, applied to a loaded pipeline: where the weights live
(offloading), VAE tiling, a step cache, the attention backend, torch.compile."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal

log = logging.getLogger(__name__)

Offload = Literal["auto", "none", "model", "group"]
StepCache = Literal[
    "none", "first-block", "mag-cache", "faster-cache", "pyramid-attention-broadcast"
]
DraftCache = Literal["none", "first-block", "faster-cache", "pyramid-attention-broadcast"]
# Above this much free GPU memory everything stays on the GPU (FramePack's demo uses
# the same rule); below it whole models move to the CPU between uses.
KEEP_ON_GPU_GB = 60
# Caches that look up a cache context, which diffusers' FramePack pipeline never opens:
# without one they raise "No context is set".
NEEDS_CONTEXT = {"first-block", "mag-cache"}


@dataclass(frozen=True)
class EngineOptions:
    device: str = "cuda"
    dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"
    offload: Offload = "auto"
    vae_tiling: bool = True
    step_cache: StepCache = "none"
    step_cache_threshold: float | None = None  # the cache's own default when unset
    # MagCache's published ratios come from another sampler; without ratios for this
    # one it runs a calibration (no speed-up) and logs the ratios to put here.
    mag_ratios: list[float] = field(default_factory=list)
    attention_backend: str | None = None  # e.g. "flash", "sage", "native"
    # A draft's step cache when `step_cache` is none (mag-cache needs a calibration).
    draft_step_cache: DraftCache = "first-block"
    compile: bool = False


def free_gpu_gb(device: str) -> float | None:
    import torch

    if not device.startswith("cuda") or not torch.cuda.is_available():
        return None
    free, _ = torch.cuda.mem_get_info(torch.device(device))
    return free / 2**30


def place(pipe: Any, options: EngineOptions) -> str:
    """Put the pipeline where the options say; returns the offload mode used."""
    import torch

    mode = options.offload
    if mode == "auto":
        free = free_gpu_gb(options.device)
        mode = "none" if free is None or free > KEEP_ON_GPU_GB else "model"
        log.info("offload %s (free GPU memory: %s GiB)", mode, free and round(free, 1))
    if mode == "none":
        pipe.to(options.device)
    elif mode == "model":
        pipe.enable_model_cpu_offload(device=options.device)
    else:
        pipe.enable_group_offload(
            onload_device=torch.device(options.device),
            offload_device=torch.device("cpu"),
            offload_type="block_level",
            num_blocks_per_group=1,
        )
    return mode


def enable_step_cache(
    pipe: Any, cache: str, threshold: float | None, steps: int, mag_ratios: list[float]
) -> bool:
    """Switch the transformer's step cache on; True when the call needs a cache context."""
    import diffusers

    transformer = pipe.transformer
    given = {} if threshold is None else {"threshold": threshold}
    if cache == "first-block":
        transformer.enable_cache(diffusers.FirstBlockCacheConfig(**given))
    elif cache == "mag-cache":
        ratios = {"mag_ratios": mag_ratios} if mag_ratios else {"calibrate": True}
        transformer.enable_cache(
            diffusers.MagCacheConfig(num_inference_steps=steps, **given, **ratios)
        )
    elif cache == "pyramid-attention-broadcast":
        transformer.enable_cache(
            diffusers.PyramidAttentionBroadcastConfig(
                spatial_attention_block_skip_range=2,
                current_timestep_callback=lambda: pipe.current_timestep,
            )
        )
    elif cache == "faster-cache":
        transformer.enable_cache(
            diffusers.FasterCacheConfig(
                spatial_attention_block_skip_range=2,
                spatial_attention_timestep_skip_range=(-1, 681),
                current_timestep_callback=lambda: pipe.current_timestep,
                attention_weight_callback=lambda _: 0.3,
                is_guidance_distilled=True,  # FramePack's guidance is distilled
            )
        )
    return cache in NEEDS_CONTEXT


@contextmanager
def step_cache_for_call(pipe: Any, cache: str, steps: int) -> Iterator[None]:
    """A step cache for one call (a draft's), when the engine runs none all the time;
    off again afterwards."""
    transformer = pipe.transformer
    if cache == "none" or transformer.is_cache_enabled:
        yield
        return
    needs_context = enable_step_cache(pipe, cache, None, steps, [])
    try:
        with transformer.cache_context("cond") if needs_context else nullcontext():
            yield
    finally:
        transformer.disable_cache()


def speed_up(pipe: Any, options: EngineOptions, steps: int = 25) -> bool:
    """Apply tiling, the step cache, the attention backend and compilation. True when
    the pipeline call must run inside `transformer.cache_context(...)`."""

    if options.vae_tiling:
        pipe.vae.enable_tiling()
    transformer = pipe.transformer
    cache = options.step_cache
    enable_step_cache(pipe, cache, options.step_cache_threshold, steps, options.mag_ratios)
    if options.attention_backend:
        transformer.set_attention_backend(options.attention_backend)
    if options.compile:
        # compile_repeated_blocks() finds no repeated blocks on this transformer:
        # compile each block instead.
        for block in (*transformer.transformer_blocks, *transformer.single_transformer_blocks):
            block.compile()
    return cache in NEEDS_CONTEXT
