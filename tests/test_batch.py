"""photostyle.batch: manifests, records, resume, local workers, Ray, and ``photostyle batch``.

Every run is tiny (lite preset on the genuine partial VGG-19, 32 px, 2 iterations per level) so the file
stays well under two minutes on two cores.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photostyle import batch as B
from photostyle.batch import BatchJob, jobs_from_dir, read_manifest, run_batch

from ._shared import ROOT

NAMES = ["p0.png", "p1.png", "p2.png"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Three 40x48 photos in ``photos/``, two style photos, and a file that is no image."""
    root = tmp_path_factory.mktemp("batch")
    rng = np.random.default_rng(0)
    (root / "photos").mkdir()
    for i, name in enumerate(NAMES):
        arr = (rng.random((40, 48, 3)) * 255).astype(np.uint8)
        arr[: 10 + 5 * i] //= 2  # a darker band: distinct, structured photos
        Image.fromarray(arr).save(root / "photos" / name)
    for name in ("style.png", "style2.png"):
        Image.fromarray((rng.random((36, 44, 3)) * 255).astype(np.uint8)).save(root / name)
    (root / "broken.png").write_bytes(b"this is not an image")
    return root


@pytest.fixture
def opts(shared_weights) -> dict:
    return dict(preset="lite", work_size=32, num_steps=2, weights=str(shared_weights), progress=False, threads=1)


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def _outputs(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name not in ("results.jsonl", B.LOCK_NAME))


def _write_manifest(path: Path, lines: list) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


# ------------------------------------------------------------------------------------- manifests


def test_manifest_with_bad_lines_is_refused_before_any_work(photos, opts):
    manifest = _write_manifest(photos / "bad.jsonl", [
        {"content": "photos/p0.png", "style": "style.png"},
        {"content": "photos/p1.png", "style": "style.png", "work_size": 4},
        "# a comment",
        "",
        '{"content": "photos/p2.png" "style": "style.png"}',
        {"content": "photos/nope.png", "style": "style.png", "stlye": 1},
        {"style": "style.png", "output": "p0.png"},
        {"content": "photos/p2.png", "style": "style.png", "output": "p0.png"},
        [1, 2],
        {"content": "photos/p2.png", "style": "style.png", "device": "cpu", "output": "q.png"},
    ])
    out = photos / "never"
    with pytest.raises(ValueError) as info:
        run_batch(manifest, out, **opts)
    assert str(info.value) == (
        f"manifest '{manifest}': 7 bad jobs, nothing was run; fix these and run again:\n"
        "  line 2: work_size: expected a whole number >= 8, got 4\n"
        "  line 5: not valid JSON (Expecting ',' delimiter at column 29)\n"
        "  line 6: unknown key 'stlye'; a job has content, style, output, content_mask, style_mask and options "
        f"{', '.join(B.JOB_OPTIONS)}\n"
        f"  line 6: content: file not found: '{photos / 'photos' / 'nope.png'}'\n"
        "  line 7: 'content' is missing\n"
        "  line 8: output 'p0.png' is also written by line 1; give each job its own \"output\"\n"
        "  line 9: expected a JSON object such as {\"content\": \"a.jpg\", \"style\": \"s.jpg\"}, got list\n"
        "  line 10: 'device' applies to the whole batch, not to one job; pass it to run_batch (CLI: --device)"
    )
    assert not out.exists()  # nothing was created, let alone run


def test_manifest_paths_masks_and_options(photos):
    manifest = _write_manifest(photos / "good.jsonl", [
        {"content": "photos/p0.png", "style": "style.png", "output": "sub/a.jpg", "num_steps": [1, 2],
         "content_mask": "auto"},
        {"content": "photos/p1.png", "style": "style2.png", "content_mask": "photos/p1.png",
         "style_mask": "style2.png", "preset": "fast"},
    ])
    jobs = read_manifest(manifest)
    assert jobs == [
        BatchJob(photos / "photos/p0.png", photos / "style.png", "sub/a.jpg", "auto", None, {"num_steps": [1, 2]},
                 "line 1"),
        BatchJob(photos / "photos/p1.png", photos / "style2.png", "p1.png", photos / "photos/p1.png",
                 photos / "style2.png", {"preset": "fast"}, "line 2"),
    ]
    with pytest.raises(ValueError, match=r"^jobs: 1 bad job, nothing was run; fix these and run again:\n"
                                         r"  job 1: give both content_mask and style_mask, or neither$"):
        run_batch([{"content": str(photos / "photos/p0.png"), "style": str(photos / "style.png"),
                    "content_mask": str(photos / "style.png")}], photos / "never")


