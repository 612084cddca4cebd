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
a table. No GPU is lent to this project, so that mode was not run here; `--check` builds
the same parts on PyTorch's meta device (no memory) and prints their sizes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

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


def gpu_table(steps: int = 25) -> None:
    from diffusers import HunyuanVideoFramepackPipeline

    from local_engine.options import EngineOptions, speed_up

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # Built once, in bf16, straight on the GPU (13 B parameters in fp32 on the CPU
        # first would take 52 GB); each combination below is switched on and off.
        torch.set_default_dtype(torch.bfloat16)
        with torch.device("cuda"):
            pipe = HunyuanVideoFramepackPipeline(**full_size_parts(Path(tmp)))
        torch.set_default_dtype(torch.float32)
        pipe.set_progress_bar_config(disable=True)
        request = EngineRequest(
            Image.new("RGB", (832, 480), (40, 120, 200)), "waves", 33, steps=steps
        )
        for cache in ("none", "first-block", "faster-cache", "pyramid-attention-broadcast"):
            for backend in ("native", "flash", "sage"):
                transformer = pipe.transformer
                if transformer.is_cache_enabled:
                    transformer.disable_cache()
                transformer.reset_attention_backend()
                options = EngineOptions(
                    step_cache=cache, attention_backend=backend, vae_tiling=False
                )
                try:
                    context = speed_up(pipe, options, steps)
                    engine = FramePackEngine(pipe, cache_context=context)
                    engine.frames(request)  # warm-up (kernels, the cache's first pass)
                except Exception as exc:  # a backend this GPU or install lacks
                    rows.append((cache, backend, "unavailable", str(exc)[:40]))
                    continue
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                started = time.perf_counter()
                engine.frames(request)
                torch.cuda.synchronize()
                per_frame = (time.perf_counter() - started) / 33
                peak = torch.cuda.max_memory_allocated() / 2**30
                rows.append((cache, backend, f"{per_frame:.2f} s/frame", f"{peak:.1f} GiB"))
    print(f"full-size FramePack, random bf16 weights, 832x480, {steps} steps, one section")
    print("  {:28} {:7} {:>16} {:>9}".format("step cache", "backend", "speed", "peak"))
    for row in rows:
        print("  {:28} {:7} {:>16} {:>9}".format(*row))


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
