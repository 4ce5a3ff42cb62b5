"""``photostyle batch``: many photos, resumable, on local worker processes or on Ray.

Exit codes as the rest of the command: 0 every job done, 1 some job failed, 2 bad usage or manifest.
"""

from __future__ import annotations

from pathlib import Path

from ._cli_args import UsageError, add_transfer_options, nonneg_int, positive_int, transfer_kwargs

__all__ = ["add_batch_subcommand"]


def add_batch_subcommand(subparsers) -> None:
    """Add ``photostyle batch`` to the ``photostyle`` command's subparsers."""
    p = subparsers.add_parser(
        "batch",
        help="restyle many photos (a folder and one style, or a manifest), resumable, locally or on Ray",
        description="Restyle many photos: `photostyle batch --content-dir DIR --style FILE -o OUTDIR` (one look "
        "over a folder of photos) or `photostyle batch JOBS.jsonl -o OUTDIR` (one JSON object per line: "
        "content, style, optional output, content_mask/style_mask or \"auto\", and options of transfer such as "
        "\"work_size\"). The options of `photostyle transfer` apply to every job (a manifest line's own options "
        "take precedence). Every outcome is recorded in OUTDIR/results.jsonl; a re-run skips the jobs done with "
        "the same inputs and settings. Exit code 0 when every job succeeded, 1 when some failed, 2 for bad usage "
        "or a bad manifest.",
    )
    p.add_argument("manifest", nargs="?", metavar="JOBS.jsonl", help="manifest: one job per line (JSON)")
    p.add_argument("--content-dir", metavar="DIR", help="a folder of photos (instead of a manifest)")
    p.add_argument("--style", metavar="FILE", help="with --content-dir: the style photo for every photo")
    p.add_argument("-o", "--output-dir", dest="out_dir", required=True, metavar="OUTDIR",
                   help="output folder (created); outputs keep their job's name, records go to results.jsonl")
    p.add_argument("--workers", type=nonneg_int, default=None, metavar="N",
                   help="local worker processes (default: one per GPU, else one per two cores; 0: in this process); "
                        "with --ray: tasks at once")
    p.add_argument("--threads", type=positive_int, default=None, metavar="N",
                   help="torch threads per worker (default: the cores divided among the workers)")
    p.add_argument("--ray", nargs="?", const="auto", default=None, metavar="auto|ADDRESS",
                   help="run on Ray: auto (a local instance) or a cluster's address; needs pip install photostyle[ray]")
    p.add_argument("--retry-failed", action="store_true", help="run again the jobs that failed before")
    p.add_argument("--dry-run", action="store_true", help="list what would run and why; run and write nothing")
    add_transfer_options(p)
    p.add_argument("--no-metadata", action="store_true",
                   help="write the outputs without their content photos' EXIF (camera, capture time, GPS position)")
    p.set_defaults(func=run_batch_command)


def run_batch_command(args) -> int:
    """Run ``photostyle batch`` from parsed arguments; returns the exit code."""
    from .batch import jobs_from_dir, run_batch

    manifest = args.manifest
    if manifest is None and args.ray not in (None, "auto") and Path(args.ray).suffix == ".jsonl":
        manifest, args.ray = args.ray, "auto"  # `--ray JOBS.jsonl`: argparse took the manifest as the address
    if (manifest is None) == (args.content_dir is None):
        raise UsageError("give a manifest (photostyle batch JOBS.jsonl -o OUTDIR) or --content-dir DIR --style FILE, "
                         "not both or neither")
    if args.content_dir is not None and args.style is None:
        raise UsageError("--content-dir needs --style FILE (the look for every photo)")
    if manifest is not None and args.style is not None:
        raise UsageError("--style goes with --content-dir; a manifest names the style on every line")
    options = transfer_kwargs(args)
    if args.content_dir is not None:
        if options["style_mask"] is not None or options["content_mask"] not in (None, "auto"):
            raise UsageError("--content-mask/--style-mask with --content-dir: masks per photo need a manifest; "
                             "or use --auto-masks")
        jobs = jobs_from_dir(args.content_dir, args.style, content_mask=options.pop("content_mask"))
        options.pop("style_mask")
    else:
        jobs = manifest
    summary = run_batch(jobs, args.out_dir, workers=args.workers, threads=args.threads, ray=args.ray,
                        retry_failed=args.retry_failed, dry_run=args.dry_run, progress=not args.quiet,
                        overwrite=args.overwrite, metadata=not args.no_metadata, **options)
    print(summary)
    return summary.exit_code