def test_bad_batch_options(photos, opts):
    jobs = jobs_from_dir(photos / "photos", photos / "style.png")
    with pytest.raises(TypeError, match=r"^run_batch: encoder= is not a batch option \(each worker builds its own\)\.$"):
        run_batch(jobs, photos / "never", encoder=object())
    with pytest.raises(ValueError, match=r"^run_batch: preset: expected one of 'fast', 'paper', 'lite', got 'slow'\.$"):
        run_batch(jobs, photos / "never", preset="slow")
    with pytest.raises(ValueError, match=r"^workers: expected None or a whole number >= 0, got -1; e\.g\. workers=2\.$"):
        run_batch(jobs, photos / "never", workers=-1)
    empty = photos / "empty"
    empty.mkdir(exist_ok=True)
    with pytest.raises(ValueError, match=r"^content_dir: no photos in '.*empty' \(looked for \.png, \.jpg, "):
        jobs_from_dir(empty, photos / "style.png")
    assert not (photos / "never").exists()


# ------------------------------------------------------------------ records, resume, dry run, cache


def test_records_resume_and_changes(photos, opts, tmp_path):
    out = tmp_path / "out"
    jobs = jobs_from_dir(photos / "photos", photos / "style.png")
    first = run_batch(jobs, out, workers=0, **opts)
    assert (first.done, first.failed, first.skipped_done, first.exit_code) == (3, 0, 0, 0)
    assert _outputs(out) == NAMES
    recs = _records(out)
    assert [r["status"] for r in recs] == ["ok"] * 3  # in-process: no "started" lines
    rec = recs[0]
    assert rec["inputs"]["content"]["sha256"] == hashlib.sha256((photos / "photos" / rec["output"]).read_bytes()).hexdigest()
    assert rec["inputs"]["style"]["sha256"] == hashlib.sha256((photos / "style.png").read_bytes()).hexdigest()
    assert set(rec["metrics"]) == {"style_distance", "matting_energy", "edge_ssim"}
    assert all(np.isfinite(v) for v in rec["metrics"].values())
    assert rec["network"] == {"layout": "normalised", "source": str(Path(opts["weights"]).resolve()), "precision": "float32"}
    assert rec["settings"]["num_steps"] == 2 and rec["settings"]["work_size"] == 32 and rec["settings"]["seed"] == 612
    assert rec["timings"]["total"] > 0 and rec["size"] == [48, 40] and rec["error"] is None
    with Image.open(out / "p0.png") as im:
        assert im.size == (48, 40)

    stale = out / ".p0.k1ll3d_x.png"  # what a worker killed while writing p0.png leaves behind
    stale.write_bytes(b"half an image")
    again = run_batch(jobs, out, workers=0, **opts)  # nothing to do: the records match
    assert (again.done, again.skipped_done, again.exit_code) == (0, 3, 0)
    assert not stale.exists()  # removed by the next run, which holds the folder's lock
    assert len(_records(out)) == 3

    # One photo changes, one output disappears: exactly those two run again.
    changed = photos / "photos2"
    changed.mkdir()
    for name in NAMES:
        (changed / name).write_bytes((photos / "photos" / name).read_bytes())
    jobs = jobs_from_dir(changed, photos / "style.png")
    plan = run_batch(jobs, out, workers=0, dry_run=True, **opts)
    assert [(p.action, p.reason) for p in plan.planned] == [("skip", "done")] * 3  # same bytes, same hashes
    Image.fromarray(np.zeros((40, 48, 3), np.uint8)).save(changed / "p1.png")
    (out / "p2.png").unlink()
    plan = run_batch(jobs, out, workers=0, dry_run=True, **opts)
    assert [(p.action, p.reason) for p in plan.planned] == [("skip", "done"), ("run", "changed"),
                                                           ("run", "output missing")]
    redo = run_batch(jobs, out, workers=0, **opts)
    assert (redo.done, redo.skipped_done) == (2, 1)
    assert [r["output"] for r in _records(out)[3:]] == ["p1.png", "p2.png"]
    # A changed setting makes every job "changed".
    plan = run_batch(jobs, out, workers=0, dry_run=True, **{**opts, "num_steps": 3})
    assert {p.reason for p in plan.planned} == {"changed"}


