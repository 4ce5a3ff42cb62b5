"""Resume: what a run does with each job (run or skip, and why), from its inputs, settings and record."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .jobs import BatchJob
from .options import JOB_OPTIONS, _transfer_defaults
from .records import RESULTS_NAME, _fingerprint, _Hasher

__all__ = ["PlannedJob"]


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
