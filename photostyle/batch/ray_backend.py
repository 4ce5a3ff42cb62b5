"""The Ray backend: one task per job, inputs and outputs through Ray's object store."""

from __future__ import annotations

import collections
import os
from pathlib import Path
from typing import Any

from .worker import _run_job_shipped


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
            here = str(Path(__file__).resolve().parents[2])
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
                        from ..image import atomic_write_path

                        with atomic_write_path(spec["output"], overwrite=spec["overwrite"]) as tmp:
                            tmp.write_bytes(data)
                    except Exception as exc:  # noqa: BLE001
                        result.update(status="failed", error=f"{type(exc).__name__}: {exc}")
                on_result(spec, result)
        return f"Ray ({cpus} CPU{'s' if cpus != 1 else ''}{f', {gpus} GPUs' if gpus else ''}, {per_task} per task)"
    finally:
        if started_here:
            ray.shutdown()
