"""``photostyle video IN STYLE -o OUT.mp4``: the video subcommand (:func:`photostyle.video.restyle_video`).

The main parser adds it with ``add_video_subcommand(sub)``; errors reach ``photostyle.cli.main``, which
prints one line (exit code 2 for bad input, 1 otherwise).
"""

from __future__ import annotations

from ._cli_args import positive_int, steps

__all__ = ["add_video_subcommand"]


def add_video_subcommand(subparsers) -> None:
    """Add ``video`` to the ``photostyle`` command's subparsers."""
    p = subparsers.add_parser(
        "video",
        help="restyle a video with the look of a reference photo, stable from frame to frame",
        description="Keyframes are optimised at the working size; the frames between take the keyframes' local "
        "affine colour models, warped by optical flow and blended, applied to their own full-size content. "
        "Writes H.264 MP4 at the input's size and frame rate with its audio. Work is kept in OUTPUT.parts/: "
        "run the same command again to resume an interrupted run.",
    )
    p.add_argument("input", help="input video (anything FFmpeg reads: .mp4, .mov, .mkv, .webm, ...)")
    p.add_argument("style", help="style (reference) photo")
    p.add_argument("-o", "--output", required=True, help="output video (.mp4)")
    p.add_argument("--masks", choices=["auto"], default=None,
                   help="auto: segment every keyframe jointly with the style photo")
    p.add_argument("--keyframe-every", type=positive_int, default=24, metavar="N",
                   help="frames from one keyframe to the next within a shot (default 24)")
    p.add_argument("--work-size", type=positive_int, default=None, metavar="PX",
                   help="long side of the keyframe optimisation and colour models (default: the preset's)")
    p.add_argument("--preset", choices=["fast", "paper", "lite"], default="fast", help="keyframe preset (default fast)")
    p.add_argument("--steps", type=steps, default=None, metavar="N[,N2,...]",
                   help="L-BFGS iterations per keyframe: one count for every level or one per level")
    p.add_argument("--no-flow", action="store_true", help="blend the colour models without optical flow")
    p.add_argument("--scene-cut", type=float, default=0.4, metavar="T",
                   help="scene-cut threshold in [0, 1] (default 0.4; 1 disables cuts)")
    p.add_argument("--odd-size", choices=["pad", "crop"], default="pad",
                   help="make an odd frame size even by repeating (pad, default) or dropping (crop) the last row/column")
    p.add_argument("--upsample", choices=["bilinear", "bilateral"], default="bilinear",
                   help="colour models to full size: bilinear (default, fast) or bilateral (edge-aware, ~4x slower)")
    p.add_argument("--crf", type=int, default=18, help="H.264 quality 0-51, lower is better (default 18)")
    p.add_argument("--no-audio", action="store_true", help="drop the audio tracks")
    p.add_argument("--restart", action="store_true", help="discard OUTPUT.parts/ of an interrupted run and start over")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--weights", default=None, metavar="FILE", help="VGG-19 weights file")
    p.add_argument("--seed", type=int, default=612, help="seed of a noise start (default 612)")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_video)


def _run_video(args) -> int:
    from .video import restyle_video

    summary = restyle_video(
        args.input, args.style, args.output, keyframe_every=args.keyframe_every, work_size=args.work_size,
        masks=args.masks, preset=args.preset, num_steps=args.steps, flow=not args.no_flow,
        scene_cut_threshold=args.scene_cut, odd_size=args.odd_size, upsample=args.upsample, crf=args.crf, audio=not args.no_audio,
        overwrite=args.overwrite, resume=not args.restart, progress=not args.quiet, device=args.device,
        weights=args.weights, seed=args.seed,
    )
    audio = ", ".join(summary.audio) if summary.audio else "none"
    resumed = f", {summary.resumed_frames} frames resumed" if summary.resumed_frames else ""
    print(f"wrote {summary.output} ({summary.frames} frames, {summary.width}x{summary.height} at "
          f"{float(summary.fps):.3f} fps; {len(summary.keyframes)} keyframes ({summary.optimised} optimised now"
          f"{resumed}), {len(summary.scene_cuts)} scene cuts, audio {audio}; {summary.fps_between:.1f} fps between "
          f"keyframes, total {summary.timings['total']:.1f}s)")
    return 0
