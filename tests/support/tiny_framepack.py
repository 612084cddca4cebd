"""A tiny random FramePack pipeline built from config, with no download: the real
diffusers HunyuanVideoFramepackPipeline and its real parts, each a few thousand
parameters (the recipe in ../shared/DESIGN.md). It generates 32-64 px videos on a CPU in
about a second, and `save_weights` writes it in the three-folder layout operators use."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from diffusers import (
    AutoencoderKLHunyuanVideo,
    FlowMatchEulerDiscreteScheduler,
    HunyuanVideoFramepackPipeline,
    HunyuanVideoFramepackTransformer3DModel,
)
from tokenizers import Tokenizer, models
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTokenizer,
    LlamaConfig,
    LlamaModel,
    LlamaTokenizerFast,
    SiglipImageProcessor,
    SiglipVisionConfig,
    SiglipVisionModel,
)

from local_engine.engine import FramePackEngine
from local_engine.folders import Folders

# The tiny text encoders cannot take the real prompt template.
PROMPT_TEMPLATE = {"template": "{}", "crop_start": 0}
WINDOW = 3  # latent window: each section makes (3 - 1) * 4 + 1 = 9 frames


def transformer(seed: int = 0) -> HunyuanVideoFramepackTransformer3DModel:
    torch.manual_seed(seed)
    return HunyuanVideoFramepackTransformer3DModel(
        in_channels=4,
        out_channels=4,
        num_attention_heads=2,
        attention_head_dim=10,
        num_layers=1,
        num_single_layers=1,
        num_refiner_layers=1,
        patch_size=2,
        patch_size_t=1,
        guidance_embeds=True,
        text_embed_dim=16,
        pooled_projection_dim=8,
        rope_axes_dim=(2, 4, 4),
        image_condition_type=None,
        has_image_proj=True,
        image_proj_dim=32,
        has_clean_x_embedder=True,
    )


def _llama_tokenizer(folder: Path) -> LlamaTokenizerFast:
    """Byte fallback over a vocab of the special tokens and the 256 bytes: any text
    tokenizes, with no merges and no download."""
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    vocab.update({f"<0x{b:02X}>": 4 + b for b in range(256)})
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>", byte_fallback=True))
    return LlamaTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        pad_token="<pad>",
    )  # fmt: skip


def _clip_tokenizer(folder: Path) -> CLIPTokenizer:
    """A character vocab (each character, and it ending a word), no merges."""
    chars = [chr(c) for c in range(33, 127)]
    tokens = ["<|startoftext|>", "<|endoftext|>", *chars, *(c + "</w>" for c in chars)]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))


def pipeline(scratch: Path) -> HunyuanVideoFramepackPipeline:
    torch.manual_seed(0)
    vae = AutoencoderKLHunyuanVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        down_block_types=("HunyuanVideoDownBlock3D",) * 4,
        up_block_types=("HunyuanVideoUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        layers_per_block=1,
        act_fn="silu",
        norm_num_groups=4,
        scaling_factor=0.476986,
        spatial_compression_ratio=8,
        temporal_compression_ratio=4,
        mid_block_add_attention=True,
    )
    common = dict(
        bos_token_id=0, eos_token_id=2, intermediate_size=37, layer_norm_eps=1e-05,
        num_attention_heads=4, num_hidden_layers=2, pad_token_id=1, vocab_size=1000,
        hidden_act="gelu",
    )  # fmt: skip
    torch.manual_seed(0)
    text_encoder = LlamaModel(LlamaConfig(hidden_size=16, **common))
    torch.manual_seed(0)
    text_encoder_2 = CLIPTextModel(CLIPTextConfig(hidden_size=8, projection_dim=32, **common))
    torch.manual_seed(0)
    image_encoder = SiglipVisionModel(
        SiglipVisionConfig(
            hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
            image_size=30, patch_size=2,
        )
    )  # fmt: skip
    return HunyuanVideoFramepackPipeline(
        transformer=transformer(),
        vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
        text_encoder=text_encoder,
        tokenizer=_llama_tokenizer(scratch / "tokenizer"),
        text_encoder_2=text_encoder_2,
        tokenizer_2=_clip_tokenizer(scratch / "tokenizer_2"),
        image_encoder=image_encoder,
        feature_extractor=SiglipImageProcessor(size={"height": 30, "width": 30}),
    )


def save_weights(pipe: HunyuanVideoFramepackPipeline, root: Path, *, f1: bool = False) -> Folders:
    """The pipeline in the layout of the published weights: the base folder (whose
    model_index.json names a transformer it does not hold), the transformer folder, and
    the image encoder folder with `image_encoder/` and `feature_extractor/`."""
    full = root / "full"
    pipe.save_pretrained(full)
    base, encoder = root / "HunyuanVideo", root / "flux_redux_bfl"
    encoder.mkdir(parents=True)
    shutil.move(full / "transformer", root / "FramePackI2V_HY")
    shutil.move(full / "image_encoder", encoder / "image_encoder")
    shutil.move(full / "feature_extractor", encoder / "feature_extractor")
    full.rename(base)
    f1_folder = None
    if f1:
        f1_folder = root / "FramePack_F1_I2V_HY"
        transformer(seed=1).save_pretrained(f1_folder)
    return Folders(base, root / "FramePackI2V_HY", encoder, f1_folder)


def engine_env(folders: Folders) -> dict[str, str]:
    assert folders.base and folders.transformer and folders.image_encoder
    return {
        "FPBOT_PROVIDERS__LOCAL__ENABLED": "true",
        "FPBOT_ENGINE__BASE_MODEL_DIR": str(folders.base),
        "FPBOT_ENGINE__TRANSFORMER_DIR": str(folders.transformer),
        "FPBOT_ENGINE__IMAGE_ENCODER_DIR": str(folders.image_encoder),
        "FPBOT_ENGINE__DEVICE": "cpu",
        "FPBOT_ENGINE__DTYPE": "float32",
        "FPBOT_ENGINE__OFFLOAD": "none",
        "FPBOT_ENGINE__BUCKETS": json.dumps({"480p": 64, "720p": 96}),
    }


def save_lora(folder: Path, seed: int = 0) -> Path:
    """A LoRA for the tiny transformer's attention (PEFT, random non-zero weights),
    saved as diffusers saves HunyuanVideo LoRAs: folder/pytorch_lora_weights.safetensors."""
    from diffusers import HunyuanVideoFramepackPipeline
    from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model

    torch.manual_seed(seed)
    model = transformer(seed=0)
    config = LoraConfig(
        r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v"], init_lora_weights=False
    )
    inject_adapter_in_model(config, model, adapter_name="default")
    layers = get_peft_model_state_dict(model, adapter_name="default")
    folder.mkdir(parents=True, exist_ok=True)
    HunyuanVideoFramepackPipeline.save_lora_weights(folder, transformer_lora_layers=layers)
    return folder / "pytorch_lora_weights.safetensors"


def engine(scratch: Path, **options: Any) -> FramePackEngine:
    """The engine over a fresh tiny pipeline, with the tiny window and prompt template;
    `options` as FramePackEngine takes them (loras, draft_cache, f1_transformer…)."""
    return FramePackEngine(
        pipeline(scratch), latent_window_size=WINDOW, prompt_template=PROMPT_TEMPLATE, **options
    )
