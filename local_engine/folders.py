"""The weights, from local folders only, checked before diffusers sees them.

diffusers' own errors for a missing or incomplete folder mislead ("couldn't connect to
huggingface.co" even with local_files_only; "Repo id must be in the form ..."), and a
relative path that does not exist is taken for a hub repo id and retried for ~20 s.
So each folder is checked here first, and one message lists what is missing where.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# What each folder holds, as published: (repo, files or subfolders that must exist).
BASE_PARTS = (
    "model_index.json",
    "text_encoder/config.json",
    "text_encoder_2/config.json",
    "tokenizer/tokenizer_config.json",
    "tokenizer_2/tokenizer_config.json",
    "vae/config.json",
    "scheduler/scheduler_config.json",
)
TRANSFORMER_PARTS = ("config.json",)
IMAGE_ENCODER_PARTS = ("image_encoder/config.json", "feature_extractor/preprocessor_config.json")

REPOS = {
    "base_model_dir": "hunyuanvideo-community/HunyuanVideo",
    "transformer_dir": "lllyasviel/FramePackI2V_HY",
    "f1_transformer_dir": "lllyasviel/FramePack_F1_I2V_HY_20250503",
    "image_encoder_dir": "lllyasviel/flux_redux_bfl",
}


class WeightsMissing(Exception):
    """One message naming every folder that is missing or incomplete, and what belongs
    in it."""


@dataclass(frozen=True)
class Folders:
    base: Path | None
    transformer: Path | None
    image_encoder: Path | None
    f1_transformer: Path | None = None

    def problems(self) -> list[str]:
        """One line per folder that is not usable (empty when all are)."""
        found = [
            _check("base_model_dir", self.base, BASE_PARTS),
            _check("transformer_dir", self.transformer, TRANSFORMER_PARTS, weights=True),
            _check("image_encoder_dir", self.image_encoder, IMAGE_ENCODER_PARTS, weights=True),
        ]
        if self.f1_transformer is not None:
            found.append(
                _check("f1_transformer_dir", self.f1_transformer, TRANSFORMER_PARTS, weights=True)
            )
        return [line for line in found if line]

    def require(self) -> None:
        problems = self.problems()
        if problems:
            raise WeightsMissing(
                "the local engine's weights are not all there:\n  "
                + "\n  ".join(problems)
                + "\n(no download is ever tried at run time: see the README for the "
                "commands that fetch them)"
            )


def _check(setting: str, folder: Path | None, parts: tuple[str, ...], weights: bool = False) -> str:
    repo = REPOS[setting]
    if folder is None:
        return f"[engine] {setting} is not set: it is the folder of {repo}"
    if not folder.is_absolute():
        folder = folder.resolve()
    if not folder.is_dir():
        return f"[engine] {setting} = {folder}: no such folder (it should hold {repo})"
    missing = [part for part in parts if not (folder / part).exists()]
    if weights and not any(folder.rglob("*.safetensors")) and not any(folder.rglob("*.bin")):
        missing.append("the weights (*.safetensors)")
    if missing:
        return f"[engine] {setting} = {folder}: {repo} is incomplete, missing {', '.join(missing)}"
    return ""