def test_dry_run_lists_and_runs_nothing(photos, opts, tmp_path):
    out = tmp_path / "out"
    summary = run_batch(jobs_from_dir(photos / "photos", photos / "style.png"), out, dry_run=True, **opts)
    assert str(summary) == (
        "run   p0.png  <- p0.png + style.png  (new)\n"
        "run   p1.png  <- p1.png + style.png  (new)\n"
        "run   p2.png  <- p2.png + style.png  (new)\n"
        "dry run: 3 jobs: 3 would run, 0 skipped; nothing was written."
    )
    assert summary.exit_code == 0 and summary.records == []
    assert not out.exists()


def test_outputs_carry_their_photos_exif_unless_asked_not_to(photos, opts, tmp_path):
    """A camera photo stored turned: its output is upright and keeps its camera tags, as with
    ``photostyle transfer``; ``metadata=False`` writes none."""
    folder = tmp_path / "camera"
    folder.mkdir()
    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = 6, "TestCam"
    exif[0x8769] = {0x9003: "2026:12:04 10:00:00"}
    Image.open(photos / "photos" / "p0.png").save(folder / "c.png", exif=exif)  # 48 wide, 40 high as stored
    made = {}
    for metadata in (True, False):
        out = tmp_path / f"out_{metadata}"
        summary = run_batch(jobs_from_dir(folder, photos / "style.png"), out, workers=0, metadata=metadata, **opts)
        assert summary.exit_code == 0
        with Image.open(out / "c.png") as im:
            made[metadata] = (im.size, dict(im.getexif()), im.getexif().get_ifd(0x8769))
    assert made[True][0] == made[False][0] == (40, 48)  # upright
    assert made[True][1][0x010F] == "TestCam" and 0x0112 not in made[True][1]
    assert made[True][2][0x9003] == "2026:12:04 10:00:00"
    assert made[False][1] == {}


def test_a_16bit_tiff_gives_a_16bit_output(photos, opts, tmp_path):
    tifffile = pytest.importorskip("tifffile")
    folder = tmp_path / "deep"
    folder.mkdir()
    photo = np.asarray(Image.open(photos / "photos" / "p0.png")).astype(np.uint16) * 257
    tifffile.imwrite(folder / "d.tif", photo, photometric="rgb")
    summary = run_batch(jobs_from_dir(folder, photos / "style.png"), tmp_path / "out", workers=0, **opts)
    assert summary.exit_code == 0
    made = tifffile.imread(tmp_path / "out" / "d.tif")
    assert made.dtype == np.uint16 and made.shape == photo.shape


def test_foreign_output_is_not_overwritten(photos, opts, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "p1.png").write_bytes(b"mine")
    jobs = jobs_from_dir(photos / "photos", photos / "style.png")
    with pytest.raises(FileExistsError, match=r"outputs already exist in '.*' without a record in results\.jsonl: "
                                              r"p1\.png; nothing was run\. Pass overwrite=True"):
        run_batch(jobs, out, workers=0, **opts)
    assert (out / "p1.png").read_bytes() == b"mine" and not (out / "results.jsonl").exists()


def test_style_targets_computed_once_per_style(photos, opts, tmp_path, monkeypatch):
    """Three jobs on one style: with the worker's style cache the encoder runs two forward passes fewer
    (the style's Grams of jobs 2 and 3), and the outputs are bit-identical."""
    from photostyle.batch import worker as batch_worker
    from photostyle.encoders import VGG19Encoder

    calls = []
    forward = VGG19Encoder.forward
    monkeypatch.setattr(VGG19Encoder, "forward", lambda self, x: calls.append(tuple(x.shape)) or forward(self, x))
    jobs = jobs_from_dir(photos / "photos", photos / "style.png")
    counts = {}
    for size in (4, 0):
        monkeypatch.setattr(batch_worker, "_STYLE_CACHE_SIZE", size)  # the worker's module reads it
        batch_worker._STYLE_CACHES.clear()
        calls.clear()
        run_batch(jobs, tmp_path / f"cache{size}", workers=0, **{**opts, "num_steps": 1})
        counts[size] = len(calls)
    assert counts[0] - counts[4] == 2
    for name in NAMES:
        assert (tmp_path / "cache4" / name).read_bytes() == (tmp_path / "cache0" / name).read_bytes()


# ----------------------------------------------------------------------- worker processes, failures


def _failing_manifest(photos: Path) -> Path:
    return _write_manifest(photos / "with_broken.jsonl", [
        {"content": "photos/p0.png", "style": "style.png"},
        {"content": "broken.png", "style": "style.png"},
        {"content": "photos/p1.png", "style": "style2.png"},
        {"content": "photos/p2.png", "style": "style.png"},
    ])


