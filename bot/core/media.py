"""Video handling for delivery: probe, check, sample frames, join an extension to the
video it extends, carry the recipe in the MP4's tags, and fit under an upload limit.
All blocking (PyAV): call in a thread.

Fitting: a file that fits goes as it is; otherwise it is re-encoded at
bitrate = 0.92 x limit x 8 / duration (H.264, yuv420p, +faststart); if that overshoots,
a second encode at a bitrate corrected by the overshoot; then smaller sizes.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image

from providers.mp4 import mp4_problem

log = logging.getLogger(__name__)

# The platforms' limits cover the whole upload request (caption, multipart framing).
REQUEST_OVERHEAD = 64 * 1024
MIN_HEIGHT = 240
MIN_BITRATE = 64_000  # below this x264 refuses, and nothing watchable comes out anyway
# Without this flag the MP4 muxer keeps only the handful of iTunes tags it knows; with
# it any key is written (as an mdta atom), and ffprobe and PyAV read it back.
MP4_OPTIONS = {"movflags": "+faststart+use_metadata_tags"}
# Tags the muxer writes itself: not part of a video's recipe, never copied.
_MUXER_TAGS = {"major_brand", "minor_version", "compatible_brands", "encoder"}
JOIN_CRF = "18"  # a joined video is re-encoded once per Extend: keep the loss small


class VideoUnusable(Exception):
    """The file is not a video we can deliver (truncated, undecodable, empty)."""


class CannotFit(Exception):
    """Even the smallest re-encode does not fit the limit."""


@dataclass(frozen=True)
class VideoInfo:
    duration_s: float
    width: int
    height: int
    frames: int
    fps: Fraction
    size_bytes: int


@dataclass(frozen=True)
class Fitted:
    path: Path
    size_bytes: int
    reencoded: bool
    attempts: int
    height: int


def probe(path: Path) -> VideoInfo:
    problem = mp4_problem(path)
    if problem:
        raise VideoUnusable(problem)
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            fps = stream.average_rate or stream.guessed_rate or Fraction(30)
            frames = stream.frames or sum(1 for _ in container.decode(stream))
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            else:
                duration = frames / float(fps)
            width, height = stream.codec_context.width, stream.codec_context.height
    except (av.FFmpegError, IndexError) as exc:
        raise VideoUnusable(f"cannot decode: {exc}") from exc
    if frames == 0 or duration <= 0:
        raise VideoUnusable("the video has no frames")
    return VideoInfo(duration, width, height, frames, Fraction(fps), path.stat().st_size)


def sample_frames(path: Path, count: int) -> list[Image.Image]:
    """`count` frames spread evenly over the video (first and last included)."""
    info = probe(path)
    wanted = {round(i * (info.frames - 1) / max(1, count - 1)) for i in range(count)}
    frames = []
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                frames.append(frame.to_image())
                if len(frames) == len(wanted):
                    break  # the rest need not be decoded
    return frames


def first_frame(path: Path) -> Image.Image:
    """The video's first frame, decoding nothing after it."""
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            return frame.to_image()
    raise VideoUnusable("the video has no frames")


def fit_to_limit(source: Path, limit_bytes: int, workdir: Path) -> Fitted:
    """A file no larger than the limit (less the request overhead), as source or
    re-encoded into workdir. Raises CannotFit or VideoUnusable."""
    info = probe(source)
    budget = limit_bytes - REQUEST_OVERHEAD
    if info.size_bytes <= budget:
        return Fitted(source, info.size_bytes, False, 0, info.height)
    workdir.mkdir(parents=True, exist_ok=True)
    bitrate = 0.92 * budget * 8 / info.duration_s
    height = info.height - info.height % 2
    for attempt in range(1, 6):
        if bitrate < MIN_BITRATE:
            break
        out = workdir / f"fitted-{attempt}.mp4"
        encode(source, out, bitrate=int(bitrate), height=height)
        size = out.stat().st_size
        log.info(
            "fit attempt %d: %dp at %.0f kb/s -> %d bytes (budget %d)",
            attempt,
            height,
            bitrate / 1000,
            size,
            budget,
        )
        if size <= budget:
            return Fitted(out, size, True, attempt, height)
        out.unlink()
        if attempt == 1:
            bitrate *= 0.95 * budget / size  # the second pass, aimed by the first's overshoot
        else:
            height = max(MIN_HEIGHT, int(height * 0.75) - int(height * 0.75) % 2)
            bitrate *= 0.9
    raise CannotFit(f"{source.name} does not fit in {limit_bytes} bytes")


