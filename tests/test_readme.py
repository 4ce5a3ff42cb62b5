"""The README's Python examples run as written, and every name they use is defined.

Every ```python block of README.md is run, in README order, in one namespace (``__name__ ==
"__main__"``) and one temporary folder, as a reader pasting them into one session in an empty folder
would. The only change from "as written" is a cap on the work (``tests/_readme_caps.py``):
``photostyle.transfer`` runs at a working size of at most 64 px with 2 L-BFGS iterations per level and
``photostyle.run_lbfgs`` at most 2 iterations, in this process, in batch worker processes and in Ray
workers. Names, attributes, keyword arguments, files and outputs are the README's own.

A block skips, with the reason, when it needs what this machine lacks: the full normalised VGG-19 in
the torch hub cache (``make weights``), PyAV, Ray, matplotlib, or the segmentation model (cached, or
``$PHOTOSTYLE_SEG_MODEL``; never downloaded here). A block that uses a name of a skipped block skips too.
The name check (every name a block loads is defined by it, by an earlier block, or is a builtin) needs
none of them.
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from . import _readme_caps
from ._shared import ROOT, SHARED

README = ROOT / "README.md"
MODULE_NAMES = {"__name__"}  # defined in a script's namespace (the batch examples' entry-point guard)


@dataclass(frozen=True)
class Block:
    line: int  # README line of the ```python fence
    source: str

    @property
    def id(self) -> str:
        return f"README.md:{self.line}"


def python_blocks(text: str) -> list[Block]:
    """Every ```python fenced block of a Markdown text, with its line number."""
    blocks = []
    for match in re.finditer(r"^```python[ \t]*\n(.*?)^```[ \t]*$", text, flags=re.M | re.S):
        blocks.append(Block(text.count("\n", 0, match.start()) + 1, match.group(1)))
    return blocks


def names(tree: ast.AST) -> tuple[set[str], set[str]]:
    """(names a piece of code defines, names it loads)."""
    defined: set[str] = set()
    loaded: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else defined).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    raise ValueError("a star import hides which names a block defines; import names explicitly")
                defined.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            defined.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            defined.update(node.names)
    return defined, loaded


def undefined_names(blocks: list[Block]) -> dict[str, list[str]]:
    """{block id: names it loads that neither it, an earlier block nor builtins define}."""
    known = set(dir(builtins)) | MODULE_NAMES
    problems = {}
    for block in blocks:
        defined, loaded = names(ast.parse(block.source, filename=block.id))
        known |= defined
        missing = sorted(loaded - known)
        if missing:
            problems[block.id] = missing
    return problems


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------ names


def test_the_readme_has_its_examples():
    """The extraction finds the examples (a broken fence pattern would make every test below vacuous)."""
    assert len(BLOCKS) >= 9, [b.id for b in BLOCKS]
    assert any("ps.transfer(" in b.source for b in BLOCKS)
    for block in BLOCKS:
        compile(block.source, block.id, "exec")


def test_every_name_a_block_uses_is_defined():
    assert undefined_names(BLOCKS) == {}


def test_the_name_check_finds_undefined_names():
    blocks = [Block(1, "import numpy as np\nx = np.zeros(3)\n"),
              Block(5, "y = [v + x for v in x]\nz = content + image\nif __name__ == '__main__':\n    print(y)\n"),
              Block(9, "def f(a, *, b=1):\n    return a + b + w\nf(z)\n")]
    assert undefined_names(blocks) == {"README.md:5": ["content", "image"], "README.md:9": ["w"]}
    with pytest.raises(ValueError, match="star import"):
        undefined_names([Block(1, "from photostyle import *\n")])


# ------------------------------------------------------------------------------------------- runs


def _cached_weights() -> Path:
    from photostyle.weights import VGG19Weights

    return VGG19Weights.NORMALISED.cached_path()


def _missing(module: str, extra: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return f"{module} is not installed (pip install photostyle[{extra}])"
    return None


def requirements(source: str) -> list[str]:
    """Why a block cannot run on this machine (empty: it can)."""
    reasons = []
    if re.search(r"\b(transfer|VGG19Encoder|run_batch|restyle_video|render_and_restyle)\(", source):
        path = _cached_weights()
        if not path.exists():
            reasons.append(f"the full normalised VGG-19 is not in the cache ({path}); `make weights` fetches it")
    if "photostyle.display" in source:
        reasons.append(_missing("matplotlib", "notebooks"))
    if "restyle_video" in source or re.search(r"^import av\b", source, flags=re.M):
        reasons += [_missing("av", "video"), _missing("cv2", "video")]
    if "ray=" in source:
        reasons.append(_missing("ray", "ray"))
    if 'method="semantic"' in source:
        reasons.append(_missing("tflite", "semantic"))
        from photostyle.segmentation.semantic import find_segmentation_model

        if find_segmentation_model() is None:
            reasons.append("the segmentation model is neither cached nor in $PHOTOSTYLE_SEG_MODEL "
                           "(segmentation.download_segmentation_model() fetches it; this test never downloads)")
    return [r for r in reasons if r]


@dataclass
class Session:
    """What the blocks share: one namespace, one folder, and the names of the blocks that skipped."""

    folder: Path
    namespace: dict = field(default_factory=lambda: {"__name__": "__main__"})
    unavailable: dict[str, str] = field(default_factory=dict)  # name -> why its block skipped


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the examples are small; a second thread only contends on a shared machine
    with pytest.MonkeyPatch.context() as mp:
        for obj, name, wrap in _readme_caps.targets():
            mp.setattr(obj, name, wrap(getattr(obj, name)))
        from photostyle.batch import local

        mp.setattr(local, "_init_worker", _readme_caps.init_worker)  # spawned workers: caps after their setup
        mp.setenv("MPLBACKEND", "Agg")
        try:
            yield Session(tmp_path_factory.mktemp("readme"))
        finally:
            torch.set_num_threads(threads)


@pytest.fixture
def ray_with_caps():
    """A Ray session whose workers install the caps; run_batch(ray="auto") uses a session already
    started in the process as it is (the README says so)."""
    import ray

    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path},
                          "worker_process_setup_hook": "tests._readme_caps.install"})
    try:
        yield
    finally:
        ray.shutdown()


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_the_block_runs_as_written(block, session, monkeypatch, request):
    shared_model = SHARED / "models" / "deeplabv3_mobilenetv2_ade20k.tflite"
    if shared_model.is_file() and not os.environ.get("PHOTOSTYLE_SEG_MODEL"):
        monkeypatch.setenv("PHOTOSTYLE_SEG_MODEL", str(shared_model))  # as a user who set it would
    defined, loaded = names(ast.parse(block.source))
    reasons = requirements(block.source)
    if not reasons:
        reasons = [f"uses {name!r} of a block that skipped ({session.unavailable[name]})"
                   for name in sorted((loaded - defined) & set(session.unavailable))][:1]
    if reasons:
        for name in defined - set(session.namespace):
            session.unavailable.setdefault(name, reasons[0])
        pytest.skip("; ".join(reasons))
    if "ray=" in block.source:
        request.getfixturevalue("ray_with_caps")
    monkeypatch.chdir(session.folder)
    exec(compile(block.source, block.id, "exec"), session.namespace)  # noqa: S102 - the README's own code
    for name in defined:
        session.unavailable.pop(name, None)
    _check_outcome(block, session)


def _check_outcome(block: Block, session: Session) -> None:
    """A few facts per example, so that "ran" also means "did what the README says"."""
    ns, folder = session.namespace, session.folder
    if 'result = ps.transfer("content.jpg"' in block.source:
        from PIL import Image

        assert Image.open(folder / "out.png").size == (600, 400)  # the content photo's own size
        assert list(ns["result"].stages) == ["level1", "level2", "level3", "best_local_affine"]
        assert set(ns["result"].masks) == {"content", "style"}
    if 'seg.auto_segment(content, style, method="semantic")' in block.source:
        assert ns["masks"].names == {0: "whole photo"} and "one region each" in ns["masks"].notes[-1]
        assert ns["kept"].k > 1 and "table" in ns["kept"].names.values()
    if "ps.upsample_result(" in block.source:
        assert tuple(ns["full"].shape) == (1, 3, 400, 600)
        assert tuple(ns["content_small"].shape) == (1, 3, 171, 256)
    if "restyle_video(" in block.source:
        assert ns["s"].frames == 48 and ns["s"].keyframes[:2] == [0, 24]
        assert (folder / "clip_restyled.mp4").is_file()
    if "jobs_from_dir(" in block.source:
        assert ns["summary"].exit_code == 0 and ns["summary"].done == 2
        assert {p.name for p in (folder / "out").iterdir()} >= {"coffee.jpg", "chelsea.jpg", "results.jsonl"}
    if 'ray="auto"' in block.source:
        assert ns["summary"].exit_code == 0 and ns["summary"].runner.startswith("Ray")
        assert (folder / "out" / "coffee_auto.png").is_file() and (folder / "out" / "chelsea_384.png").is_file()
    if "spade.render_and_restyle(" in block.source:
        assert (folder / "render_restyled.png").is_file()