def _assert_failure_recorded(summary, out: Path, photos: Path) -> None:
    assert (summary.done, summary.failed, summary.exit_code) == (3, 1, 1)
    assert _outputs(out) == NAMES
    final = {r["output"]: r for r in _records(out) if r["status"] != "started"}
    assert final["broken.png"]["status"] == "failed"
    assert final["broken.png"]["error"].startswith(f"ValueError: cannot read '{photos / 'broken.png'}' as an image")


def test_failing_job_is_recorded_and_others_complete(photos, opts, tmp_path):
    out = tmp_path / "out"
    summary = run_batch(_failing_manifest(photos), out, workers=0, **opts)
    _assert_failure_recorded(summary, out, photos)
    assert [r["status"] for r in _records(out)] == ["ok", "failed", "ok", "ok"]  # ordered by style
    assert "1 failed" in str(summary) and "  failed: broken.png: ValueError: cannot read" in str(summary)

    skipped = run_batch(_failing_manifest(photos), out, workers=0, **opts)
    assert (skipped.done, skipped.failed, skipped.skipped_done, skipped.skipped_failed, skipped.exit_code) == \
        (0, 0, 3, 1, 1)
    retried = run_batch(_failing_manifest(photos), out, workers=0, retry_failed=True, **opts)
    assert (retried.done, retried.failed, retried.skipped_done) == (0, 1, 3)
    assert [p.reason for p in retried.planned] == ["done", "retry", "done", "done"]


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in cmd:
                out.append(int(entry.name))
    return out


