"""Probing, frame sampling and fitting videos under an upload limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.media import (
    CannotFit,
    VideoUnusable,
    first_frame,
    fit_to_limit,
    probe,
    sample_frames,
)
from tests.support.fakes.media import make_mp4
from tests.support.media_clips import noisy_clip

MiB = 2**20


def test_a_file_that_fits_goes_as_it_is(tmp_path: Path) -> None:
    clip = tmp_path / "small.mp4"
    clip.write_bytes(make_mp4(60, 64, 36))
    fitted = fit_to_limit(clip, 10 * MiB, tmp_path / "work")
    assert fitted.path == clip and not fitted.reencoded


def test_sixty_seconds_of_720p_go_under_10_mib_and_still_decode(tmp_path: Path) -> None:
    source = noisy_clip(
        tmp_path / "long.mp4", seconds=60, width=1280, height=720, bitrate=3_000_000
    )
    assert source.stat().st_size > 15 * MiB
    fitted = fit_to_limit(source, 10 * MiB, tmp_path / "work")
    assert fitted.reencoded and fitted.size_bytes <= 10 * MiB - 64 * 1024
    info = probe(fitted.path)
    assert (info.width, info.height, info.frames) == (1280, 720, 1800)
    assert abs(info.duration_s - 60) < 0.1


def test_a_tight_limit_takes_a_second_pass_aimed_by_the_first(tmp_path: Path) -> None:
    # Moving noise at ~83 kb/s: x264 overshoots the asked bitrate by 5-7 % (measured), so
    # the first pass misses this budget and the second, aimed by its overshoot, fits. (At
    # a 60 kB budget the overshoot was ~1 % and a CI run's first pass landed 12 bytes under.)
    source = noisy_clip(tmp_path / "short.mp4", seconds=4, width=640, height=360, bitrate=2_000_000)
    fitted = fit_to_limit(source, 64 * 1024 + 45_000, tmp_path / "work")
    assert fitted.size_bytes <= 45_000 and fitted.attempts >= 2
    info = probe(fitted.path)
    assert info.frames == 120 and info.height <= 360


def test_an_impossible_limit_is_refused(tmp_path: Path) -> None:
    source = noisy_clip(tmp_path / "short.mp4", seconds=2, width=640, height=360, bitrate=2_000_000)
    with pytest.raises(CannotFit):
        fit_to_limit(source, 64 * 1024 + 500, tmp_path / "work")


def test_sampled_frames_span_the_video(tmp_path: Path) -> None:
    clip = tmp_path / "c.mp4"
    clip.write_bytes(make_mp4(90, 64, 36))
    frames = sample_frames(clip, 6)
    assert len(frames) == 6 and frames[0].size == (64, 36)
    assert frames[0].getpixel((40, 20)) != frames[-1].getpixel((40, 20))


def test_the_first_frame_is_the_first_sampled_frame(tmp_path: Path) -> None:
    clip = tmp_path / "c.mp4"
    clip.write_bytes(make_mp4(90, 64, 36))
    assert first_frame(clip).tobytes() == sample_frames(clip, 3)[0].tobytes()


def test_truncated_or_fake_files_are_unusable(tmp_path: Path) -> None:
    clip = tmp_path / "cut.mp4"
    clip.write_bytes(make_mp4(60, 64, 36)[:3000])
    with pytest.raises(VideoUnusable, match="truncated"):
        probe(clip)
    page = tmp_path / "page.mp4"
    page.write_bytes(b"<html>404</html>")
    with pytest.raises(VideoUnusable):
        probe(page)
