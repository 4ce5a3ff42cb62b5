"""Many photos: a resumable batch of :func:`photostyle.transfer` jobs, locally or on Ray.

>>> from photostyle.batch import run_batch, jobs_from_dir
>>> summary = run_batch(jobs_from_dir("shoot/", "look.jpg"), "out/", preset="fast")   # doctest: +SKIP
>>> summary.exit_code                                                                  # doctest: +SKIP
0

How it works
------------
- **Jobs** come from a manifest (JSON Lines, one job per line, see :func:`read_manifest`), from a
  folder of photos and one style (:func:`jobs_from_dir`), or from a list of dicts in Python. A bad
  manifest is refused before any work, naming every bad line.
- **Records**: the parent process appends one JSON line per finished job to ``OUTDIR/results.jsonl``
  (flushed and fsynced): the inputs' sha256, the settings, timings, the three quality measures of
  :func:`photostyle.metrics.evaluate`, the network used, and ``status`` ``"ok"`` or ``"failed"`` with
  the error. A ``"started"`` line is written when a job is handed to a worker. The latest line per
  output wins.
- **Resume**: a job is done when its output exists and its latest record is ``"ok"`` with the same
  input hashes and settings; a re-run skips it and runs only what is missing or changed. A job that
  failed with the same inputs and settings is skipped unless ``retry_failed=True``.
- **Outputs** are written atomically (temporary file, then rename): a worker killed mid-job leaves
  nothing half-written. An output that exists without any record in ``results.jsonl`` is not this
  batch's and is refused before any work unless ``overwrite=True``.
- **Workers**: ``workers=N`` processes (``spawn``), each with one encoder (the weights are read once
  per process) and a cache of style targets, so the style photo's Grams are computed once per style
  and reused by every job of that worker that shares it; jobs are ordered by style. ``workers=0``
  runs in this process. ``ray="auto"`` starts a local Ray instance, ``ray="ADDRESS"`` joins a
  cluster: one task per job (inputs travel through Ray's object store, so the nodes need no shared
  filesystem), ``num_gpus=1`` per task when the cluster has GPUs.

Scripts that call :func:`run_batch` with worker processes must guard their entry point with
``if __name__ == "__main__":`` (the ``spawn`` start method re-imports the main module).
"""

from __future__ import annotations

from .jobs import IMAGE_SUFFIXES, BatchJob, jobs_from_dir, read_manifest
from .local import default_workers
from .options import JOB_OPTIONS
from .plan import PlannedJob
from .records import LOCK_NAME, RESULTS_NAME, _read_records
from .run import run_batch
from .summary import BatchSummary

# Not in __all__, as before the split: the records' file names and reader, for scripts and tests.
_RECORDS = (RESULTS_NAME, LOCK_NAME, _read_records)

__all__ = ["BatchJob", "BatchSummary", "PlannedJob", "read_manifest", "jobs_from_dir", "run_batch",
           "default_workers", "IMAGE_SUFFIXES", "JOB_OPTIONS"]
