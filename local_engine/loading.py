"""Loading FramePack from the three (or four) local folders; never the hub."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from local_engine.engine import FramePackEngine
from local_engine.folders import Folders
from local_engine.options import EngineOptions, place, speed_up


def load_engine(
    folders: Folders,
    options: EngineOptions,
    *,
    prompt_template: dict[str, Any] | None = None,
    loras: Mapping[str, Path] | None = None,
) -> FramePackEngine:
    """Check the folders (one clear error listing all that is missing), then load with
    local_files_only. The base folder's model_index.json names a transformer it does
    not contain: transformer, image encoder and feature extractor go in explicitly."""
    folders.require()
    import torch
    from diffusers import HunyuanVideoFramepackPipeline, HunyuanVideoFramepackTransformer3DModel
    from transformers import SiglipImageProcessor, SiglipVisionModel

    torch_dtype = getattr(torch, options.dtype)
    assert folders.base and folders.transformer and folders.image_encoder  # require() did
    transformer = HunyuanVideoFramepackTransformer3DModel.from_pretrained(
        folders.transformer, local_files_only=True, dtype=torch_dtype
    )
    image_encoder = SiglipVisionModel.from_pretrained(
        folders.image_encoder, subfolder="image_encoder", local_files_only=True, dtype=torch_dtype
    )
    feature_extractor = SiglipImageProcessor.from_pretrained(
        folders.image_encoder, subfolder="feature_extractor", local_files_only=True
    )
    pipe = HunyuanVideoFramepackPipeline.from_pretrained(
        folders.base,
        transformer=transformer,
        image_encoder=image_encoder,
        feature_extractor=feature_extractor,
        local_files_only=True,
        dtype=torch_dtype,
    )
    f1 = None
    if folders.f1_transformer is not None:
        f1 = HunyuanVideoFramepackTransformer3DModel.from_pretrained(
            folders.f1_transformer, local_files_only=True, dtype=torch_dtype
        )
    engine = FramePackEngine(
        pipe,
        f1_transformer=f1,
        prompt_template=prompt_template,
        cache_context=speed_up(pipe, options),
        loras=loras,
        draft_cache=options.draft_step_cache,
    )
    for each in (engine.pipe, engine.f1_pipe):
        if each is not None:
            place(each, options)
    return engine
