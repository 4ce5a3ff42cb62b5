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

import collections
import concurrent.futures as cf
import datetime
import hashlib
import inspect
import json
import math
import os
import socket
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BatchJob", "BatchSummary", "PlannedJob", "read_manifest", "jobs_from_dir", "run_batch",
           "default_workers", "IMAGE_SUFFIXES", "JOB_OPTIONS"]

RESULTS_NAME = "results.jsonl"
LOCK_NAME = ".photostyle-batch.lock"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")

_PRESETS = ("fast", "paper", "lite")
_CHOICES = {
    "preset": _PRESETS,
    "init": ("noise", "content", "colour"),
    "postprocess": ("best_local_affine", "posterization_refine", "none"),
    "auto_method": ("auto", "semantic", "cluster"),
}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def _check_choice(key: str, v: Any) -> str | None:
    if v is None or v in _CHOICES[key]:
        return None
    return f"{key}: expected one of {', '.join(map(repr, _CHOICES[key]))}, got {v!r}"


def _check_int(key: str, v: Any, minimum: int | None) -> str | None:
    if v is None:
        return None
    if not _is_int(v):
        return f"{key}: expected a whole number, got {v!r}"
    if minimum is not None and v < minimum:
        return f"{key}: expected a whole number >= {minimum}, got {v}"
    return None


def _check_weight(key: str, v: Any) -> str | None:
    if v is None or (_is_number(v) and v >= 0):
        return None
    return f"{key}: expected a finite number >= 0, got {v!r}"


def _check_steps(key: str, v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, list) and v and all(_is_int(n) and n >= 0 for n in v):
        return None
    if _is_int(v) and v >= 0:
        return None
    return f"{key}: expected a whole number >= 0 or a list of them (one per level), got {v!r}"


def _check_output_size(key: str, v: Any) -> str | None:
    if v in ("full", "work") or (_is_int(v) and v >= 8):
        return None
    return f"{key}: expected 'full', 'work' or a long side >= 8 px, got {v!r}"


def _check_merge(key: str, v: Any) -> str | None:
    if v is None or (isinstance(v, dict) and all(isinstance(a, str) and isinstance(b, str) for a, b in v.items())):
        return None
    return f"{key}: expected an object of class names, e.g. {{\"tree\": \"grass\"}}, got {v!r}"


def _check_drop(key: str, v: Any) -> str | None:
    if v is None or (isinstance(v, list) and all(isinstance(a, str) for a in v)):
        return None
    return f"{key}: expected a list of class names, e.g. [\"person\"], got {v!r}"


#: Options of :func:`photostyle.transfer` a job (a manifest line) or the whole batch may set, with
#: their checks. Worker-level options (device, weights) apply to the whole batch only.
JOB_OPTIONS: dict[str, Any] = {
    "auto_k": lambda k, v: _check_int(k, v, 1),
    "auto_method": _check_choice,
    "merge": _check_merge,
    "drop": _check_drop,
    "preset": _check_choice,
    "work_size": lambda k, v: _check_int(k, v, 8),
    "output_size": _check_output_size,
    "num_steps": _check_steps,
    "content_weight": _check_weight,
    "style_weight": _check_weight,
    "tv_weight": _check_weight,
    "photo_weight": _check_weight,
    "init": _check_choice,
    "postprocess": _check_choice,
    "seed": lambda k, v: _check_int(k, v, None),
    "tol_change": _check_weight,
}
_BATCH_ONLY = ("device", "weights")
_NOT_IN_BATCH = {
    "encoder": "each worker builds its own",
    "style_cache": "each worker keeps its own",
    "metrics": "always computed and recorded",
    "progress": "pass progress= to run_batch",
    "callback": "not available in a batch",
    "snapshot_every": "not available in a batch",
}
_JOB_KEYS = ("content", "style", "output", "content_mask", "style_mask")


def _transfer_defaults() -> dict[str, Any]:
    from .transfer import transfer

    params = inspect.signature(transfer).parameters
    return {k: params[k].default for k in JOB_OPTIONS}


# --------------------------------------------------------------------------------------------- jobs


@dataclass(frozen=True)
class BatchJob:
    """One restyling job of a batch.

    Attributes
    ----------
    content, style
        Paths of the content photo and the style photo.
    output
        The output's path relative to the batch's output folder (its suffix picks the format).
    content_mask, style_mask
        Paths of mask images, ``"auto"`` (automatic matched masks; style_mask None or ``"auto"``), or None.
    options
        This job's own options of :func:`photostyle.transfer` (see :data:`JOB_OPTIONS`); they take
        precedence over the batch's.
    source
        Where the job was defined (``"jobs.jsonl line 3"``), for messages.
    """

    content: Path
    style: Path
    output: str
    content_mask: Path | str | None = None
    style_mask: Path | str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""


