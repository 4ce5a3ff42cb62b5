"""The batch's records: ``results.jsonl`` (append-only, fsynced; the latest line per output wins),
input hashes, and the lock that keeps one batch per output folder."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._download import sha256_of

RESULTS_NAME = "results.jsonl"
LOCK_NAME = ".photostyle-batch.lock"


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
            sha = old[2] if old and old[:2] == (st.st_size, st.st_mtime_ns) else sha256_of(Path(key))
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
