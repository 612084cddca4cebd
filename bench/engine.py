"""The local engine's own cost: its wall time per job against a bare diffusers call.

    python bench/engine.py [--runs 5] [--base 64] [--frames 18] [--steps 4]

CPU, the tiny random FramePack pipeline (tests/tiny_framepack.py). Both sides get the
same inputs: an image already cropped to its bucket, the seed, steps and length. Ours
is `FramePackEngine.frames` (bucket choice and crop, progress per step, the cancel
check, trimming, conversion to uint8); the bare side is `pipe(...)` with no callback.
The MP4 encode, which the bare call does not do, is timed apart. Medians of `--runs`,
alternating.

GPU figures (the full-size transformer, seconds per frame per step cache and attention
backend) are not measured here: no GPU is lent to this project.
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
from tests import tiny_framepack as tiny  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--base", type=int, default=64)
    parser.add_argument("--frames", type=int, default=18)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
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
