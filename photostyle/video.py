"""Clips: a video in the look of a reference photo, stable from frame to frame.

Restyling every frame on its own flickers: each optimisation lands somewhere slightly different. Here
the look is optimised on keyframes only (a full :func:`photostyle.transfer` at the working size), and
carried to the frames between without a new optimisation:

1. **Keyframes** every ``keyframe_every`` frames within a shot, at every scene cut (a large change of
   the colour histogram and of the pixels between two frames) and at the end of a shot whose tail is
   longer than half an interval. Each keyframe's result gives a per-pixel 3x4 local affine colour
   model, content → result, at the working size (:func:`photostyle.upsample.fit_affine`).
2. **Frames between** two keyframes of a shot take the two models, each warped onto the frame by
   optical flow (OpenCV's DIS, optional: ``flow=True``), blended linearly by the frame's position
   between them, and applied to the frame's own full-resolution content
   (:func:`photostyle.upsample.upsample_affine`, joint-bilateral with the frame as guide). The result
   is the real frame under a smooth colour transform that changes gradually: no flicker, every
   frame's own detail, at any resolution.
3. **Keyframes agree**: within a shot, a keyframe's optimisation starts from the previous keyframe's
   result warped onto it by optical flow (when :func:`photostyle.transfer` accepts an image as
   ``init``), one encoder serves every keyframe and the style's targets are computed once
   (``style_cache``).

Input and output with PyAV (FFmpeg inside its wheels: ``pip install photostyle[video]``): any video
FFmpeg reads in; H.264 (yuv420p) MP4 out at the input's size and timestamps (so its frame rate, also
a variable one), the audio tracks copied (or transcoded to AAC where MP4 cannot hold their codec).
Work is kept in a folder beside the output, ``OUTPUT.parts/``: the analysis, each keyframe's colour
model and each finished stretch of frames between two keyframes as an H.264 segment. An interrupted
run resumes from there; at the end the segments are joined (no re-encoding) with the audio into the
output, written atomically, and the folder is removed.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import os
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from . import _checks
from .image import ImageLike, atomic_write_path, check_writable, long_side_shape, resize_to, to_tensor
from .presets import Preset, get_preset

__all__ = ["VideoInfo", "VideoSummary", "FrameInfo", "probe_video", "restyle_video", "plan_keyframes"]

#: Suffixes of the output (an MP4 container in every case).
OUTPUT_SUFFIXES = (".mp4", ".m4v", ".mov")
#: Audio codecs an MP4 holds as they are; others are transcoded to AAC.
_MP4_AUDIO = ("aac", "mp3", "ac3", "eac3", "alac", "opus", "flac")
#: Long side of the thumbnails the analysis compares for scene cuts.
_THUMB = 64
_STATE_VERSION = 1


# --------------------------------------------------------------------------------------------------
# optional dependencies
# --------------------------------------------------------------------------------------------------


def _import_av():
    try:
        import av
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "photostyle.video reads and writes video with PyAV (FFmpeg inside its wheels), which is not "
            "installed; pip install photostyle[video]"
        ) from exc
    return av


def _import_cv2(required: bool):
    try:
        import cv2
    except ImportError as exc:
        if required:
            raise ImportError(
                "flow=True warps the colour models with OpenCV's optical flow, which is not installed; "
                "pip install photostyle[video] (or pass flow=False)"
            ) from exc
        return None
    return cv2


# --------------------------------------------------------------------------------------------------
# probing: frames, timestamps, scene cuts
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` found in a video.

    Attributes
    ----------
    width, height
        Frame size in pixels.
    frames
        Number of decoded frames (counted, not read from the header).
    fps
        Average frame rate (frames per second) as a fraction, e.g. ``Fraction(30000, 1001)``.
    time_base
        Seconds per timestamp tick of the video stream.
    pts
        Presentation timestamp of every frame, in ``time_base`` ticks, starting at the first frame's.
    variable_rate
        True when the frame durations differ by more than 10 % (or one tick) from their median.
    scene_cuts
        Indices of frames that start a new shot (0 not included).
    audio
        Codec name of every audio track.
    codec
        Codec name of the video track.
    """

    width: int
    height: int
    frames: int
    fps: Fraction
    time_base: Fraction
    pts: tuple[int, ...]
    variable_rate: bool
    scene_cuts: tuple[int, ...]
    audio: tuple[str, ...]
    codec: str

    def to_json(self) -> dict:
        d = asdict(self)
        d["fps"] = [self.fps.numerator, self.fps.denominator]
        d["time_base"] = [self.time_base.numerator, self.time_base.denominator]
        d["pts"] = list(self.pts)
        d["scene_cuts"] = list(self.scene_cuts)
        d["audio"] = list(self.audio)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "VideoInfo":
        return cls(width=d["width"], height=d["height"], frames=d["frames"], fps=Fraction(*d["fps"]),
                   time_base=Fraction(*d["time_base"]), pts=tuple(d["pts"]), variable_rate=d["variable_rate"],
                   scene_cuts=tuple(d["scene_cuts"]), audio=tuple(d["audio"]), codec=d["codec"])


