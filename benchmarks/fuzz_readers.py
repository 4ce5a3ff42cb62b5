"""Fuzz every file reader of the library and count the outcomes.

    python benchmarks/fuzz_readers.py --cases 10000            # every reader, 10,000 cases each
    python benchmarks/fuzz_readers.py --cases 500 --readers read_image load_label_map.npy

The readers, the exceptions each one documents, the valid files it starts from and the mutations
are those of ``tests/_fuzz.py`` (the CI runs a few hundred of the same cases through Hypothesis, in
tests/test_fuzz_readers.py). Each case is random bytes (1 in 4) or a valid file changed by 1-4
mutations: bit flips, overwrites, insertions, deletions, truncation, duplicated runs, and header
edits that declare a huge image (PNG, BMP, GIF) or array (.npy). The table counts, per reader, the
cases that gave a result ("ok"), each documented exception, and anything else ("UNDOCUMENTED":
another exception type, a documented one without a message, a case that ran past ``--hang-s``
seconds, or one that exceeded ``--max-memory-gb`` of address space, which shows up as MemoryError).
The exit status is 1 when any case was undocumented; such inputs are written to ``--save-failures``.
No Hypothesis needed; one thread; deterministic for a given ``--seed``.
"""

from __future__ import annotations

import argparse
import collections
import random
import resource
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


class _Hang(BaseException):
    """Raised by the alarm; a BaseException so that the readers' and check()'s handlers let it through."""


def _alarm(signum, frame):
    raise _Hang()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="cases per reader (default 10,000)")
    parser.add_argument("--readers", nargs="+", default=None, help="reader names (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hang-s", type=int, default=30, help="a case running longer counts as a hang (default 30)")
    parser.add_argument("--max-memory-gb", type=float, default=8.0,
                        help="address-space limit of this process (default 8), so a decompression bomb fails "
                             "with MemoryError instead of exhausting the machine")
    parser.add_argument("--save-failures", type=Path, default=ROOT / "fuzz_failures",
                        help="folder for the inputs of undocumented outcomes (default ./fuzz_failures)")
    args = parser.parse_args(argv)

    limit = int(args.max_memory_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import torch

    torch.set_num_threads(1)
    from _fuzz import READERS, check, random_case

    names = args.readers or list(READERS)
    unknown = [n for n in names if n not in READERS]
    if unknown:
        parser.error(f"unknown reader(s) {unknown}; choose from {', '.join(READERS)}")
    signal.signal(signal.SIGALRM, _alarm)
    rows = []
    failures: list[tuple[str, str, bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            reader = READERS[name]
            rng = random.Random(f"{args.seed}:{name}")
            counts: collections.Counter[str] = collections.Counter()
            worst = 0.0
            t0 = time.perf_counter()
            for _ in range(args.cases):
                data = random_case(rng, reader)
                t = time.perf_counter()
                signal.alarm(args.hang_s)
                try:
                    outcome = check(reader, data, Path(tmp))
                except _Hang:
                    outcome = f"UNDOCUMENTED hang (> {args.hang_s} s)"
                finally:
                    signal.alarm(0)
                worst = max(worst, time.perf_counter() - t)
                if outcome.startswith("UNDOCUMENTED"):
                    failures.append((name, outcome, data))
                    counts["UNDOCUMENTED"] += 1
                else:
                    counts[outcome] += 1
            rows.append((name, reader, counts, worst, time.perf_counter() - t0))
            print(f"  {name}: {dict(counts)} in {rows[-1][4]:.1f} s", file=sys.stderr, flush=True)

    documented = []
    for _, reader, _, _, _ in rows:
        for exc in reader.documented:
            if exc.__name__ not in documented:
                documented.append(exc.__name__)
    cols = ["ok", *documented, "UNDOCUMENTED"]
    print(f"Fuzzed readers: {args.cases} cases each (seed {args.seed}; random bytes 1 in 4, else mutated "
          f"valid files), torch {torch.__version__}, 1 thread")
    head = f"{'reader':<24}" + "".join(f"{c:>18}" for c in cols) + f"{'slowest case s':>16}{'total s':>9}"
    print(head)
    print("-" * len(head))
    for name, reader, counts, worst, total in rows:
        cells = []
        for c in cols:
            allowed = c in ("ok", "UNDOCUMENTED") or c in {e.__name__ for e in reader.documented}
            cells.append(f"{counts.get(c, 0):>18}" if allowed else f"{'-':>18}")
        print(f"{name:<24}" + "".join(cells) + f"{worst:>16.2f}{total:>9.1f}")
    print("('-': not documented by that reader, so any such case would count as UNDOCUMENTED)")
    if failures:
        args.save_failures.mkdir(parents=True, exist_ok=True)
        print(f"\n{len(failures)} undocumented outcome(s); inputs in {args.save_failures}:")
        for i, (name, outcome, data) in enumerate(failures):
            (args.save_failures / f"{name}_{i:05d}.bin").write_bytes(data)
            if i < 20:
                print(f"  {name}: {outcome}")
        return 1
    print("\nno undocumented outcome")
    return 0


if __name__ == "__main__":
    sys.exit(main())
