"""Writing with PyAV: H.264 segments of finished frames, even frame sizes, and the join of the segments
(no re-encoding) with the input's audio tracks (copied, or transcoded to AAC) into the output MP4."""

from __future__ import annotations

import heapq
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..image import atomic_write_path
from .probe import VideoInfo

#: Suffixes of the output (an MP4 container in every case).
OUTPUT_SUFFIXES = (".mp4", ".m4v", ".mov")
#: Audio codecs an MP4 holds as they are; others are transcoded to AAC.
_MP4_AUDIO = ("aac", "mp3", "ac3", "eac3", "alac", "opus", "flac")


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