def _mask_value(value: Any, base: Path) -> Path | str | None:
    if value is None or value == "auto":
        return value
    return base / value


def _job_problems(obj: Any, base: Path, where: str) -> tuple[BatchJob | None, list[str]]:
    """A job from one manifest entry, or what is wrong with it (all problems, not just the first)."""
    if not isinstance(obj, dict):
        return None, [f"expected a JSON object such as {{\"content\": \"a.jpg\", \"style\": \"s.jpg\"}}, "
                      f"got {type(obj).__name__}"]
    problems = []
    unknown = [k for k in obj if k not in _JOB_KEYS and k not in JOB_OPTIONS]
    for key in unknown:
        if key in _BATCH_ONLY:
            problems.append(f"'{key}' applies to the whole batch, not to one job; pass it to run_batch "
                            f"(CLI: --{key})")
        elif key in _NOT_IN_BATCH:
            problems.append(f"'{key}': {_NOT_IN_BATCH[key]}")
        else:
            problems.append(f"unknown key '{key}'; a job has {', '.join(_JOB_KEYS)} and options "
                            f"{', '.join(JOB_OPTIONS)}")
    paths = {}
    for key in ("content", "style"):
        value = obj.get(key)
        if value is None:
            problems.append(f"'{key}' is missing")
        elif not isinstance(value, str) or not value:
            problems.append(f"{key}: expected a file path (string), got {value!r}")
        else:
            path = base / value
            if not path.is_file():
                problems.append(f"{key}: file not found: '{path}'")
            paths[key] = path
    for key in ("content_mask", "style_mask"):
        value = obj.get(key)
        if value is None or value == "auto":
            continue
        if not isinstance(value, str) or not value:
            problems.append(f"{key}: expected a file path or \"auto\", got {value!r}")
        elif not (base / value).is_file():
            problems.append(f"{key}: file not found: '{base / value}'")
    cm, sm = obj.get("content_mask"), obj.get("style_mask")
    if sm == "auto" and cm != "auto":
        problems.append("style_mask \"auto\" needs content_mask \"auto\" (automatic masks segment both photos)")
    elif cm == "auto" and sm not in (None, "auto"):
        problems.append("content_mask \"auto\" segments both photos: leave style_mask out or make it \"auto\"")
    elif (cm is None) != (sm is None) and "auto" not in (cm, sm):
        problems.append("give both content_mask and style_mask, or neither")
    output = obj.get("output")
    if output is None and "content" in paths:
        output = paths["content"].name
    if output is not None:
        problem = _output_problem(output)
        if problem:
            problems.append(problem)
    for key, check in JOB_OPTIONS.items():
        if key in obj:
            problem = check(key, obj[key])
            if problem:
                problems.append(problem)
    if problems:
        return None, problems
    options = {k: obj[k] for k in JOB_OPTIONS if k in obj}
    return BatchJob(paths["content"], paths["style"], str(output), _mask_value(cm, base), _mask_value(sm, base),
                    options, where), []


def _output_problem(output: Any) -> str | None:
    from .image import image_suffixes

    if not isinstance(output, str) or not output:
        return f"output: expected a file name such as \"a.png\", got {output!r}"
    path = Path(output)
    if path.is_absolute() or ".." in path.parts:
        return f"output: expected a name inside the output folder (no absolute path, no '..'), got {output!r}"
    if path.suffix.lower() not in image_suffixes():
        return f"output: expected a name ending in one of {', '.join(image_suffixes())}, got {output!r}"
    return None


def _order(where: str) -> tuple[int, str]:
    last = where.rsplit(" ", 1)[-1]
    return (int(last), where) if last.isdigit() else (sys.maxsize, where)


def _refuse(problems: list[tuple[str, str]], what: str) -> None:
    problems = sorted(problems, key=lambda item: _order(item[0]))  # stable: a line's problems keep their order
    lines = [f"{where}: {problem}" for where, problem in problems]
    shown = lines[:20] + ([f"... and {len(lines) - 20} more"] if len(lines) > 20 else [])
    bad = len({where for where, _ in problems})
    raise ValueError(f"{what}: {bad} bad job{'s' if bad != 1 else ''}, nothing was run; fix these and run again:\n  "
                     + "\n  ".join(shown))