def _open_input(av, path: Path):
    if not path.exists():
        raise FileNotFoundError(f"input: '{path}' does not exist; pass the path of a video file.")
    if path.is_dir():
        raise IsADirectoryError(f"input: '{path}' is a directory; pass the path of a video file.")
    try:
        container = av.open(str(path), "r")
    except av.FFmpegError as exc:
        raise ValueError(
            f"input: '{path}' is not a video FFmpeg can read ({exc.strerror or exc}); pass a video file "
            "(.mp4, .mov, .mkv, .webm, .avi, ...)."
        ) from None
    if not container.streams.video:
        container.close()
        raise ValueError(f"input: '{path}' has no video track (only {len(container.streams)} other stream(s)); "
                         "pass a file with a video track.")
    return container


def _decode(av, container, path: Path) -> Iterator[Any]:
    """Frames of the first video track, in presentation order; FFmpeg errors become ValueError."""
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    try:
        for frame in container.decode(stream):
            yield frame
    except av.FFmpegError as exc:
        raise ValueError(f"input: decoding '{path}' failed ({exc.strerror or exc}); the file may be damaged, "
                         "re-encode it (e.g. ffmpeg -i IN -c:v libx264 OUT.mp4).") from None


def _histogram(thumb: np.ndarray) -> np.ndarray:
    """16 bins per channel, each channel's summing to 1: (3, 16)."""
    bins = (thumb.reshape(-1, 3) >> 4).astype(np.int64)
    hist = np.stack([np.bincount(bins[:, c], minlength=16) for c in range(3)]).astype(np.float64)
    return hist / hist.sum(axis=1, keepdims=True)


