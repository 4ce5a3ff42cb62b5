"""The one call: :func:`run_batch` plans the jobs, runs what is not done, and records every outcome."""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..files import remove_stale_temporaries
from .jobs import BatchJob, _as_jobs
from .local import _cores, _local_runner, default_workers
from .options import JOB_OPTIONS, _check_batch_options, _weights_setting
from .plan import _job_masks, _plan
from .ray_backend import _import_ray, _ray_runner
from .records import RESULTS_NAME, _Lock, _read_records, _ResultsFile
from .summary import BatchSummary, _Progress

__all__ = ["run_batch"]


def run_batch(
    jobs_or_manifest: str | os.PathLike | Sequence[Mapping[str, Any] | BatchJob],
    out_dir: str | os.PathLike,
    *,
    workers: int | None = None,
    ray: str | None = None,
    retry_failed: bool = False,
    dry_run: bool = False,
    progress: bool = True,
    threads: int | None = None,
    overwrite: bool = False,
    metadata: bool = True,
    **transfer_options: Any,
) -> BatchSummary:
    """Restyle many photos: run every job not done yet, record each outcome, and resume where a run stopped.

    Parameters
    ----------
    jobs_or_manifest
        A JSON Lines manifest (see :func:`read_manifest`), or a list of jobs: dicts with the keys of a
        manifest line (paths relative to the current folder) or :class:`BatchJob` (e.g. from
        :func:`jobs_from_dir`).
    out_dir
        The output folder (created); outputs go there under each job's ``output`` name, and the records
        into ``out_dir/results.jsonl``.
    workers
        Local worker processes (None: :func:`default_workers`; 0: run in this process). With ``ray``:
        how many tasks run at once (None: one per CPU of the cluster, or one per GPU).
    ray
        None: local workers. ``"auto"``: start a local Ray instance (``ray.init(num_cpus=...)``); an
        address (``"ray://host:10001"``, ``"host:6379"``): join that cluster. A Ray session already
        initialised in this process is used as it is. Needs ``pip install photostyle[ray]``.
    retry_failed
        Run again the jobs that failed before with the same inputs and settings (they are skipped
        otherwise).
    dry_run
        Plan only: return the summary with every job's action and reason; nothing is run or written.
    progress
        One tqdm bar for the batch on stderr (done, failed, remaining, photos per minute).
    threads
        torch threads per worker (None: the cores divided among the workers, at least 1).
    overwrite
        Replace outputs that exist in ``out_dir`` without a record in ``results.jsonl`` (they are
        refused otherwise). Outputs of this batch's own earlier runs are always replaced when their
        job is run again.
    metadata
        Carry each content photo's EXIF (camera, capture time, GPS position) into its output, as
        ``photostyle transfer`` does (see :func:`photostyle.image.save_image`); False writes none.
    **transfer_options
        Options of :func:`photostyle.transfer` for every job (:data:`JOB_OPTIONS`, plus
        ``content_mask``/``style_mask`` (``"auto"`` or one mask pair for all), ``device`` and
        ``weights``); a job's own options take precedence.

    Returns
    -------
    BatchSummary
        ``summary.exit_code`` is 0 when every job's output is present, else 1; ``str(summary)`` is the
        report.

    Raises
    ------
    ValueError
        A bad manifest or job list (every bad line named), or a bad option, before any work.
    FileExistsError
        Outputs exist without a record (see ``overwrite``), before any work.
    ImportError
        ``ray`` given and the ray package missing.
    """
    if workers is not None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise ValueError(f"workers: expected None or a whole number >= 0, got {workers!r}; e.g. workers=2.")
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads: expected None or a whole number >= 1, got {threads!r}; e.g. threads=1.")
    if ray is not None and (not isinstance(ray, str) or not ray):
        raise TypeError(f"ray: expected None, 'auto' or a cluster address (str), got {ray!r}.")
    jobs = _as_jobs(jobs_or_manifest)
    options = _check_batch_options(transfer_options)
    if ray is not None and not dry_run:
        _import_ray()
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"out_dir: '{out_dir}' is a file; give a folder for the outputs.")
    results_path = out_dir / RESULTS_NAME
    weights = options.pop("weights", None)
    device = options.pop("device", None)
    if device is not None:
        from .._checks import resolve_device

        resolve_device(device)  # an absent device is refused before any work
    weights_setting = _weights_setting(weights)
    if isinstance(weights, (str, os.PathLike)) and Path(weights).is_file():
        weights = weights_setting
    plan = _plan(jobs, out_dir, _read_records(results_path), options, weights_setting,
                 retry_failed=retry_failed, overwrite=overwrite)
    summary = BatchSummary(out_dir, results_path, plan, dry_run=dry_run,
                           skipped_done=sum(p.reason == "done" for p in plan),
                           skipped_failed=sum(p.reason == "failed before" for p in plan))
    to_run = [p for p in plan if p.action == "run"]
    if dry_run:
        return summary

    # Jobs that share a style go together, so a worker's cached style targets serve them.
    to_run.sort(key=lambda p: (p.inputs["style"]["sha256"], str(p.inputs["style_mask"])))
    specs, by_output = [], {}
    for p in to_run:
        cm, sm = _job_masks(p.job, options)
        job_options = {k: v for k, v in p.settings.items() if k in JOB_OPTIONS}
        spec = {"output": str(out_dir / p.job.output), "content": str(p.job.content), "style": str(p.job.style),
                "content_mask": None if cm is None else str(cm), "style_mask": None if sm is None else str(sm),
                "options": job_options, "weights": weights,
                "device": None if device in (None, "auto") else str(device),
                "overwrite": overwrite or p.previous is not None,
                "metadata": bool(metadata),
                "style_sha": p.inputs["style"]["sha256"] + str(p.inputs["style_mask"])}
        specs.append(spec)
        by_output[spec["output"]] = p
    if ray is None:
        n_workers = workers if workers is not None else default_workers(len(specs))
        n_workers = min(n_workers, len(specs)) if n_workers else 0
        n_threads = threads or max(1, _cores() // max(1, n_workers))
        summary.runner = (f"{n_workers} worker{'s' if n_workers != 1 else ''} x {n_threads} thread"
                          f"{'s' if n_threads != 1 else ''}" if n_workers else f"this process, {n_threads} threads")
    out_dir.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        Path(spec["output"]).parent.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    with _Lock(out_dir):
        # a worker or a run killed while writing leaves its temporary output file: no one else writes here
        every_output = [out_dir / p.job.output for p in plan]
        remove_stale_temporaries(every_output)
        results = _ResultsFile(results_path)
        bar = _Progress(len(specs), progress, "batch")

        def on_result(spec: dict, outcome: dict | None) -> None:
            p = by_output[spec["output"]]
            base = {"output": p.job.output}
            now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
            if outcome is None:
                results.append({**base, "status": "started", "inputs": p.inputs, "settings": p.settings,
                                "time": now})
                return
            record = {**base, "status": outcome.get("status", "failed"), "error": outcome.get("error"),
                      "content": str(p.job.content), "style": str(p.job.style),
                      "content_mask": spec["content_mask"], "style_mask": spec["style_mask"],
                      "inputs": p.inputs, "settings": p.settings,
                      **{k: outcome.get(k) for k in ("timings", "metrics", "network", "stopped", "warnings",
                                                     "size", "seconds", "worker", "device")},
                      "source": p.job.source, "time": now}
            results.append(record)
            summary.records.append(record)
            if record["status"] == "ok":
                summary.done += 1
            else:
                summary.failed += 1
            bar.update(record["status"])

        try:
            if specs:
                if ray is None:
                    _local_runner(specs, n_workers, n_threads, on_result)
                else:
                    summary.runner = _ray_runner(specs, ray, workers, threads, on_result)
            remove_stale_temporaries(every_output)  # those of workers killed during this run
        finally:
            bar.close()
            results.close()
            summary.seconds = time.perf_counter() - t0
    return summary
