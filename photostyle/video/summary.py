"""What :func:`photostyle.video.restyle_video` reports: :class:`FrameInfo` per frame, :class:`VideoSummary`
at the end."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

__all__ = ["FrameInfo", "VideoSummary"]


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
