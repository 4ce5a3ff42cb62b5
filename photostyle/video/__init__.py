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

import json
import os
import shutil
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from .. import _checks
from ..image import ImageLike, check_writable, long_side_shape, resize_to, to_tensor
from ..presets import Preset, get_preset
from .flow import _Flow, _grey, _import_cv2, _Key, warp
from .probe import VideoInfo, _decode, _import_av, _open_input, plan_keyframes, probe_video, upright_rgb
from .state import (_STATE_VERSION, _atomic_json, _file_digest, _style_digest, _supports_style_cache,
                    _supports_tensor_init)
from .summary import FrameInfo, VideoSummary
from .writing import OUTPUT_SUFFIXES, _even, _join, _SegmentWriter, _to_even

__all__ = ["VideoInfo", "VideoSummary", "FrameInfo", "probe_video", "restyle_video", "plan_keyframes"]


# The one call. Its parts live beside it: probe (reading, scene cuts, keyframe plan), flow (optical flow,
# warping), state (the parts folder), writing (segments, audio, join), summary (what it reports).


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
    from ..transfer import transfer
    from ..upsample import fit_affine, upsample_affine

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
            from ..encoders import VGG19Encoder

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
        return upright_rgb(buffer[i], info.rotation)  # as a player shows it (a phone's portrait video)

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