def read_manifest(path: str | os.PathLike) -> list[BatchJob]:
    """Read a JSON Lines manifest: one job per line.

    Each line is an object with ``content`` and ``style`` (paths, relative to the manifest's folder),
    optionally ``output`` (a name inside the output folder; default: the content's file name),
    ``content_mask`` / ``style_mask`` (mask images, or ``"auto"``) and options of
    :func:`photostyle.transfer` (see :data:`JOB_OPTIONS`, e.g. ``"work_size": 512``). Blank lines
    and lines starting with ``#`` are skipped.

    Raises
    ------
    ValueError
        Naming every bad line and what is wrong with it (unparsable JSON, a missing or unknown key,
        a missing file, a bad option value, two jobs writing the same output), before any work.
    FileNotFoundError
        If the manifest does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: '{path}'; give a JSON Lines file, one job per line.")
    base = path.parent
    entries: list[tuple[str, Any]] = []
    problems: list[tuple[str, str]] = []
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            where = f"line {number}"
            try:
                text = raw.decode("utf-8").strip()
            except UnicodeDecodeError as exc:
                problems.append((where, f"not UTF-8 text (byte {exc.start + 1})"))
                continue
            if not text or text.startswith("#"):
                continue
            try:
                entries.append((where, json.loads(text)))
            except json.JSONDecodeError as exc:
                problems.append((where, f"not valid JSON ({exc.msg} at column {exc.colno})"))
    jobs = _jobs_from_entries(entries, base, problems)
    if problems:
        _refuse(problems, f"manifest '{path}'")
    if not jobs:
        raise ValueError(f"manifest '{path}' has no jobs; write one JSON object per line, e.g. "
                         '{"content": "a.jpg", "style": "look.jpg"}.')
    return jobs


def _jobs_from_entries(entries: Iterable[tuple[str, Any]], base: Path,
                       problems: list[tuple[str, str]]) -> list[BatchJob]:
    jobs, seen = [], {}
    for where, obj in entries:
        job, found = _job_problems(obj, base, where)
        problems.extend((where, p) for p in found)
        if job is None:
            continue
        key = os.path.normcase(os.path.normpath(job.output))
        if key in seen:
            problems.append((where, f"output '{job.output}' is also written by {seen[key]}; give each job its "
                                    "own \"output\""))
            continue
        seen[key] = where
        jobs.append(job)
    return jobs


def jobs_from_dir(content_dir: str | os.PathLike, style: str | os.PathLike, *,
                  content_mask: str | None = None) -> list[BatchJob]:
    """One job per photo of ``content_dir`` (not its subfolders), all with the look of ``style``.

    Photos are the files with an image suffix (:data:`IMAGE_SUFFIXES`), in name order; each output
    has the photo's own file name. ``content_mask="auto"`` gives every job automatic matched masks.
    """
    folder, style = Path(content_dir), Path(style)
    if not folder.is_dir():
        raise FileNotFoundError(f"content_dir: folder not found: '{folder}'; give a folder of photos.")
    if not style.is_file():
        raise FileNotFoundError(f"style: file not found: '{style}'; give the style photo.")
    if content_mask not in (None, "auto"):
        raise ValueError(f"content_mask: expected None or 'auto' for a folder of photos, got {content_mask!r}; "
                         "masks per photo need a manifest (one line per job with its masks).")
    photos = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                    and not p.name.startswith("."))
    if not photos:
        raise ValueError(f"content_dir: no photos in '{folder}' (looked for {', '.join(IMAGE_SUFFIXES)}).")
    return [BatchJob(p, style, p.name, content_mask, None, {}, str(p)) for p in photos]


def _as_jobs(jobs_or_manifest: Any) -> list[BatchJob]:
    if isinstance(jobs_or_manifest, (str, os.PathLike)):
        return read_manifest(jobs_or_manifest)
    if isinstance(jobs_or_manifest, Mapping) or not isinstance(jobs_or_manifest, Sequence):
        raise TypeError(f"jobs_or_manifest: expected a manifest path or a list of jobs (dicts or BatchJob), got "
                        f"{type(jobs_or_manifest).__name__}.")
    entries, ready, problems = [], [], []
    for i, item in enumerate(jobs_or_manifest, start=1):
        if isinstance(item, BatchJob):
            ready.append((f"job {i}", item))
        else:
            entries.append((f"job {i}", item))
    jobs = _jobs_from_entries(entries, Path.cwd(), problems)
    jobs += [job for _, job in ready]
    for where, job in ready:
        for key, value in job.options.items():
            check = JOB_OPTIONS.get(key)
            problem = check(key, value) if check else f"unknown option '{key}'"
            if problem:
                problems.append((where, problem))
    outputs = collections.Counter(os.path.normcase(os.path.normpath(j.output)) for j in jobs)
    for name, count in outputs.items():
        if count > 1:
            problems.append(("jobs", f"output '{name}' is written by {count} jobs; give each job its own output"))
    if problems:
        _refuse(problems, "jobs")
    if not jobs:
        raise ValueError("jobs_or_manifest: the list of jobs is empty.")
    return jobs


# ------------------------------------------------------------------------------------- the records


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _Hasher:
    """sha256 of input files, reusing a hash recorded earlier for the same path, size and mtime."""

    def __init__(self, records: Mapping[str, dict]):
        self.known: dict[str, tuple[int, int, str]] = {}
        for rec in records.values():
            for entry in (rec.get("inputs") or {}).values():
                if isinstance(entry, dict) and {"path", "size", "mtime_ns", "sha256"} <= entry.keys():
                    self.known[entry["path"]] = (entry["size"], entry["mtime_ns"], entry["sha256"])
        self.memo: dict[str, dict] = {}

    def __call__(self, path: Path | str | None) -> dict | str | None:
        if path is None or path == "auto":
            return path
        key = str(Path(path).resolve())
        if key not in self.memo:
            st = os.stat(key)
            old = self.known.get(key)
            sha = old[2] if old and old[:2] == (st.st_size, st.st_mtime_ns) else _sha256(Path(key))
            self.memo[key] = {"path": key, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha}
        return self.memo[key]


def _fingerprint(inputs: Mapping[str, Any]) -> dict[str, str | None]:
    return {k: (v["sha256"] if isinstance(v, dict) else v) for k, v in inputs.items()}


def _read_records(path: Path) -> dict[str, dict]:
    """The latest record per output; torn or unreadable lines (a run killed mid-write) are skipped."""
    latest: dict[str, dict] = {}
    if not path.exists():
        return latest
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and isinstance(rec.get("output"), str):
                latest[rec["output"]] = rec
    return latest


class _ResultsFile:
    """Append-only ``results.jsonl``: one line per record, flushed and fsynced."""

    def __init__(self, path: Path):
        self.path = path
        torn = path.exists() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
        self.fh = open(path, "a", encoding="utf-8")
        if torn:  # a line cut by a killed run: end it so the next record starts on its own line
            self.fh.write("\n")

    def append(self, record: Mapping[str, Any]) -> None:
        self.fh.write(json.dumps(record, sort_keys=False, default=str) + "\n")
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def close(self) -> None:
        self.fh.close()


class _Lock:
    """One batch at a time per output folder (advisory lock; a no-op where fcntl is missing)."""

    def __init__(self, folder: Path):
        self.path = folder / LOCK_NAME
        self.fh = None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:
            return self
        self.fh = open(self.path, "w")
        try:
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.fh.close()
            raise RuntimeError(f"another batch is running in '{self.path.parent}'; wait for it to finish or "
                               "use another output folder.") from None
        return self

    def __exit__(self, *exc):
        if self.fh is not None:
            self.fh.close()


# ------------------------------------------------------------------------------------------- plan


@dataclass
class PlannedJob:
    """A job and what the batch does with it: ``action`` is ``"run"`` or ``"skip"``; ``reason`` says why
    (``"new"``, ``"changed"``, ``"output missing"``, ``"unfinished"``, ``"retry"``, ``"done"``, ``"failed before"``)."""

    job: BatchJob
    action: str
    reason: str
    inputs: dict[str, Any]
    settings: dict[str, Any]
    previous: dict | None = None

    def describe(self) -> str:
        return (f"{self.action:<4}  {self.job.output}  <- {self.job.content.name} + {self.job.style.name}  "
                f"({self.reason})")


def _settings(job: BatchJob, batch_options: Mapping[str, Any], defaults: Mapping[str, Any],
              weights: str | None) -> dict[str, Any]:
    settings = dict(defaults)
    settings.update({k: v for k, v in batch_options.items() if k in JOB_OPTIONS})
    settings.update(job.options)
    cm = job.content_mask if job.content_mask is not None else batch_options.get("content_mask")
    sm = job.style_mask if job.style_mask is not None else batch_options.get("style_mask")
    settings["content_mask"] = None if cm is None else ("auto" if cm == "auto" else "file")
    settings["style_mask"] = None if sm is None else ("auto" if sm == "auto" else "file")
    settings["weights"] = weights
    return json.loads(json.dumps(settings, sort_keys=True))


def _job_masks(job: BatchJob, batch_options: Mapping[str, Any]) -> tuple[Any, Any]:
    cm = job.content_mask if job.content_mask is not None else batch_options.get("content_mask")
    sm = job.style_mask if job.style_mask is not None else batch_options.get("style_mask")
    return cm, sm


def _plan(jobs: list[BatchJob], out_dir: Path, records: Mapping[str, dict], batch_options: Mapping[str, Any],
          weights: str | None, *, retry_failed: bool, overwrite: bool) -> list[PlannedJob]:
    defaults = _transfer_defaults()
    hasher = _Hasher(records)
    plan, foreign = [], []
    for job in jobs:
        cm, sm = _job_masks(job, batch_options)
        inputs = {"content": hasher(job.content), "style": hasher(job.style),
                  "content_mask": hasher(cm), "style_mask": hasher(sm)}
        settings = _settings(job, batch_options, defaults, weights)
        rec = records.get(job.output)
        exists = (out_dir / job.output).exists()
        same = rec is not None and rec.get("settings") == settings and \
            _fingerprint(rec.get("inputs") or {}) == _fingerprint(inputs)
        if rec is None:
            action, reason = "run", "new"
            if exists and not overwrite:
                foreign.append(job.output)
        elif not same:
            action, reason = "run", "changed"
        elif rec.get("status") == "ok":
            action, reason = ("skip", "done") if exists else ("run", "output missing")
        elif rec.get("status") == "failed":
            action, reason = ("run", "retry") if retry_failed else ("skip", "failed before")
        else:
            action, reason = "run", "unfinished"
        plan.append(PlannedJob(job, action, reason, inputs, settings, rec))
    if foreign:
        listed = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise FileExistsError(f"outputs already exist in '{out_dir}' without a record in {RESULTS_NAME}: {listed}; "
                              "nothing was run. Pass overwrite=True (CLI: --overwrite) to replace them, or choose "
                              "another output folder.")
    return plan


# ------------------------------------------------------------------------------------------ worker

_WORKER: dict[str, Any] = {"device": None, "threads": None}
_ENCODERS: dict[tuple, Any] = {}
_STYLE_CACHES: collections.OrderedDict[str, dict] = collections.OrderedDict()
_STYLE_CACHE_SIZE = 4  # styles whose targets a worker keeps (each a few MB)


def _init_worker(threads: int, devices: Any = None) -> None:
    """Set up a worker process: torch threads, and its GPU when there is one per worker."""
    import torch

    torch.set_num_threads(max(1, int(threads)))
    _WORKER["threads"] = threads
    from . import transfer  # noqa: F401 - pay the imports once, before the first job's timings
    try:  # torch.optim imports torch._dynamo on the first optimiser (seconds): not a job's time
        import torch._dynamo  # noqa: F401
    except Exception:  # noqa: BLE001
        pass
    if devices is not None:
        try:
            _WORKER["device"] = devices.get(timeout=5)
        except Exception:  # noqa: BLE001 - more processes than devices (a replaced worker): share the first
            _WORKER["device"] = None


def _encoder(layers: tuple[str, ...], weights: Any):
    from .encoders import VGG19Encoder

    key = (layers, weights)
    if key not in _ENCODERS:
        _ENCODERS[key] = VGG19Encoder(layers, weights=weights, progress=False)
    return _ENCODERS[key]


def _style_cache(style_sha: str) -> dict:
    if _STYLE_CACHE_SIZE <= 0:
        return None  # type: ignore[return-value]
    if style_sha in _STYLE_CACHES:
        _STYLE_CACHES.move_to_end(style_sha)
    else:
        _STYLE_CACHES[style_sha] = {}
        while len(_STYLE_CACHES) > _STYLE_CACHE_SIZE:
            _STYLE_CACHES.popitem(last=False)
    return _STYLE_CACHES[style_sha]


def _run_job(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Run one job in a worker; never raises: the outcome is a dict for the record."""
    t0 = time.perf_counter()
    out: dict[str, Any] = {"worker": f"{socket.gethostname()}:{os.getpid()}"}
    try:
        from .image import save_image
        from .optimize import StopReason
        from .presets import get_preset
        from .transfer import transfer

        options = dict(spec["options"])
        preset = get_preset(options.get("preset") or "fast")
        device = spec.get("device") or _WORKER.get("device") or "auto"
        out["device"] = str(device)
        encoder = _encoder(tuple(preset.layers), spec.get("weights"))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = transfer(spec["content"], spec["style"], content_mask=spec.get("content_mask"),
                              style_mask=spec.get("style_mask"), encoder=encoder,
                              style_cache=_style_cache(spec["style_sha"]), device=device, progress=False,
                              metrics=True, **options)
        out.update(timings={k: round(v, 4) for k, v in result.timings.items()}, metrics=result.metrics,
                   network=result.network, stopped=result.stopped,
                   warnings=list(dict.fromkeys([*result.warnings, *(str(w.message) for w in caught)])),
                   size=[result.image.width, result.image.height])
        non_finite = [s for s in result.stops if s.reason is StopReason.NON_FINITE]
        if non_finite:
            out.update(status="failed", error=f"non-finite loss: {non_finite[0]}")
        else:
            save_image(result.image, spec["output"], overwrite=spec.get("overwrite", False))
            out["status"] = "ok"
    except Exception as exc:  # noqa: BLE001 - a failing job is recorded, the others go on
        out.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    out["seconds"] = round(time.perf_counter() - t0, 4)
    return out