def _wait_for(predicate, timeout: float = 240.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def _ok_count(out: Path) -> int:
    path = out / "results.jsonl"
    return path.read_text().count('"status": "ok"') if path.exists() else 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds worker processes through /proc")
def test_killed_worker_then_restart_leaves_every_output_once(photos, shared_weights, tmp_path):
    """SIGKILL one worker mid-run (the pool is rebuilt and its lost jobs run again), then SIGKILL the
    whole batch mid-run and start it again: every output ends up present exactly once, whole and
    recorded, with no temporary file left behind."""
    names = [f"c{i}.png" for i in range(6)]
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, name in enumerate(names):
        (folder / name).write_bytes((photos / "photos" / NAMES[i % 3]).read_bytes())
    options = dict(preset="lite", work_size=32, num_steps=4, weights=str(shared_weights), progress=False)
    code = (
        "import sys\nfrom photostyle.batch import run_batch, jobs_from_dir\n"
        f"s = run_batch(jobs_from_dir({str(folder)!r}, {str(photos / 'style.png')!r}), sys.argv[1], workers=2, "
        f"threads=1, **{options!r})\nprint(s)\nsys.exit(s.exit_code)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}

    def start():
        return subprocess.Popen([sys.executable, "-c", code, str(out)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)

    out = tmp_path / "out"
    proc = start()
    _wait_for(lambda: _ok_count(out) >= 1 or proc.poll() is not None)
    victims = _children(proc.pid)
    assert victims, "no worker process found"
    os.kill(victims[0], signal.SIGKILL)
    done_at_kill = _ok_count(out)
    # The pool broke (its other worker's job was lost too); a fresh pool carries on ...
    _wait_for(lambda: _ok_count(out) > done_at_kill or proc.poll() is not None)
    assert proc.poll() is None, "the run ended before it could be killed"
    # ... until the whole batch is killed in the middle of its run.
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    finished_before = _ok_count(out)
    assert 2 <= finished_before < len(names)

    proc = start()  # the run restarted
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert f"{len(names) - finished_before} done, 0 failed, {finished_before} already done" in stdout
    assert _outputs(out) == names  # every output, once; no temporary ".c1.xxxx.png" left
    latest = B._read_records(out / "results.jsonl")
    assert {k: v["status"] for k, v in latest.items()} == dict.fromkeys(names, "ok")
    for name in names:
        with Image.open(out / name) as im:
            im.load()
            assert im.size == (48, 40)
    records = _records(out)
    assert "started" in {r["status"] for r in records}  # workers' jobs are announced before they run
    assert len({r["worker"] for r in records if r["status"] == "ok"}) >= 2  # several processes did the work
    rerun = run_batch(jobs_from_dir(folder, photos / "style.png"), out, workers=0, threads=1, **options)
    assert (rerun.done, rerun.skipped_done) == (0, 6)


# ---------------------------------------------------------------------------------------------- Ray


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install photostyle[ray])")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    yield ray
    ray.shutdown()


def test_ray_results_equal_local_and_failures_are_recorded(ray_session, photos, opts, tmp_path):
    local = run_batch(_failing_manifest(photos), tmp_path / "local", workers=0, **opts)  # threads=1
    on_ray = run_batch(_failing_manifest(photos), tmp_path / "ray", ray="auto", **opts)
    _assert_failure_recorded(on_ray, tmp_path / "ray", photos)
    assert on_ray.runner == "Ray (2 CPUs, 1 per task)"
    for name in NAMES:  # one torch thread per task on both: bit-identical results
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    metrics = {r["output"]: r["metrics"] for r in local.records}
    assert {r["output"]: r["metrics"] for r in on_ray.records} == metrics
    again = run_batch(_failing_manifest(photos), tmp_path / "ray", ray="auto", **opts)
    assert (again.done, again.skipped_done, again.skipped_failed) == (0, 3, 1)


def test_ray_missing_is_a_clear_import_error(photos, opts, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"^ray: running a batch on Ray needs the ray package; pip install "
                                          r"photostyle\[ray\] \(or pip install ray\), or run without ray= "
                                          r"\(local worker processes\)\.$"):
        run_batch(jobs_from_dir(photos / "photos", photos / "style.png"), tmp_path / "out", ray="auto", **opts)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------- CLI


@pytest.fixture
def cli_main(monkeypatch):
    """``photostyle.cli.main`` with the batch subcommand (added here until cli.py adds it itself)."""
    from photostyle import cli
    from photostyle.batch_cli import add_batch_subcommand

    if "batch" not in cli.build_parser()._subparsers._group_actions[0].choices:
        original = cli._add_transfer
        monkeypatch.setattr(cli, "_add_transfer", lambda sub: (original(sub), add_batch_subcommand(sub)))
    return cli.main


def test_cli_folder_run_resume_and_exit_codes(cli_main, photos, shared_weights, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["batch", "--content-dir", str(photos / "photos"), "--style", str(photos / "style.png"), "-o", str(out),
            "--preset", "lite", "--size", "32", "--steps", "2", "--weights", str(shared_weights), "--workers", "0",
            "--quiet"]
    assert cli_main(args) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("batch: 3 jobs: 3 done, 0 failed, 0 already done (")
    assert printed.rstrip().endswith(f"threads); records in {out / 'results.jsonl'}")
    assert _outputs(out) == NAMES
    assert cli_main(args) == 0
    assert capsys.readouterr().out.startswith("batch: 3 jobs: 0 done, 0 failed, 3 already done (")
    assert cli_main(args + ["--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "dry run: 3 jobs: 0 would run, 3 skipped; nothing was written."

    manifest = _write_manifest(tmp_path / "jobs.jsonl", [{"content": str(photos / "broken.png"),
                                                         "style": str(photos / "style.png")}])
    assert cli_main(["batch", str(manifest), "-o", str(out), "--preset", "lite", "--size", "32", "--steps", "2",
                     "--weights", str(shared_weights), "--workers", "0", "--quiet"]) == 1
    assert "  failed: broken.png: ValueError: cannot read" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["batch", "-o", "x"], "photostyle: error: give a manifest (photostyle batch JOBS.jsonl -o OUTDIR) or "
                           "--content-dir DIR --style FILE, not both or neither"),
    (["batch", "--content-dir", "d", "-o", "x"], "photostyle: error: --content-dir needs --style FILE (the look for "
                                                 "every photo)"),
    (["batch", "--content-dir", "d", "--style", "s", "--content-mask", "m.png", "-o", "x"],
     "photostyle: error: --content-mask/--style-mask with --content-dir: masks per photo need a manifest; or use "
     "--auto-masks"),
])
def test_cli_usage_errors(cli_main, argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli_main(argv) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == message
    assert not (tmp_path / "x").exists()


def test_cli_bad_manifest_exit_2(cli_main, photos, tmp_path, capsys):
    manifest = _write_manifest(tmp_path / "jobs.jsonl", ['{"content": ', {"content": "a.png"}])
    assert cli_main(["batch", str(manifest), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[1:] == [
        "  line 1: not valid JSON (Expecting value at column 12)",
        f"  line 2: content: file not found: '{tmp_path / 'a.png'}'",
        "  line 2: 'style' is missing",
    ]
    assert not (tmp_path / "out").exists()
