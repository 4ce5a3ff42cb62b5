"""Every notebook in notebooks/ runs top to bottom in a fresh Jupyter kernel, on the CPU, at a small size.

The kernel runs this very interpreter (a kernelspec written for the test and put first on
``JUPYTER_PATH``, so a user's own ``python3`` kernelspec cannot point it at another Python), with the
environment each notebook's settings cell reads: the full normalised VGG-19 from the torch hub cache
(``make weights`` puts it there; the test skips without it) and the 'fast' preset, a small working size
and step budget, progress bars on (tqdm.auto's widgets), outputs written to a temporary folder. The
``dpst`` run uses ../shared (DPST pairs; the segmentation network, so semantic automatic masks); the
``shipped`` run is what a clone without ../shared runs (scikit-image's photos; automatic masks by
clustering). A notebook that raises fails the test; each must also show its figures.

Budget: ``PHOTOSTYLE_NB_SIZE`` / ``PHOTOSTYLE_NB_STEPS`` / ``PHOTOSTYLE_NB_SPADE_STEPS`` /
``PHOTOSTYLE_NB_THREADS`` from the environment override the CI defaults below. The executed copies are
kept in pytest's temporary folder (``--basetemp`` to find them) for a look at the outputs.
"""

from __future__ import annotations

import json
import os
import sys
import time

import pytest

from ._shared import DPST, ROOT

NOTEBOOK_DIR = ROOT / "notebooks"

# name -> the least number of images (PNG outputs) the notebook shows when it ran as it should
NOTEBOOKS = {
    "01_quickstart.ipynb": 5,  # pair, live preview, stages, loss history, a setting tried again
    "02_masks.ipynb": 4,  # colour-coded masks, automatic masks, with/without masks, photo-weight grid
    "03_paint_to_photo.ipynb": 4,  # label map, training photos, render, restyle
    "04_quality_and_speed.ipynb": 4,  # results, metrics, per-iteration timing, per-phase timing
}

CI_ENV = {
    # The full VGG-19 at a 96 px working size, few iterations per level of the 'fast' preset (3 levels).
    "PHOTOSTYLE_NB_SIZE": "96",
    "PHOTOSTYLE_NB_STEPS": "30,8,4",
    "PHOTOSTYLE_NB_SPADE_STEPS": "40",
    # Tiny models on two shared cores: one thread avoids pathological slow-downs when the cores are busy.
    "PHOTOSTYLE_NB_THREADS": "1",
    "PHOTOSTYLE_NB_PROGRESS": "1",
}


def test_every_notebook_is_tested_and_stored_without_outputs():
    nbformat = pytest.importorskip("nbformat", reason="the notebooks extra (nbformat) is not installed")
    found = sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb"))
    assert found == sorted(NOTEBOOKS), "add new notebooks to NOTEBOOKS in tests/test_notebooks.py"
    for name in found:
        nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{name}: strip outputs before committing"
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), f"{name}: title first"
        assert "PHOTOSTYLE_NB_SIZE" in nb.cells[1].source, f"{name}: the settings cell comes second"


KERNEL = "photostyle-notebook-test"


def _kernelspec(folder) -> str:
    """A kernelspec starting an IPython kernel with this interpreter; returns the JUPYTER_PATH entry."""
    spec = folder / "kernels" / KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "photostyle tests", "language": "python",
    }))
    return str(folder)


def _images(nb) -> int:
    return sum(
        1
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") in ("display_data", "execute_result") and "image/png" in out.get("data", {})
    )


@pytest.mark.slow
@pytest.mark.parametrize("photos", ["dpst", "shipped"])
@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_runs_top_to_bottom(name, photos, tmp_path, monkeypatch):
    """Both branches of every notebook: ../shared's DPST pairs, and the photos scikit-image ships (what a
    user's clone without ../shared runs)."""
    nbformat = pytest.importorskip("nbformat", reason="the notebooks extra (nbformat) is not installed")
    nbclient = pytest.importorskip("nbclient", reason="the notebooks extra (nbclient via nbmake) is not installed")
    pytest.importorskip("ipykernel", reason="the notebooks extra (ipykernel) is not installed")
    pytest.importorskip("matplotlib", reason="the notebooks extra (matplotlib) is not installed")
    from photostyle.weights import VGG19Weights

    if not VGG19Weights.NORMALISED.cached_path().exists():
        pytest.skip(f"the full normalised VGG-19 is not in the cache ({VGG19Weights.NORMALISED.cached_path()}); "
                    "`make weights` fetches it (the notebooks would download it)")
    if photos == "dpst" and not DPST.is_dir():
        pytest.skip(f"DPST pairs not found at {DPST} (../shared is absent in a user's clone)")
    monkeypatch.setenv("PHOTOSTYLE_NB_PHOTOS", "auto" if photos == "dpst" else "shipped")
    for key, value in CI_ENV.items():
        monkeypatch.setenv(key, os.environ.get(key, value))
    monkeypatch.delenv("PHOTOSTYLE_VGG_WEIGHTS", raising=False)  # the default network: the cached full VGG-19
    monkeypatch.delenv("PHOTOSTYLE_SEG_MODEL", raising=False)  # dpst: ../shared's model; shipped: clustering
    monkeypatch.delenv("PHOTOSTYLE_NB_PRESET", raising=False)  # the notebooks' default, 'fast'
    monkeypatch.setenv("PHOTOSTYLE_NB_OUT", str(tmp_path / "outputs"))
    monkeypatch.delenv("PHOTOSTYLE_NB_FIGURES", raising=False)
    monkeypatch.delenv("PHOTOSTYLE_SPADE_CHECKPOINT", raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # the CPU, as CI has
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    jupyter_path = [_kernelspec(tmp_path / "jupyter"), os.environ.get("JUPYTER_PATH", "")]
    monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join(p for p in jupyter_path if p))

    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name=KERNEL, resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    t0 = time.perf_counter()
    try:
        client.execute()
    finally:
        nbformat.write(nb, tmp_path / name)  # the executed copy, for a look at what went wrong
    seconds = time.perf_counter() - t0
    print(f"{name} ({photos}): {seconds:.1f} s")

    errors = [out for cell in nb.cells for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert not errors, errors
    images = _images(nb)
    assert images >= NOTEBOOKS[name], f"{name} showed {images} images, expected at least {NOTEBOOKS[name]}"
    if name == "01_quickstart.ipynb":
        assert (tmp_path / "outputs" / "01_quickstart.png").is_file()