def _run_job_shipped(spec: Mapping[str, Any], content: Any, style: Any, content_mask: Any = None,
                     style_mask: Any = None) -> dict[str, Any]:
    """A Ray task: the inputs come as ``(name, bytes)``, the output goes back as bytes (no shared
    filesystem needed)."""
    import torch

    files = {role: item for role, item in (("content", content), ("style", style), ("content_mask", content_mask),
                                           ("style_mask", style_mask)) if item is not None}

    threads = spec.get("threads")
    if threads:
        torch.set_num_threads(int(threads))
    with tempfile.TemporaryDirectory(prefix="photostyle-batch-") as tmp:
        local = dict(spec)
        for role, (name, data) in files.items():
            path = Path(tmp) / f"{role}{Path(name).suffix}"
            path.write_bytes(data)
            local[role] = str(path)
        local["output"] = str(Path(tmp) / f"output{Path(spec['output']).suffix}")
        local["overwrite"] = True
        result = _run_job(local)
        if result.get("error"):  # name the user's files, not the task's copies
            for role in files:
                result["error"] = result["error"].replace(local[role], str(spec[role]))
        if result["status"] == "ok":
            result["_bytes"] = Path(local["output"]).read_bytes()
    return result


# ------------------------------------------------------------------------------------------- summary


