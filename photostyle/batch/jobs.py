"""Jobs of a batch: :class:`BatchJob`, reading a manifest (every bad line named), a folder of photos."""

from __future__ import annotations

import collections
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .options import _BATCH_ONLY, _NOT_IN_BATCH, JOB_OPTIONS

__all__ = ["BatchJob", "read_manifest", "jobs_from_dir", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
_JOB_KEYS = ("content", "style", "output", "content_mask", "style_mask")


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
    from ..image import image_suffixes

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