def _cut_score(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    """How different two frames' thumbnails are, in [0, 1]: the smaller of the mean per-channel total
    variation distance of the colour histograms and the mean absolute pixel difference × 4 (both must
    be large: a pan changes pixels but not the histogram, a fade changes the histogram slowly)."""
    tv = 0.5 * float(np.abs(a[1] - b[1]).sum(axis=1).mean())
    mad = float(np.abs(a[0].astype(np.float32) - b[0].astype(np.float32)).mean()) / 255.0
    return min(tv, min(1.0, 4.0 * mad))


def probe_video(path: str | os.PathLike, *, scene_cut_threshold: float = 0.4) -> VideoInfo:
    """Read a video once: size, frame count, timestamps, frame rate (constant or not), scene cuts, audio.

    Parameters
    ----------
    path : str or os.PathLike
        Any video FFmpeg reads.
    scene_cut_threshold : float, keyword-only
        A frame starts a new shot when the change from the previous frame (see the source of
        ``_cut_score``: histogram distance and pixel difference of 64 px thumbnails, both in [0, 1])
        exceeds this (default 0.4; 1.0 disables cuts).

    Returns
    -------
    VideoInfo

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        Not a video FFmpeg reads, no video track, or no frames.
    """
    av = _import_av()
    path = Path(path)
    scene_cut_threshold = _checks.check_number("scene_cut_threshold", scene_cut_threshold, minimum=0.0)
    container = _open_input(av, path)
    try:
        stream = container.streams.video[0]
        time_base = stream.time_base or Fraction(1, 90000)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        codec = stream.codec_context.name
        audio = tuple(a.codec_context.name for a in container.streams.audio)
        pts: list[int | None] = []
        cuts: list[int] = []
        prev = None
        width = height = 0
        for i, frame in enumerate(_decode(av, container, path)):
            if i == 0:
                width, height = frame.width, frame.height
            elif (frame.width, frame.height) != (width, height):
                raise ValueError(f"input: the frame size changes from {width}x{height} to {frame.width}x"
                                 f"{frame.height} at frame {i}; re-encode the video at one size first.")
            pts.append(frame.pts)
            scale = _THUMB / max(width, height)
            tw, th = max(2, round(width * scale)), max(2, round(height * scale))
            thumb = frame.reformat(width=tw, height=th, format="rgb24").to_ndarray()
            cur = (thumb, _histogram(thumb))
            if prev is not None and _cut_score(prev, cur) > scene_cut_threshold:
                cuts.append(i)
            prev = cur
    finally:
        container.close()
    n = len(pts)
    if n == 0:
        raise ValueError(f"input: '{path}' has a video track without frames; pass a video with at least one frame.")
    if not rate:
        rate = Fraction(25, 1)
    rate = Fraction(rate)
    if any(p is None for p in pts):  # raw streams: timestamps from the frame rate
        step = 1 / (rate * time_base)
        pts = [round(i * step) for i in range(n)]
    ticks = [int(p) - int(pts[0]) for p in pts]
    variable = False
    if n > 2:
        d = np.diff(np.asarray(ticks, dtype=np.int64))
        if (d <= 0).any():
            raise ValueError(f"input: '{path}' has frames whose timestamps do not increase; re-encode it "
                             "(e.g. ffmpeg -i IN -c:v libx264 OUT.mp4).")
        med = float(np.median(d))
        variable = bool((np.abs(d - med) > max(1.0, 0.1 * med)).any())
        if ticks[-1] > 0:  # the header's rate where the timestamps agree with it (1 %), else theirs
            measured = Fraction(n - 1, 1) / (ticks[-1] * time_base)
            if variable or abs(float(measured) / float(rate) - 1.0) > 0.01:
                rate = measured.limit_denominator(1001)
    return VideoInfo(width=width, height=height, frames=n, fps=rate, time_base=Fraction(time_base),
                     pts=tuple(ticks), variable_rate=variable, scene_cuts=tuple(cuts), audio=audio, codec=codec)


def plan_keyframes(frames: int, *, keyframe_every: int, scene_cuts: tuple[int, ...] = ()) -> list[int]:
    """Keyframe indices: every ``keyframe_every`` frames from each shot's first frame, plus the shot's
    last frame when more than half an interval follows its last keyframe.

    >>> plan_keyframes(23, keyframe_every=6)
    [0, 6, 12, 18, 22]
    >>> plan_keyframes(20, keyframe_every=6, scene_cuts=(8,))
    [0, 6, 8, 14, 19]
    """
    frames = _checks.check_int("frames", frames, minimum=1)
    keyframe_every = _checks.check_int("keyframe_every", keyframe_every, minimum=1)
    starts = [0] + sorted(c for c in set(scene_cuts) if 0 < c < frames)
    ends = starts[1:] + [frames]
    keys: list[int] = []
    for s, e in zip(starts, ends):
        shot = list(range(s, e, keyframe_every))
        if (e - 1) - shot[-1] > keyframe_every // 2:
            shot.append(e - 1)
        keys += shot
    return keys


# --------------------------------------------------------------------------------------------------
# colour models between keyframes
# --------------------------------------------------------------------------------------------------


def _grey(small: torch.Tensor) -> np.ndarray:
    """(1, 3, h, w) in [0, 1] → (h, w) uint8 luma for the optical flow."""
    w = torch.tensor([0.299, 0.587, 0.114], dtype=small.dtype, device=small.device).view(1, 3, 1, 1)
    return (small * w).sum(1)[0].mul(255.0).round().clamp(0, 255).to(torch.uint8).cpu().numpy()


class _Flow:
    """Backward optical flow at the working size: DIS (medium preset) from OpenCV."""

    def __init__(self, cv2):
        self.cv2 = cv2
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def __call__(self, target: np.ndarray, source: np.ndarray) -> np.ndarray:
        """Flow f (h, w, 2) with ``target(x) ≈ source(x + f(x))``."""
        return self.dis.calc(target, source, None)


def warp(image: torch.Tensor, flow: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Sample ``image`` (B, C, h, w) at ``x + flow(x)`` (bilinear, border values outside).

    ``flow`` is (h, w, 2) in pixels (x then y), as OpenCV returns it. The result has the image's shape,
    dtype and device.
    """
    flow = torch.as_tensor(flow, dtype=image.dtype, device=image.device)
    h, w = image.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(h, dtype=image.dtype, device=image.device),
                            torch.arange(w, dtype=image.dtype, device=image.device), indexing="ij")
    gx = (xs + flow[..., 0] + 0.5) * (2.0 / w) - 1.0
    gy = (ys + flow[..., 1] + 0.5) * (2.0 / h) - 1.0
    grid = torch.stack([gx, gy], dim=-1)[None].expand(image.shape[0], h, w, 2)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)


@dataclass
class _Key:
    """One keyframe at the working size: its colour model, result, content and luma."""

    index: int
    coef: torch.Tensor  # (1, 12, h, w)
    result: torch.Tensor  # (1, 3, h, w)
    small: torch.Tensor  # (1, 3, h, w)
    grey: np.ndarray  # (h, w) uint8


# --------------------------------------------------------------------------------------------------
# summary, progress
# --------------------------------------------------------------------------------------------------


@dataclass
class FrameInfo:
    """Passed to ``callback`` after every frame is written to its segment."""

    index: int
    frames: int
    keyframe: bool
    seconds: float


@dataclass
class VideoSummary:
    """Outcome of :func:`restyle_video`.

    Attributes
    ----------
    output
        The written MP4.
    frames
        Frames written (the input's count).
    width, height
        Size of the output frames (the input's; one more or one less where ``odd_size`` applied).
    fps
        Average frame rate (the input's).
    keyframes
        Indices of the keyframes.
    scene_cuts
        Indices of frames that start a new shot.
    optimised
        Keyframes optimised by this call (the others came from an interrupted run).
    resumed_frames
        Frames an interrupted run had finished, kept as they were.
    audio
        What happened to each audio track: ``"copied"`` or ``"transcoded to aac"``.
    variable_rate
        The input had a variable frame rate (its timestamps were kept).
    size_note
        How an odd frame size was made even, or None.
    warm_start
        Whether keyframes started from the previous keyframe's warped result.
    flow
        Whether optical flow warped the colour models.
    timings
        Seconds: ``"probe"`` (the analysis pass), ``"decode"`` (every frame of the second pass),
        ``"keyframes"`` (optimisations), ``"between"`` (frames between keyframes: colour model,
        optical flow, full-size upsampling, encoding), ``"join"``, ``"total"``.
    frames_between
        How many frames the ``"between"`` time covers.
    warnings
        Notes also given as ``UserWarning`` (each once).
    regions
        With ``masks="auto"``: the number of mask regions of each keyframe optimised by this call.
    """

    output: Path
    frames: int
    width: int
    height: int
    fps: Fraction
    keyframes: list[int]
    scene_cuts: list[int]
    optimised: int
    resumed_frames: int
    audio: list[str]
    variable_rate: bool
    size_note: str | None
    warm_start: bool
    flow: bool
    timings: dict[str, float] = field(default_factory=dict)
    frames_between: int = 0
    warnings: list[str] = field(default_factory=list)
    regions: dict[int, int] = field(default_factory=dict)

    @property
    def fps_between(self) -> float:
        """Frames per second between keyframes: decoding (every frame's, a slight overcount) plus colour
        model, flow, upsampling and encoding of the frames between keyframes."""
        t = self.timings.get("between", 0.0) + self.timings.get("decode", 0.0)
        return self.frames_between / t if t > 0 else float("nan")


# --------------------------------------------------------------------------------------------------
# the parts folder (resume)
# --------------------------------------------------------------------------------------------------


def _atomic_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    st = path.stat()
    h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
    return h.hexdigest()[:16]


def _style_digest(style: ImageLike, tensor: torch.Tensor) -> str:
    if isinstance(style, (str, os.PathLike)):
        return _file_digest(Path(style))
    return hashlib.sha256(tensor.mul(255).round().to(torch.uint8).numpy().tobytes()).hexdigest()[:16]


def _supports_tensor_init() -> bool:
    """Whether :func:`photostyle.transfer` takes an image as ``init`` (a warm start)."""
    import inspect

    from .transfer import transfer

    param = inspect.signature(transfer).parameters.get("init")
    return param is not None and "Tensor" in str(param.annotation)


def _supports_style_cache() -> bool:
    import inspect

    from .transfer import transfer

    return "style_cache" in inspect.signature(transfer).parameters


# --------------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------------


def _even(width: int, height: int, odd_size: str) -> tuple[int, int, str | None]:
    if width % 2 == 0 and height % 2 == 0:
        return width, height, None
    if odd_size == "pad":
        w2, h2 = width + width % 2, height + height % 2
        how = "padded (the last column/row repeated)"
    else:
        w2, h2 = width - width % 2, height - height % 2
        how = "cropped (the last column/row dropped)"
    return w2, h2, (f"the frames are {width}x{height}; H.264 in yuv420p needs even sizes, so the output is "
                    f"{w2}x{h2}, {how}")


def _to_even(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    h, w = frame.shape[:2]
    if (w, h) == (width, height):
        return frame
    if width <= w and height <= h:
        return np.ascontiguousarray(frame[:height, :width])
    return np.pad(frame, ((0, height - h), (0, width - w), (0, 0)), mode="edge")


class _SegmentWriter:
    """One stretch of frames as an H.264 MP4 (timestamps from 0), written beside its final name."""

    def __init__(self, av, path: Path, *, width: int, height: int, fps: Fraction, time_base: Fraction, crf: int,
                 x264_preset: str):
        self.path = path
        self.tmp = path.with_name(path.stem + ".tmp.mp4")
        self.container = av.open(str(self.tmp), "w", format="mp4")
        # bf=0: every segment's packets have dts == pts, so segments join without timestamp edits
        self.stream = self.container.add_stream(
            "libx264", rate=fps, options={"crf": str(crf), "preset": x264_preset, "bf": "0"})
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
        self.stream.codec_context.time_base = time_base
        self.time_base = time_base
        self.av = av

    def write(self, rgb: np.ndarray, pts: int) -> None:
        frame = self.av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = pts
        frame.time_base = self.time_base
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.container.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - the partial segment is dropped anyway
            pass
        self.tmp.unlink(missing_ok=True)


def _seconds(packet) -> float:
    t = packet.dts if packet.dts is not None else packet.pts
    return float(t * packet.time_base) if t is not None else 0.0


def _video_packets(av, segments: list[tuple[Path, int]], info: VideoInfo, out_stream) -> Iterator[tuple[float, int, Any]]:
    """Packets of every segment, shifted to the segment's first frame's timestamp."""
    for path, first in segments:
        with av.open(str(path), "r") as seg:
            s = seg.streams.video[0]
            offset = round(Fraction(info.pts[first]) * info.time_base / s.time_base)
            for packet in seg.demux(s):
                if packet.size == 0:
                    continue
                if packet.pts is not None:
                    packet.pts += offset
                if packet.dts is not None:
                    packet.dts += offset
                packet.stream = out_stream
                yield (_seconds(packet), 0, packet)


def _audio_packets(av, input_path: Path, index: int, out_stream, start: float, transcode: bool) -> Iterator[tuple[float, int, Any]]:
    """One audio track's packets (copied, or transcoded to AAC), shifted so the video starts at 0."""
    with av.open(str(input_path), "r") as inp:
        a = inp.streams.audio[index]
        shift = round(Fraction(start).limit_denominator(10**9) / a.time_base) if a.time_base else 0
        if not transcode:
            for packet in inp.demux(a):
                if packet.size == 0 or packet.pts is None:
                    continue
                packet.pts -= shift
                if packet.dts is not None:
                    packet.dts -= shift
                if packet.pts < 0:
                    continue
                packet.stream = out_stream
                yield (_seconds(packet), 1 + index, packet)
            return
        for frame in inp.decode(a):
            if frame.pts is not None:
                if frame.time - start < 0:
                    continue
                frame.pts = None  # the encoder numbers the samples from 0
            for packet in out_stream.encode(frame):
                yield (_seconds(packet), 1 + index, packet)
        for packet in out_stream.encode(None):
            yield (_seconds(packet), 1 + index, packet)


def _join(av, output: Path, segments: list[tuple[Path, int]], info: VideoInfo, input_path: Path, *,
          overwrite: bool, audio: bool) -> list[str]:
    """Segments (no re-encoding) and the input's audio into ``output``, atomically."""
    notes: list[str] = []
    with atomic_write_path(output, overwrite=overwrite) as tmp:
        out = av.open(str(tmp), "w", format="mp4")
        try:
            with av.open(str(segments[0][0]), "r") as first:
                vout = out.add_stream_from_template(first.streams.video[0])
            sources = [_video_packets(av, segments, info, vout)]
            if audio:
                with av.open(str(input_path), "r") as inp:
                    start = float(inp.streams.video[0].start_time * inp.streams.video[0].time_base) \
                        if inp.streams.video[0].start_time is not None else 0.0
                    for i, a in enumerate(inp.streams.audio):
                        name = a.codec_context.name
                        if name in _MP4_AUDIO:
                            aout = out.add_stream_from_template(a)
                            sources.append(_audio_packets(av, input_path, i, aout, start, False))
                            notes.append("copied")
                        else:
                            channels = a.codec_context.channels or 2
                            layout = {1: "mono", 2: "stereo"}.get(channels) or a.codec_context.layout.name
                            aout = out.add_stream("aac", rate=a.codec_context.sample_rate or 48000, layout=layout)
                            sources.append(_audio_packets(av, input_path, i, aout, start, True))
                            notes.append("transcoded to aac")
            for _, _, packet in heapq.merge(*sources, key=lambda item: (item[0], item[1])):
                out.mux(packet)
        finally:
            out.close()
    return notes


# --------------------------------------------------------------------------------------------------
# the one call
# --------------------------------------------------------------------------------------------------


def _check_path(name: str, value: Any) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name}: expected a path (str or os.PathLike), got {type(value).__name__}; pass e.g. "
                        f"{name}='clip.mp4'.")
    return Path(value)


def restyle_video(
    input: str | os.PathLike,
    style: ImageLike,
    output: str | os.PathLike,
    *,
    keyframe_every: int = 24,
    work_size: int | None = None,
    masks: Literal["auto"] | None = None,
    preset: Literal["fast", "paper", "lite"] | Preset = "fast",
    num_steps: int | tuple[int, ...] | None = None,
    flow: bool = True,
    warm_start: bool = False,
    scene_cut_threshold: float = 0.4,
    odd_size: Literal["pad", "crop"] = "pad",
    upsample: Literal["bilinear", "bilateral"] = "bilinear",
    crf: int = 18,
    x264_preset: str = "medium",
    audio: bool = True,
    overwrite: bool = False,
    resume: bool = True,
    keep_parts: bool = False,
    progress: bool = True,
    device: str | torch.device = "auto",
    weights: Any = None,
    encoder: torch.nn.Module | None = None,
    seed: int = 612,
    callback: Callable[[FrameInfo], Any] | None = None,
) -> VideoSummary:
    """Restyle a video with the look of a reference photo, stable from frame to frame.

    Keyframes are optimised with :func:`photostyle.transfer` at the working size; the frames between
    two keyframes of a shot apply the keyframes' local affine colour models, warped by optical flow and
    blended by position, to their own full-resolution content (see the module's description).

    Parameters
    ----------
    input : str or os.PathLike
        Any video FFmpeg reads (MP4, MOV, MKV, WebM, AVI, ...).
    style : path, PIL image, numpy array or tensor
        The reference photo (as :func:`photostyle.transfer` takes it).
    output : str or os.PathLike
        The MP4 to write (``.mp4``, ``.m4v`` or ``.mov``): H.264, yuv420p, the input's size and
        timestamps, the input's audio tracks.
    keyframe_every : int, keyword-only
        Frames from one keyframe to the next within a shot (default 24, about one a second).
    work_size : int or None, keyword-only
        Long side of the optimisation and of the colour models (None: the preset's, capped at the
        frame's long side).
    masks : {None, "auto"}, keyword-only
        ``"auto"``: each keyframe is segmented jointly with the style (as ``transfer(content_mask=
        "auto")``); the regions' looks follow the frames through the colour models.
    preset, num_steps, device, weights, seed : keyword-only
        As for :func:`photostyle.transfer`, for each keyframe.
    encoder : VGG19Encoder or None, keyword-only
        A ready encoder (default: one built once for every keyframe from ``weights``).
    flow : bool, keyword-only
        Warp the keyframes' colour models (and warm starts) onto each frame by optical flow (default
        True; needs ``opencv-python-headless``, without it a warning and no warping).
    warm_start : bool, keyword-only
        Start each keyframe's optimisation from the previous keyframe's result of the same shot, warped
        onto it (default False: re-optimising from the previous result drifts slowly on a still shot, by
        about 4/255 over 8 keyframes in the tests; the colour models between keyframes already keep the
        look stable).
    scene_cut_threshold : float, keyword-only
        See :func:`probe_video` (default 0.4).
    odd_size : {"pad", "crop"}, keyword-only
        H.264 in yuv420p needs even sizes: an odd width or height gets one repeated column/row
        (``"pad"``, default) or loses its last (``"crop"``); a warning says which.
    upsample : {"bilinear", "bilateral"}, keyword-only
        How every frame's colour model reaches full size (:func:`photostyle.upsample.upsample_affine`):
        ``"bilinear"`` (default; about 4x faster: 0.2 s per 720p frame on one CPU thread) or
        ``"bilateral"`` (models do not leak across colour edges; as :func:`photostyle.transfer`).
    crf, x264_preset : keyword-only
        libx264 quality (0-51, default 18: visually lossless) and speed preset (default "medium").
    audio : bool, keyword-only
        Keep the input's audio tracks (default True).
    overwrite : bool, keyword-only
        Replace an existing output (default False: refused before any work).
    resume : bool, keyword-only
        Go on from ``OUTPUT.parts/`` left by an interrupted run of the same input, style and settings
        (default True; False starts over). Parts of another run are discarded with a warning.
    keep_parts : bool, keyword-only
        Keep ``OUTPUT.parts/`` after success (default False).
    progress : bool, keyword-only
        A progress bar in frames.
    callback : callable or None, keyword-only
        Called with a :class:`FrameInfo` after every frame; an exception it raises stops the run
        (what is finished stays in ``OUTPUT.parts/``).

    Returns
    -------
    VideoSummary

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        The input is missing; the output's folder is missing.
    FileExistsError
        The output exists and ``overwrite`` is False.
    ValueError
        Not a video FFmpeg reads, no video track, no frames, a bad setting.
    ImportError
        PyAV is not installed (``pip install photostyle[video]``).
    """
    from .transfer import transfer
    from .upsample import fit_affine, upsample_affine

    t_start = time.perf_counter()
    input_path = _check_path("input", input)
    output = _check_path("output", output)
    keyframe_every = _checks.check_int("keyframe_every", keyframe_every, minimum=1)
    if work_size is not None:
        _checks.check_int("work_size", work_size, minimum=8)
    if masks is not None and not (isinstance(masks, str) and masks == "auto"):
        raise ValueError(f"masks: expected None or 'auto' (masks segmented at every keyframe), got {masks!r}.")
    for name, value in (("flow", flow), ("warm_start", warm_start), ("audio", audio), ("overwrite", overwrite),
                        ("resume", resume), ("keep_parts", keep_parts), ("progress", progress)):
        if not isinstance(value, bool):
            raise TypeError(f"{name}: expected True or False, got {value!r} ({type(value).__name__}).")
    _checks.check_choice("odd_size", odd_size, ("pad", "crop"))
    _checks.check_choice("upsample", upsample, ("bilinear", "bilateral"))
    crf = _checks.check_int("crf", crf, minimum=0)
    if crf > 51:
        raise ValueError(f"crf: expected 0..51 (libx264 quality, lower is better), got {crf}; pass e.g. crf=18.")
    _checks.check_choice("x264_preset", x264_preset, ("ultrafast", "superfast", "veryfast", "faster", "fast",
                                                      "medium", "slow", "slower", "veryslow"))
    if callback is not None and not callable(callback):
        raise TypeError(f"callback: expected a callable taking a FrameInfo, got {type(callback).__name__}.")
    _checks.check_int("seed", seed)
    preset_obj = get_preset(preset)
    if output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ValueError(f"output: expected an MP4 path ({', '.join(OUTPUT_SUFFIXES)}), got '{output}'; "
                         "name it e.g. out.mp4.")
    check_writable(output, overwrite=overwrite)
    if output.resolve() == input_path.resolve():
        raise ValueError(f"output: '{output}' is the input itself; write to another path.")
    dev = _checks.resolve_device(device)
    av = _import_av()
    cv2 = _import_cv2(required=False) if flow else None
    notes: list[str] = []
    if flow and cv2 is None:
        notes.append("flow=True but OpenCV is not installed: the colour models are blended without warping "
                     "(pip install photostyle[video] for optical flow).")
    style_full = to_tensor(style, name="style")
    style_id = _style_digest(style, style_full)

    # ---- the parts folder and the analysis ------------------------------------------------------
    parts = output.with_name(output.name + ".parts")
    settings = {
        "input": _file_digest(input_path) if input_path.is_file() else None, "style": style_id,
        "keyframe_every": keyframe_every, "work_size": work_size, "masks": masks, "preset": repr(preset_obj),
        "num_steps": list(num_steps) if isinstance(num_steps, (tuple, list)) else num_steps, "flow": cv2 is not None,
        "warm_start": warm_start, "scene_cut_threshold": scene_cut_threshold, "odd_size": odd_size, "upsample": upsample, "crf": crf,
        "x264_preset": x264_preset, "seed": seed, "weights": repr(weights),
        "encoder": None if encoder is None else f"{type(encoder).__name__}:{getattr(encoder, 'layout', '?')}",
    }
    state: dict | None = None
    state_path = parts / "state.json"
    if parts.exists():
        if not parts.is_dir() or (not state_path.is_file() and any(parts.iterdir())):
            raise ValueError(f"output: '{parts}' exists and is not a parts folder of photostyle video; move or remove "
                             "it (the work of a run is kept there).")
        if resume and state_path.is_file():
            try:
                state = json.loads(state_path.read_text())
            except (OSError, ValueError):
                state = None
            if state is not None and (state.get("version") != _STATE_VERSION or state.get("settings") != settings):
                notes.append(f"'{parts}' holds parts of a run with another input, style or settings; started over.")
                state = None
        if state is None:
            shutil.rmtree(parts)
    t0 = time.perf_counter()
    if state is None:
        info = probe_video(input_path, scene_cut_threshold=scene_cut_threshold)
        parts.mkdir(parents=False, exist_ok=False)
        state = {"version": _STATE_VERSION, "settings": settings, "info": info.to_json(), "done": []}
        _atomic_json(state_path, state)
    else:
        info = VideoInfo.from_json(state["info"])
    t_probe = time.perf_counter() - t0
    for leftover in parts.glob("*.tmp*"):
        leftover.unlink(missing_ok=True)

    n = info.frames
    keys = plan_keyframes(n, keyframe_every=keyframe_every, scene_cuts=info.scene_cuts)
    shot_of = np.searchsorted(np.asarray(info.scene_cuts, dtype=np.int64), np.arange(n), side="right")
    long_side = max(info.width, info.height)
    ws = min(work_size if work_size is not None else preset_obj.size, long_side)
    work_hw = long_side_shape((info.height, info.width), ws)
    out_w, out_h, size_note = _even(info.width, info.height, odd_size)
    if size_note:
        notes.append(size_note)
    if info.variable_rate:
        notes.append(f"the input has a variable frame rate (average {float(info.fps):.3f} fps); each frame keeps "
                     "its own timestamp in the output.")
    chunks = [(k, keys[i + 1] if i + 1 < len(keys) else n) for i, k in enumerate(keys)]
    done = {tuple(c[:2]) for c in state["done"]}
    warm = warm_start and _supports_tensor_init()  # else the preset's start (summary.warm_start says which)
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=2)

    flow_fn = _Flow(cv2) if cv2 is not None else None
    enc = encoder
    style_cache: dict | None = {} if _supports_style_cache() else None
    optimised = 0
    kf_notes: list[str] = []
    seen: set[str] = set()
    regions: dict[int, int] = {}
    timings = {"probe": t_probe, "decode": 0.0, "keyframes": 0.0, "between": 0.0, "join": 0.0}
    frames_between = 0

    def small_of(rgb: np.ndarray) -> torch.Tensor:
        full = torch.from_numpy(rgb).permute(2, 0, 1)[None].to(torch.float32).div_(255.0)
        return resize_to(full, work_hw).to(dev)

    def keyframe(index: int, previous: _Key | None) -> _Key:
        nonlocal enc, optimised
        path = parts / f"key_{index:06d}.pt"
        if path.is_file():  # from an interrupted run: no decoding needed
            saved = torch.load(path, map_location=dev, weights_only=True)
            return _Key(index, saved["coef"], saved["result"], saved["small"], _grey(saved["small"]))
        rgb = frame_rgb(index)
        t_k = time.perf_counter()
        small = small_of(rgb)
        if enc is None:
            from .encoders import VGG19Encoder

            enc = VGG19Encoder(preset_obj.layers, weights=weights, progress=progress)
        kwargs: dict[str, Any] = {}
        if style_cache is not None:
            kwargs["style_cache"] = style_cache
        if warm and previous is not None and shot_of[previous.index] == shot_of[index]:
            start = previous.result
            if flow_fn is not None:
                start = warp(start, flow_fn(_grey(small), previous.grey))
            kwargs["init"] = start
        content = torch.from_numpy(rgb).permute(2, 0, 1)[None].to(torch.float32).div_(255.0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = transfer(content, style_full, content_mask=masks, preset=preset_obj, work_size=ws,
                              output_size="work", num_steps=num_steps, device=dev, encoder=enc, seed=seed,
                              progress=False, **kwargs)
        for w in caught:  # once per kind of message (its numbers aside), naming the first keyframe
            kind = str(w.message).split("(")[0]
            if kind not in seen:
                seen.add(kind)
                kf_notes.append(f"keyframe {index}: {w.message}")
        masks_used = getattr(result, "masks", None)
        if masks_used is not None:
            regions[index] = int(np.unique(masks_used["content"]).size)
        res = result.tensor.to(device=dev, dtype=torch.float32)
        if tuple(res.shape[-2:]) != work_hw:
            res = resize_to(res, work_hw)
        coef = fit_affine(res, small).to(torch.float32)
        tmp = path.with_name(path.stem + ".tmp.pt")
        torch.save({"coef": coef.cpu(), "result": res.cpu(), "small": small.cpu()}, tmp)
        os.replace(tmp, path)
        optimised += 1
        timings["keyframes"] += time.perf_counter() - t_k
        return _Key(index, coef, res, small, _grey(small))

    def colour_model(t: int, small: torch.Tensor, left: _Key, right: _Key | None) -> torch.Tensor:
        if t == left.index:
            return left.coef
        grey = _grey(small) if flow_fn is not None else None
        a = warp(left.coef, flow_fn(grey, left.grey)) if flow_fn is not None else left.coef
        if right is None:
            return a
        b = warp(right.coef, flow_fn(grey, right.grey)) if flow_fn is not None else right.coef
        w = (t - left.index) / (right.index - left.index)
        return torch.lerp(a, b, w)

    # ---- frames ----------------------------------------------------------------------------------
    bar = None
    resumed = sum(e - a for a, e in done)
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, initial=resumed, unit="frame", desc=f"video {input_path.name}")
    container = _open_input(av, input_path)
    frames = (f for f in _decode(av, container, input_path))
    buffer: dict[int, Any] = {}  # decoded frames from the current stretch's first on (av.VideoFrame)
    next_index = 0
    low = 0

    def frame_rgb(i: int) -> np.ndarray:
        nonlocal next_index
        while i not in buffer:
            if next_index > i:
                raise RuntimeError(f"frame {i} was needed after it was dropped; please report this.")
            t_d = time.perf_counter()
            try:
                frame = next(frames)
            except StopIteration:
                raise ValueError(f"input: '{input_path}' ended at frame {next_index}, before frame {i} that the "
                                 "analysis counted; the file changed or is damaged.") from None
            if next_index >= low:
                buffer[next_index] = frame
            timings["decode"] += time.perf_counter() - t_d
            next_index += 1
        return buffer[i].to_ndarray(format="rgb24")

    keycache: dict[int, _Key] = {}

    def get_key(k: int) -> _Key:
        if k not in keycache:
            pos = keys.index(k)
            prev = None
            if pos > 0 and shot_of[keys[pos - 1]] == shot_of[k] and warm:
                prev = get_key(keys[pos - 1]) if (keys[pos - 1] in keycache or
                                                  (parts / f"key_{keys[pos - 1]:06d}.pt").is_file()) else None
            keycache[k] = keyframe(k, prev)
        return keycache[k]

    try:
        for a, e in chunks:
            if (a, e) in done:
                continue
            low = a
            right_index = e if e < n and shot_of[e] == shot_of[a] else None
            left = get_key(a)
            right = get_key(right_index) if right_index is not None else None
            seg_path = parts / f"seg_{a:06d}_{e:06d}.mp4"
            writer = _SegmentWriter(av, seg_path, width=out_w, height=out_h, fps=info.fps, time_base=info.time_base,
                                    crf=crf, x264_preset=x264_preset)
            try:
                for t in range(a, e):
                    t_f = time.perf_counter()
                    rgb = frame_rgb(t)
                    small = left.small if t == a else small_of(rgb)
                    coef = colour_model(t, small, left, right)
                    out = upsample_affine(coef, rgb, content_small=small, output="uint8", mode=upsample)
                    writer.write(_to_even(out, out_w, out_h), info.pts[t] - info.pts[a])
                    dt = time.perf_counter() - t_f
                    if t != a:
                        timings["between"] += dt
                        frames_between += 1
                    for i in [i for i in buffer if i <= t]:
                        del buffer[i]
                    if bar is not None:
                        bar.update(1)
                    if callback is not None:
                        callback(FrameInfo(index=t, frames=n, keyframe=(t == a), seconds=dt))
                t_f = time.perf_counter()
                writer.close()
                timings["between"] += time.perf_counter() - t_f
            except BaseException:
                writer.abort()
                raise
            state["done"].append([a, e, seg_path.name])
            _atomic_json(state_path, state)
            for k in [k for k in keycache if k < a]:
                del keycache[k]
    finally:
        container.close()
        if bar is not None:
            bar.close()

    # ---- join ------------------------------------------------------------------------------------
    t0 = time.perf_counter()
    finished = sorted((d[0], d[2]) for d in state["done"])
    segments = [(parts / name, first) for first, name in finished]
    audio_notes = _join(av, output, segments, info, input_path, overwrite=overwrite, audio=audio)
    timings["join"] = time.perf_counter() - t0
    if not keep_parts:
        shutil.rmtree(parts, ignore_errors=True)
    for note in kf_notes:
        warnings.warn(note, UserWarning, stacklevel=2)
    timings["total"] = time.perf_counter() - t_start
    return VideoSummary(
        output=output, frames=n, width=out_w, height=out_h, fps=info.fps, keyframes=keys,
        scene_cuts=list(info.scene_cuts), optimised=optimised, resumed_frames=resumed, audio=audio_notes,
        variable_rate=info.variable_rate, size_note=size_note, warm_start=warm, flow=flow_fn is not None,
        timings=timings, frames_between=frames_between, warnings=notes + kf_notes, regions=regions,
    )