@dataclass
class BatchSummary:
    """What :func:`run_batch` did.

    Attributes
    ----------
    out_dir, results_path
        The output folder and its ``results.jsonl``.
    planned
        Every job with its action (run/skip) and reason.
    records
        The records written by this run (one per job that ran), in the order they finished.
    done, failed
        Jobs that succeeded / failed in this run.
    skipped_done, skipped_failed
        Jobs skipped as already done / as failed before (not retried).
    seconds
        Wall-clock time of the run.
    dry_run
        True when nothing ran (``dry_run=True``).
    """

    out_dir: Path
    results_path: Path
    planned: list[PlannedJob]
    records: list[dict] = field(default_factory=list)
    done: int = 0
    failed: int = 0
    skipped_done: int = 0
    skipped_failed: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    runner: str = "local"

    @property
    def to_run(self) -> int:
        return sum(p.action == "run" for p in self.planned)

    @property
    def ok(self) -> bool:
        """True when every job's output is present (done now or before)."""
        return not self.dry_run and self.failed == 0 and self.skipped_failed == 0 and \
            self.done + self.skipped_done == len(self.planned)

    @property
    def exit_code(self) -> int:
        """0 when every job succeeded (or, for a dry run, always), else 1."""
        return 0 if self.ok or self.dry_run else 1

    @property
    def photos_per_minute(self) -> float:
        ran = self.done + self.failed
        return 60.0 * ran / self.seconds if self.seconds > 0 and ran else 0.0

    def failures(self) -> list[dict]:
        """Records of the jobs that failed, in this run or before (skipped)."""
        now = [r for r in self.records if r.get("status") == "failed"]
        before = [p.previous for p in self.planned if p.action == "skip" and p.reason == "failed before"]
        return now + [r for r in before if r]

    def __str__(self) -> str:
        n = len(self.planned)
        if self.dry_run:
            lines = [p.describe() for p in self.planned]
            lines.append(f"dry run: {n} job{'s' if n != 1 else ''}: {self.to_run} would run, "
                         f"{n - self.to_run} skipped; nothing was written.")
            return "\n".join(lines)
        head = (f"batch: {n} job{'s' if n != 1 else ''}: {self.done} done, {self.failed} failed, "
                f"{self.skipped_done} already done")
        if self.skipped_failed:
            head += f", {self.skipped_failed} failed before (not retried; --retry-failed runs them again)"
        head += f" ({self.seconds:.1f} s"
        if self.done + self.failed:
            head += f", {self.photos_per_minute:.1f} photos/min on {self.runner}"
        head += f"); records in {self.results_path}"
        lines = [head]
        for rec in self.failures()[:10]:
            lines.append(f"  failed: {rec.get('output')}: {rec.get('error')}")
        if len(self.failures()) > 10:
            lines.append(f"  ... and {len(self.failures()) - 10} more failures (see {self.results_path})")
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------ runners


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def default_workers(num_jobs: int | None = None) -> int:
    """How many local worker processes make sense: one per GPU where CUDA is present; otherwise one
    per two cores (two torch threads each: VGG on small images stops scaling beyond a few threads),
    at most one per 2 GiB of available memory, and never more than the jobs."""
    import torch

    if torch.cuda.is_available():
        n = torch.cuda.device_count()
    else:
        n = max(1, _cores() // 2)
        memory = _available_memory()
        if memory is not None:
            n = max(1, min(n, memory // (2 << 30)))
    if num_jobs is not None:
        n = max(1, min(n, num_jobs))
    return n


class _Progress:
    def __init__(self, total: int, enabled: bool, desc: str):
        self.total, self.ok, self.failed = total, 0, 0
        self.t0 = time.perf_counter()
        self.bar = None
        if enabled and total:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="photo", dynamic_ncols=True, file=sys.stderr)
            self._postfix()

    def _postfix(self) -> None:
        elapsed = time.perf_counter() - self.t0
        ran = self.ok + self.failed
        rate = 60.0 * ran / elapsed if elapsed > 0 and ran else 0.0
        self.bar.set_postfix_str(f"done {self.ok}, failed {self.failed}, remaining {self.total - ran}, "
                                 f"{rate:.1f} photos/min", refresh=False)

    def update(self, status: str) -> None:
        if status == "ok":
            self.ok += 1
        else:
            self.failed += 1
        if self.bar is not None:
            self._postfix()
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _local_runner(specs: list[dict], workers: int, threads: int, on_result) -> None:
    """Run specs on ``workers`` spawned processes (0: in this process). A worker that dies (killed,
    out of memory) breaks the pool: the jobs it may have been running are retried once on a fresh
    pool, then recorded as failed."""
    if workers == 0:
        import torch

        old = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            for spec in specs:
                on_result(spec, _run_job(spec))
        finally:
            torch.set_num_threads(old)
        return
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    pending = collections.deque(specs)
    crashes: collections.Counter[str] = collections.Counter()

    def make_pool():
        import torch

        devices = None

        if torch.cuda.is_available() and all(s.get("device") in (None, "auto") for s in specs):
            devices = ctx.Queue()
            for i in range(workers):
                devices.put(f"cuda:{i % torch.cuda.device_count()}")
        return cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                      initargs=(threads, devices))

    pool = make_pool()
    in_flight: dict[cf.Future, dict] = {}
    try:
        while pending or in_flight:
            while pending and len(in_flight) < workers:
                spec = pending.popleft()
                on_result(spec, None)  # "started"
                in_flight[pool.submit(_run_job, spec)] = spec
            finished, _ = cf.wait(in_flight, return_when=cf.FIRST_COMPLETED)
            broken = []
            for fut in finished:
                spec = in_flight.pop(fut)
                try:
                    outcome = fut.result()
                except cf.process.BrokenProcessPool:
                    broken.append(spec)
                    continue
                except Exception as exc:  # noqa: BLE001 - e.g. a spec that cannot be pickled
                    outcome = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
                on_result(spec, outcome)
            if broken:
                # Every job still in flight was lost with the pool: record what did finish, retry the rest.
                for fut in list(in_flight):
                    spec = in_flight.pop(fut)
                    try:
                        outcome = fut.result()
                    except Exception:  # noqa: BLE001
                        broken.append(spec)
                        continue
                    on_result(spec, outcome)
                pool.shutdown(wait=False, cancel_futures=True)
                for spec in reversed(broken):
                    crashes[spec["output"]] += 1
                    if crashes[spec["output"]] >= 2:
                        on_result(spec, {"status": "failed", "error": "the worker process ended abruptly twice "
                                         "while running this job (killed, or out of memory)"})
                    else:
                        pending.appendleft(spec)
                pool = make_pool()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _import_ray():
    try:
        import ray
    except ImportError as exc:
        raise ImportError("ray: running a batch on Ray needs the ray package; pip install photostyle[ray] "
                          "(or pip install ray), or run without ray= (local worker processes).") from exc
    return ray


def _ray_runner(specs: list[dict], address: str, workers: int | None, threads: int | None, on_result) -> str:
    ray = _import_ray()
    started_here = False
    if not ray.is_initialized():
        if address == "auto":
            # A local instance: its workers import photostyle from where this process does.
            here = str(Path(__file__).resolve().parents[1])
            path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", "")) if p)
            ray.init(num_cpus=workers * (threads or 1) if workers else None, include_dashboard=False,
                     log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
        else:
            ray.init(address=address, log_to_driver=False)
        started_here = True
    try:
        resources = ray.cluster_resources()
        cpus, gpus = int(resources.get("CPU", 1)), int(resources.get("GPU", 0))
        node_cpus = [int(n.get("Resources", {}).get("CPU", 0)) for n in ray.nodes() if n.get("Alive")] or [cpus]
        on_cpu = all(str(s.get("device") or "auto").startswith("cpu") for s in specs)
        parallel = workers or (gpus if gpus and not on_cpu else cpus)
        per_task = threads or max(1, cpus // max(1, parallel))
        per_task = max(1, min(per_task, max(node_cpus)))
        use_gpu = bool(gpus) and not on_cpu
        task = ray.remote(num_cpus=per_task, num_gpus=1 if use_gpu else 0, max_retries=1)(_run_job_shipped)
        shared: dict[str, Any] = {}

        def files_of(spec):
            files = {}
            for role in ("content", "style", "content_mask", "style_mask"):
                value = spec.get(role)
                if value is None or value == "auto":
                    continue
                if role in ("style", "style_mask"):  # one copy per style in the object store
                    if value not in shared:
                        shared[value] = ray.put((Path(value).name, Path(value).read_bytes()))
                    files[role] = shared[value]
                else:
                    files[role] = (Path(value).name, Path(value).read_bytes())
            return files

        pending = collections.deque(specs)
        in_flight: dict[Any, dict] = {}
        # workers= caps the tasks at once; by default keep the cluster busy (twice its capacity queued)
        # without loading every photo into the object store at once.
        limit = workers if workers else max(parallel, 1) * 2
        while pending or in_flight:
            while pending and len(in_flight) < limit:
                spec = pending.popleft()
                on_result(spec, None)
                try:
                    files = files_of(spec)
                except OSError as exc:  # an input removed or unreadable since the plan
                    on_result(spec, {"status": "failed", "error": f"{type(exc).__name__}: {exc}"})
                    continue
                in_flight[task.remote(dict(spec, threads=per_task), files["content"], files["style"],
                                      files.get("content_mask"), files.get("style_mask"))] = spec
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                spec = in_flight.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a crashed worker, a lost node
                    result = {"status": "failed", "error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
                data = result.pop("_bytes", None)
                if data is not None:
                    try:
                        from .image import atomic_write_path

                        with atomic_write_path(spec["output"], overwrite=spec["overwrite"]) as tmp:
                            tmp.write_bytes(data)
                    except Exception as exc:  # noqa: BLE001
                        result.update(status="failed", error=f"{type(exc).__name__}: {exc}")
                on_result(spec, result)
        return f"Ray ({cpus} CPU{'s' if cpus != 1 else ''}{f', {gpus} GPUs' if gpus else ''}, {per_task} per task)"
    finally:
        if started_here:
            ray.shutdown()


# ------------------------------------------------------------------------------------------ run_batch


def _check_batch_options(options: dict[str, Any]) -> dict[str, Any]:
    options = dict(options)
    if "size" in options:
        if options.get("work_size") is not None and options["size"] != options["work_size"]:
            raise ValueError(f"size and work_size name the same thing; pass one (got {options['size']} and "
                             f"{options['work_size']}).")
        size = options.pop("size")
        options.setdefault("work_size", size)
        if options["work_size"] is None:
            options["work_size"] = size
    for key in options:
        if key in _NOT_IN_BATCH:
            raise TypeError(f"run_batch: {key}= is not a batch option ({_NOT_IN_BATCH[key]}).")
        if key not in JOB_OPTIONS and key not in ("content_mask", "style_mask", "device", "weights"):
            raise TypeError(f"run_batch: unexpected option {key}=; the options of transfer() a batch takes are "
                            f"{', '.join(JOB_OPTIONS)}, content_mask, style_mask, device, weights.")
    problems = [p for p in (check(k, options[k]) for k, check in JOB_OPTIONS.items() if k in options) if p]
    entry = {"content_mask": options.get("content_mask"), "style_mask": options.get("style_mask")}
    for key, value in entry.items():
        if value is not None and value != "auto" and not Path(value).is_file():
            problems.append(f"{key}: file not found: '{value}'")
    if problems:
        raise ValueError("run_batch: " + "; ".join(problems) + ".")
    return {k: v for k, v in options.items() if v is not None}


def _weights_setting(weights: Any) -> str | None:
    if weights is None:
        return None
    if isinstance(weights, (str, os.PathLike)) and Path(weights).is_file():
        return str(Path(weights).resolve())
    return str(getattr(weights, "name", weights))


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
        from ._checks import resolve_device

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
        finally:
            bar.close()
            results.close()
            summary.seconds = time.perf_counter() - t0
    return summary
