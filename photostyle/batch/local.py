"""Local worker processes (``spawn``): how many make sense, and the pool that survives a worker's death."""

from __future__ import annotations

import collections
import concurrent.futures as cf
import os

from .worker import _init_worker, _run_job

__all__ = ["default_workers"]


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
