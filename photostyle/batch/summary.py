"""What a batch did (:class:`BatchSummary`, its report) and the progress bar of a run."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .plan import PlannedJob

__all__ = ["BatchSummary"]


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
