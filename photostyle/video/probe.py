"""Reading a video with PyAV: opening and decoding, :func:`probe_video` (size, frame count,
timestamps, frame rate, scene cuts, audio) and the keyframe plan."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .. import _checks

__all__ = ["VideoInfo", "probe_video", "plan_keyframes", "upright_rgb"]

#: Long side of the thumbnails the analysis compares for scene cuts.
_THUMB = 64


def _import_av():
    try:
        import av
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "photostyle.video reads and writes video with PyAV (FFmpeg inside its wheels), which is not "
            "installed; pip install photostyle[video]"
        ) from exc
    return av



@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` found in a video.

    Attributes
    ----------
    width, height
        Frame size in pixels, upright: as a player shows the frames (see ``rotation``).
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
    rotation
        Degrees (0, 90, 180 or 270) by which the file's display matrix turns the decoded frames
        counter-clockwise for display, as a phone records a portrait video; every frame is read upright
        (:func:`upright_rgb`) and the output is written upright, without a display matrix.
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
    rotation: int = 0

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
                   scene_cuts=tuple(d["scene_cuts"]), audio=tuple(d["audio"]), codec=d["codec"],
                   rotation=int(d.get("rotation", 0)))


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


def _rotation(frame) -> int:
    """The counter-clockwise turn (0, 90, 180 or 270 degrees) of the frame's display matrix; 0 where it
    has none or asks for an angle that is no quarter turn."""
    try:
        angle = float(frame.rotation or 0)
    except (AttributeError, TypeError, ValueError):  # an older PyAV, or a matrix it cannot read
        return 0
    turns = round(angle / 90)
    return (turns % 4) * 90 if abs(angle - 90 * turns) < 1 else 0


def upright_rgb(frame, rotation: int) -> np.ndarray:
    """A decoded frame as (H, W, 3) uint8 RGB, turned ``rotation`` degrees counter-clockwise (upright)."""
    rgb = frame.to_ndarray(format="rgb24")
    return np.ascontiguousarray(np.rot90(rgb, rotation // 90)) if rotation else rgb


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
        width = height = rotation = 0
        for i, frame in enumerate(_decode(av, container, path)):
            if i == 0:
                width, height = frame.width, frame.height
                rotation = _rotation(frame)
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
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(width=width, height=height, frames=n, fps=rate, time_base=Fraction(time_base),
                     pts=tuple(ticks), variable_rate=variable, scene_cuts=tuple(cuts), audio=audio, codec=codec,
                     rotation=rotation)


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