def encode(source: Path, dest: Path, *, bitrate: int, height: int) -> None:
    """Re-encode the video stream as H.264 yuv420p at `bitrate`, scaled to `height`."""
    with (
        av.open(str(source)) as src,
        av.open(str(dest), mode="w", format="mp4", options=MP4_OPTIONS) as out,
    ):
        out.metadata.update(_recipe_tags(src.metadata))
        in_stream = src.streams.video[0]
        in_height = in_stream.codec_context.height
        width = round(in_stream.codec_context.width * height / in_height / 2) * 2
        rate = in_stream.average_rate or Fraction(30)
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = bitrate
        stream.options = {
            "preset": "veryfast",
            "maxrate": str(int(bitrate * 1.1)),
            "bufsize": str(bitrate * 2),
        }
        for index, frame in enumerate(src.decode(in_stream)):
            scaled = frame.reformat(width=width, height=height, format="yuv420p")
            # Constant frame rate: the source's timestamps are not needed (FramePack
            # and the providers write CFR video).
            scaled.pts, scaled.time_base = index, Fraction(1) / Fraction(rate)
            for packet in stream.encode(scaled):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def last_frame_png(path: Path) -> bytes:
    """The final frame of a video as PNG bytes (the first frame of an Extend)."""
    return frame_png(path, -1)


def frame_png(path: Path, index: int) -> bytes:
    """Frame `index` of a video (-1: the last) as PNG bytes; past the end, the last."""
    chosen = None
    try:
        with av.open(str(path)) as container:
            for number, frame in enumerate(container.decode(video=0)):
                chosen = frame
                if number == index:
                    break
    except (av.FFmpegError, IndexError) as exc:
        raise VideoUnusable(f"cannot decode: {exc}") from exc
    if chosen is None:
        raise VideoUnusable("the video has no frames")
    buffer = io.BytesIO()
    chosen.to_image().save(buffer, "PNG")
    return buffer.getvalue()


def _recipe_tags(tags: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in tags.items() if key not in _MUXER_TAGS}


def read_tags(path: Path) -> dict[str, str]:
    """The MP4's own metadata tags (what `write_tags` wrote), muxer tags left out."""
    try:
        with av.open(str(path)) as container:
            return _recipe_tags(dict(container.metadata))
    except av.FFmpegError as exc:
        raise VideoUnusable(f"cannot read: {exc}") from exc


def write_tags(path: Path, tags: dict[str, str]) -> None:
    """Put `tags` into the MP4 in place, copying its packets (no re-encode)."""
    temporary = path.with_suffix(".tagging.mp4")
    try:
        with (
            av.open(str(path)) as src,
            av.open(str(temporary), mode="w", format="mp4", options=MP4_OPTIONS) as out,
        ):
            out.metadata.update(_recipe_tags(dict(src.metadata)) | tags)
            in_stream = src.streams.video[0]
            stream = out.add_stream_from_template(in_stream)
            for packet in src.demux(in_stream):
                if packet.dts is None:  # the demuxer's flush packet
                    continue
                packet.stream = stream
                out.mux(packet)
    except (av.FFmpegError, IndexError) as exc:
        temporary.unlink(missing_ok=True)
        raise VideoUnusable(f"cannot tag: {exc}") from exc
    temporary.replace(path)


def join(earlier: Path, part: Path, dest: Path) -> VideoInfo:
    """One video: `earlier`, then `part` without its first frame (an Extend starts from
    the earlier video's last frame, which would show twice), at the earlier video's size
    and frame rate. The earlier video's tags are not kept (the caller tags the result)."""
    info = probe(earlier)
    part_info = probe(part)
    rate = info.fps
    with av.open(str(dest), mode="w", format="mp4", options=MP4_OPTIONS) as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = info.width, info.height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": JOIN_CRF}
        written = 0
        for _, frame in _frames_at(earlier, rate, rate):
            written = _put(out, stream, frame, written, rate)
        for source_index, frame in _frames_at(part, part_info.fps, rate):
            if source_index:  # the first is the earlier video's last frame again
                written = _put(out, stream, frame, written, rate)
        for packet in stream.encode():
            out.mux(packet)
    return probe(dest)


def _frames_at(
    path: Path, source_rate: Fraction, rate: Fraction
) -> Iterator[tuple[int, av.VideoFrame]]:
    """The video's frames resampled to `rate` (each output instant takes the frame
    shown then), each with its index in the source: a 16 fps Wan clip joined to a
    30 fps FramePack one keeps its speed."""
    step = Fraction(source_rate) / Fraction(rate)
    with av.open(str(path)) as container:
        wanted = Fraction(0)
        for index, frame in enumerate(container.decode(video=0)):
            while wanted < index + 1:
                yield index, frame
                wanted += step


def _put(
    out: av.container.OutputContainer,
    stream: av.VideoStream,
    frame: av.VideoFrame,
    index: int,
    rate: Fraction,
) -> int:
    scaled = frame.reformat(width=stream.width, height=stream.height, format="yuv420p")
    scaled.pts, scaled.time_base = index, 1 / rate
    for packet in stream.encode(scaled):
        out.mux(packet)
    return index + 1
