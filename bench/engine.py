"""The local engine's own cost: its wall time per job against a bare diffusers call.

    python bench/engine.py [--runs 5] [--base 64] [--frames 18] [--steps 4]

CPU, the tiny random FramePack pipeline (tests/support/tiny_framepack.py). Both sides get the
same inputs: an image already cropped to its bucket, the seed, steps and length. Ours
is `FramePackEngine.frames` (bucket choice and crop, progress per step, the cancel
check, trimming, conversion to uint8); the bare side is `pipe(...)` with no callback.
The MP4 encode, which the bare call does not do, is timed apart. Medians of `--runs`,
alternating.

With `--gpu` (for operators): the full-size FramePack transformer and VAE with random
bf16 weights (speed needs no real weights; the text and image encoders, which run once a
job, are one layer deep), at the 640 bucket (832x480), 25 steps, one section: seconds
per generated frame and peak GPU memory for each step cache and attention backend, as
a table, with a random rank-64 LoRA on every attention projection as two more rows,
and an Extend (F1 sampling with a 69-frame earlier video to encode as its history).
No GPU is lent to this project, so that mode was not run here; `--check` (CPU, in the
tests) builds the full-size parts on PyTorch's meta device (no memory) and prints their
sizes, then runs the table's every variant on the tiny pipeline.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from local_engine.buckets import fit_to_bucket, nearest_bucket  # noqa: E402
from local_engine.encode import write_mp4  # noqa: E402
from local_engine.engine import EngineRequest, FramePackEngine  # noqa: E402
from tests.support import tiny_framepack as tiny  # noqa: E402


def full_size_parts(scratch: Path) -> dict:
    """FramePack's transformer and VAE at their published sizes, random weights; the
    encoders as wide as the transformer expects but one layer deep."""
    from diffusers import AutoencoderKLHunyuanVideo, FlowMatchEulerDiscreteScheduler
    from diffusers import HunyuanVideoFramepackTransformer3DModel as Transformer
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        LlamaConfig,
        LlamaModel,
        SiglipImageProcessor,
        SiglipVisionConfig,
        SiglipVisionModel,
    )

    return {
        # lllyasviel/FramePackI2V_HY's config: the class defaults plus these three.
        "transformer": Transformer(
            has_image_proj=True, image_proj_dim=1152, has_clean_x_embedder=True
        ),
        "vae": AutoencoderKLHunyuanVideo(),  # hunyuanvideo-community/HunyuanVideo's
        "scheduler": FlowMatchEulerDiscreteScheduler(shift=3.0),
        "text_encoder": LlamaModel(
            LlamaConfig(
                hidden_size=4096,
                intermediate_size=14336,
                num_hidden_layers=1,
                num_attention_heads=32,
                num_key_value_heads=8,
                vocab_size=1000,
            )
        ),
        "text_encoder_2": CLIPTextModel(
            CLIPTextConfig(
                hidden_size=768,
                projection_dim=768,
                num_hidden_layers=1,
                vocab_size=1000,
                bos_token_id=0,
                eos_token_id=2,
                pad_token_id=1,
            )
        ),
        "image_encoder": SiglipVisionModel(
            SiglipVisionConfig(
                hidden_size=1152,
                intermediate_size=4304,
                num_hidden_layers=1,
                num_attention_heads=16,
                image_size=384,
                patch_size=14,
            )
        ),
        "feature_extractor": SiglipImageProcessor(size={"height": 384, "width": 384}),
        "tokenizer": tiny._llama_tokenizer(scratch / "tokenizer"),
        "tokenizer_2": tiny._clip_tokenizer(scratch / "tokenizer_2"),
    }


def check_sizes() -> None:
    with tempfile.TemporaryDirectory() as tmp, torch.device("meta"):
        parts = full_size_parts(Path(tmp))
    for name, part in parts.items():
        if isinstance(part, torch.nn.Module):
            count = sum(p.numel() for p in part.parameters())
            print(f"  {name:16} {count / 1e9:6.2f} B parameters")


def random_lora(transformer: torch.nn.Module, rank: int = 64) -> dict[str, torch.Tensor]:
    """A LoRA of `rank` on every attention projection, random weights, as diffusers'
    load_lora_weights takes one (the speed of a LoRA needs no trained weights)."""
    layers = {}
    for name, module in transformer.named_modules():
        if name.rsplit(".", 1)[-1] in ("to_q", "to_k", "to_v") and hasattr(module, "weight"):
            out_features, in_features = module.weight.shape
            like = {"dtype": module.weight.dtype, "device": module.weight.device}
            layers[f"transformer.{name}.lora_A.weight"] = torch.randn(rank, in_features, **like)
            layers[f"transformer.{name}.lora_B.weight"] = torch.randn(out_features, rank, **like)
    return layers


def full_size_pipe(tmp: Path, device: str) -> tuple[object, EngineRequest, int]:
    """The full-size pipeline in bf16 straight on `device` (13 B parameters in fp32 on
    the CPU first would take 52 GB), a 640-bucket request of one section, its window."""
    from diffusers import HunyuanVideoFramepackPipeline

    torch.set_default_dtype(torch.bfloat16)
    with torch.device(device):
        pipe = HunyuanVideoFramepackPipeline(**full_size_parts(tmp))
    torch.set_default_dtype(torch.float32)
    request = EngineRequest(Image.new("RGB", (832, 480), (40, 120, 200)), "waves", 33)
    return pipe, request, 9


def tiny_pipe(tmp: Path, device: str) -> tuple[object, EngineRequest, int]:
    """The same table's code on the tiny CPU pipeline (`--check`): every variant runs,
    so the GPU run finds no broken path; its figures mean nothing."""
    request = EngineRequest(Image.new("RGB", (160, 90), (40, 120, 200)), "waves", 9, base=64)
    return tiny.pipeline(tmp), request, tiny.WINDOW


# (step cache, attention backend, LoRA, Extend: F1 with a 69-frame history to encode)
VARIANTS = [
    (cache, backend, False, False)
    for cache in ("none", "first-block", "faster-cache", "pyramid-attention-broadcast")
    for backend in ("native", "flash", "sage")
] + [
    ("none", "native", True, False),
    ("first-block", "native", True, False),
    ("none", "native", False, True),
]


def gpu_table(steps: int = 25, *, check: bool = False) -> None:
    """Seconds per frame and peak memory per step cache, attention backend and LoRA."""
    from local_engine.options import EngineOptions, speed_up

    device = "cpu" if check else "cuda"
    with tempfile.TemporaryDirectory() as tmp:
        build = tiny_pipe if check else full_size_pipe
        pipe, request, window = build(Path(tmp), device)
        request = dataclasses.replace(request, steps=steps)
        pipe.set_progress_bar_config(disable=True)
        lora = random_lora(pipe.transformer, rank=4 if check else 64)
        pipe.load_lora_weights(lora, adapter_name="bench")
        rows = [
            _row(pipe, request, window, speed_up, EngineOptions, variant, device)
            for variant in VARIANTS
        ]
    size = "tiny, CPU (a check: figures mean nothing)" if check else "full-size, random bf16"
    print(f"FramePack {size}, {request.image.width}x{request.image.height}, {steps} steps")
    print(
        "  {:28} {:7} {:5} {:7} {:>16} {:>10}".format(
            "step cache", "backend", "lora", "extend", "speed", "peak"
        )
    )
    for row in rows:
        print("  {:28} {:7} {:5} {:7} {:>16} {:>10}".format(*row))


def _row(pipe, request, window, speed_up, options_type, variant, device) -> tuple:
    cache, backend, lora, extend = variant
    transformer = pipe.transformer
    if transformer.is_cache_enabled:
        transformer.disable_cache()
    transformer.reset_attention_backend()
    if lora:
        pipe.enable_lora()
        pipe.set_adapters(["bench"], [1.0])
    else:
        pipe.disable_lora()
    options = options_type(step_cache=cache, attention_backend=backend, vae_tiling=False)
    label = (cache, backend, "yes" if lora else "no", "yes" if extend else "no")
    try:
        context = speed_up(pipe, options, request.steps)
        # An Extend samples with F1 (here the same random transformer) and encodes the
        # earlier video's last frames as its history: what that encode costs.
        f1 = pipe.transformer if extend else None
        engine = FramePackEngine(
            pipe, cache_context=context, latent_window_size=window, f1_transformer=f1
        )
        if extend:
            request = dataclasses.replace(request, history=_earlier_video(request))
        engine.frames(request)  # warm-up (kernels, the cache's first pass)
    except Exception as exc:  # a backend this GPU or install lacks
        return (*label, "unavailable", str(exc)[:30])
    cuda = device == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    engine.frames(request)
    if cuda:
        torch.cuda.synchronize()
    per_frame = (time.perf_counter() - started) / request.num_frames
    peak = f"{torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if cuda else "-"
    return (*label, f"{per_frame:.2f} s/frame", peak)


def _earlier_video(request: EngineRequest) -> bytes:
    """An MP4 of 69 frames (the history an Extend encodes) at the request's image size."""
    from local_engine.continuation import HISTORY_FRAMES

    frame = np.asarray(request.image.convert("RGB"))
    with tempfile.TemporaryDirectory() as tmp:
        path = write_mp4([frame] * HISTORY_FRAMES, Path(tmp) / "earlier.mp4")
        return path.read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--base", type=int, default=64)
    parser.add_argument("--frames", type=int, default=18)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--gpu", action="store_true", help="the full-size table (a GPU)")
    parser.add_argument("--check", action="store_true", help="build the full-size parts on meta")
    args = parser.parse_args()
    if args.check:
        check_sizes()
        gpu_table(steps=2, check=True)
        return
    if args.gpu:
        gpu_table()
        return
    torch.set_num_threads(1)  # steadier figures on a shared 2-core machine

    with tempfile.TemporaryDirectory() as tmp:
        pipe = tiny.pipeline(Path(tmp))
        engine = FramePackEngine(
            pipe, latent_window_size=tiny.WINDOW, prompt_template=tiny.PROMPT_TEMPLATE
        )
        image = Image.new("RGB", (160, 90), (200, 60, 40))
        request = EngineRequest(
            image, "waves roll in", num_frames=args.frames, base=args.base, steps=args.steps
        )
        bucket = nearest_bucket(image.width, image.height, args.base)
        cropped = fit_to_bucket(image, bucket)

        def bare() -> None:
            pipe(
                image=cropped,
                prompt=request.prompt,
                height=bucket[0],
                width=bucket[1],
                num_frames=request.num_frames,
                latent_window_size=tiny.WINDOW,
                num_inference_steps=request.steps,
                guidance_scale=request.guidance,
                generator=torch.Generator(device="cpu").manual_seed(request.seed),
                prompt_template=tiny.PROMPT_TEMPLATE,
                output_type="np",
            )

        ours_s, bare_s, encode_s = [], [], []
        bare()  # warm-up
        for _ in range(args.runs):
            started = time.perf_counter()
            frames = engine.frames(request, on_progress=lambda p: None)
            ours_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            bare()
            bare_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            write_mp4(frames, Path(tmp) / "out.mp4")
            encode_s.append(time.perf_counter() - started)

    ours, base = statistics.median(ours_s), statistics.median(bare_s)
    print(
        f"tiny FramePack on CPU, {bucket[1]}x{bucket[0]}, {args.frames} frames, "
        f"{args.steps} steps, median of {args.runs}"
    )
    print(f"  engine.frames  {ours * 1e3:8.1f} ms")
    print(f"  bare pipe()    {base * 1e3:8.1f} ms")
    print(f"  ratio          {ours / base:8.3f}  (aim <= 1.05)")
    print(f"  MP4 encode     {statistics.median(encode_s) * 1e3:8.1f} ms (apart)")


if __name__ == "__main__":
    main()
