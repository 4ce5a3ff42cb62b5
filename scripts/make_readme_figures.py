"""Regenerate the README's pictures (docs/images/*.png) with the library, from photos the project may ship.

    .venv/bin/python scripts/make_readme_figures.py                 # every figure that does not exist yet
    .venv/bin/python scripts/make_readme_figures.py --overwrite     # all of them again
    .venv/bin/python scripts/make_readme_figures.py --only hero masks --size 384 --steps 100,30,10

Only scikit-image's bundled photos are used (``skimage.data.coffee()``, ``rocket()``, ``chelsea()``,
``astronaut()``), never ../shared/data, whose licence forbids committing its images.

Figures
-------
hero.png
    content | style | result: coffee in the look of the rocket launch pad at dusk, the ``fast`` preset's
    result at the photo's full size, titled with its size and the seconds the transfer took.
fullres.png
    the same pair at 12 megapixels: coffee upscaled (Lanczos) to 4242x2828, restyled with the ``fast``
    preset and delivered at that size, titled with the seconds it took; beside the whole result, the same
    600x450 window of the content and of the result at 100 %. The upscaled photo stands in for a camera's
    12 MP file (scikit-image ships none that large): it shows the delivery, not a camera's detail.
masks.png
    automatic masks (``segmentation.auto_segment``, the weight-free clustering: scikit-image's photos are
    not scenes the semantic network labels well) over both photos, then the result without and with them.
nb01.png ... nb04.png
    each notebook's main figure: the notebook is executed (nbclient) with ``PHOTOSTYLE_NB_PHOTOS=shipped``
    and ``PHOTOSTYLE_NB_FIGURES`` pointing at a temporary folder, where it saves that figure.

Network: the full normalised VGG-19 with the paper's layers (``--preset fast``, the default, or ``paper``):
``--weights``, else ``$PHOTOSTYLE_VGG_WEIGHTS``, else the torch hub cache, where ``make weights`` /
``photostyle fetch-weights`` put it (the script stops with that advice when it is missing). On a CPU the
whole run takes several minutes. Existing files are never replaced without ``--overwrite``; each file is
written to a temporary name and renamed, and kept under ``--max-kb`` by lowering the resolution.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = {
    "nb01.png": "01_quickstart.ipynb",
    "nb02.png": "02_masks.ipynb",
    "nb03.png": "03_paint_to_photo.ipynb",
    "nb04.png": "04_quality_and_speed.ipynb",
}
FIGURES = ["hero.png", "fullres.png", "masks.png", *NOTEBOOKS]
sys.path.insert(0, str(ROOT))


def _steps(text: str | None) -> int | tuple[int, ...] | None:
    """``--steps``: None (the preset's), one count for every level, or comma-separated counts per level."""
    if text is None:
        return None
    try:
        counts = tuple(int(n) for n in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or comma-separated integers, got {text!r}") from None
    return counts if len(counts) > 1 else counts[0]


def _network(weights: str | None) -> str:
    """The VGG-19 file the run uses; exits with advice when the default network is not in the cache."""
    from photostyle.weights import VGG19Weights, weights_from_environment

    chosen = weights or weights_from_environment()
    if chosen:
        return chosen
    path = VGG19Weights.NORMALISED.cached_path()
    if not path.exists():
        raise SystemExit(f"make_readme_figures: the full normalised VGG-19 is not in the cache ({path}); run "
                         "`make weights` (or `photostyle fetch-weights`), or pass --weights.")
    return str(path)


def _png_bytes(image, max_bytes: int) -> bytes:
    """PNG of a PIL image, scaled down in steps until it fits in ``max_bytes``."""
    from PIL import Image

    image = image.convert("RGB")
    scale = 1.0
    while True:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        candidate = image if scale == 1.0 else image.resize(size, Image.LANCZOS)
        buf = io.BytesIO()
        candidate.save(buf, format="PNG", optimize=True)
        if buf.tell() <= max_bytes or min(size) < 64:
            return buf.getvalue()
        scale *= 0.85


def _write(data: bytes, path: Path, overwrite: bool) -> None:
    from photostyle.image import atomic_write_path

    with atomic_write_path(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    print(f"  wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} ({len(data) // 1024} KB)")


def _figure_image(fig, dpi: int):
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _where(device: str) -> str:
    import torch

    from photostyle import resolve_device

    dev = resolve_device(device)
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"CPU, {torch.get_num_threads()} thread{'s' if torch.get_num_threads() > 1 else ''}"


def make_hero(args, weights, preset) -> bytes:
    from skimage import data

    import photostyle as ps
    from photostyle.display import show_images

    content, style = data.coffee(), data.rocket()
    t0 = time.perf_counter()
    result = ps.transfer(content, style, preset=preset, work_size=args.size, num_steps=args.steps,
                         output_size="full", weights=weights, device=args.device, progress=args.progress)
    seconds = time.perf_counter() - t0
    levels = ", ".join(f"{name} {result.timings[name]:.0f} s" for name in (lv.name for lv in result.preset.levels)
                       if name in result.timings)
    print(f"  hero: {seconds:.0f} s ({levels}; {result.image.width}x{result.image.height}, "
          f"{result.network['layout']} VGG-19, {result.weights})")
    title = (f"result: '{preset}' preset, {result.image.width}x{result.image.height}, {seconds:.0f} s "
             f"({_where(args.device)})")
    fig = show_images({f"content ({content.shape[1]}x{content.shape[0]})": content, "style": style,
                       title: result.image}, size=args.hero_height)
    return _png_bytes(_figure_image(fig, args.dpi), args.max_kb * 1024)


def make_fullres(args, weights, preset) -> bytes:
    import numpy as np
    from PIL import Image
    from skimage import data

    import photostyle as ps
    from photostyle.display import show_images

    big = np.asarray(Image.fromarray(data.coffee()).resize((4242, 2828), Image.LANCZOS))
    style = data.rocket()
    ps.reuse_freed_memory()  # as the photostyle command does
    t0 = time.perf_counter()
    result = ps.transfer(big, style, preset=preset, work_size=args.size, num_steps=args.steps, output_size="full",
                         weights=weights, device=args.device, progress=args.progress)
    seconds = time.perf_counter() - t0
    t = result.timings
    levels = " + ".join(f"{t[lv.name]:.0f}" for lv in result.preset.levels if lv.name in t)
    print(f"  fullres: {seconds:.0f} s (setup {t['setup']:.1f}, levels {levels}, upsample {t['upsample']:.1f} s; "
          f"{result.image.width}x{result.image.height}, {result.network['precision']})")
    y, x = 2000, 2150  # a window on the spoon, the cup's foot and the saucer
    window = (slice(y, y + 450), slice(x, x + 600))
    out = np.asarray(result.image)
    fig = show_images({
        f"result, {result.image.width}x{result.image.height} ({result.image.width * result.image.height / 1e6:.0f} MP), "
        f"{seconds:.0f} s ({_where(args.device)})": out,
        "content at 100 % (a 600x450 window)": big[window],
        "result at 100 %": out[window],
    }, size=args.hero_height)
    return _png_bytes(_figure_image(fig, args.dpi), args.max_kb * 1024)


def make_masks(args, weights, preset) -> bytes:
    from skimage import data

    import photostyle as ps
    from photostyle import segmentation
    from photostyle.display import show_images

    content, style = data.astronaut(), data.rocket()
    auto = segmentation.auto_segment(content, style, k=args.k, method="cluster")
    common = dict(preset=preset, work_size=args.masks_size, num_steps=args.steps, weights=weights,
                  device=args.device, progress=args.progress)
    t0 = time.perf_counter()
    plain = ps.transfer(content, style, **common)
    masked = ps.transfer(content, style, content_mask=auto.content_labels, style_mask=auto.style_labels, **common)
    print(f"  masks: {time.perf_counter() - t0:.0f} s (k = {auto.k}, matched {auto.matched})")
    fig = show_images({
        "content + automatic masks": segmentation.overlay(content, auto.content_labels, alpha=0.45),
        "style + automatic masks": segmentation.overlay(style, auto.style_labels, alpha=0.45),
        "without masks": plain.image,
        "with the masks": masked.image,
    }, size=2.6)
    return _png_bytes(_figure_image(fig, args.dpi), args.max_kb * 1024)


def make_notebook_figures(args, weights, wanted: list[str]) -> dict[str, bytes]:
    """Execute the notebooks that make the wanted figures; return {figure name: PNG bytes}."""
    from PIL import Image

    out: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="photostyle-figures-") as tmp:
        env = dict(os.environ)
        env.update({
            "PHOTOSTYLE_NB_PHOTOS": "shipped",
            "PHOTOSTYLE_NB_FIGURES": tmp,
            "PHOTOSTYLE_NB_OUT": str(Path(tmp) / "outputs"),
            "PHOTOSTYLE_NB_PRESET": args.preset,
            "PHOTOSTYLE_NB_SIZE": str(args.nb_size),
            "PHOTOSTYLE_NB_PROGRESS": "0",
        })
        if args.nb_steps:
            env["PHOTOSTYLE_NB_STEPS"] = args.nb_steps
        if weights:
            env["PHOTOSTYLE_VGG_WEIGHTS"] = weights
        for figure in wanted:
            notebook = NOTEBOOKS[figure]
            t0 = time.perf_counter()
            code = (
                "import sys, nbformat, nbclient\n"
                "nb = nbformat.read(sys.argv[1], as_version=4)\n"
                "nbclient.NotebookClient(nb, timeout=1800, kernel_name='python3',\n"
                "                        resources={'metadata': {'path': sys.argv[2]}}).execute()\n"
            )
            subprocess.run([sys.executable, "-c", code, str(ROOT / "notebooks" / notebook), str(ROOT / "notebooks")],
                           env=env, check=True)
            saved = Path(tmp) / figure
            if not saved.exists():
                raise RuntimeError(f"{notebook} ran but saved no {figure} into PHOTOSTYLE_NB_FIGURES.")
            with Image.open(saved) as im:
                out[figure] = _png_bytes(im, args.max_kb * 1024)
            print(f"  {figure}: {notebook} ran in {time.perf_counter() - t0:.0f} s")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images", help="folder of the figures")
    parser.add_argument("--only", nargs="+", choices=[f.removesuffix(".png") for f in FIGURES],
                        help="make only these figures")
    parser.add_argument("--overwrite", action="store_true", help="replace figures that exist")
    parser.add_argument("--weights", help="a full VGG-19 file (default: $PHOTOSTYLE_VGG_WEIGHTS, else the cached "
                                          "normalised VGG-19)")
    parser.add_argument("--preset", choices=["fast", "paper"], default="fast", help="preset of every figure")
    parser.add_argument("--size", type=int, default=None,
                        help="working size of the hero (px; default the preset's, 512 fast); the result is full size")
    parser.add_argument("--masks-size", type=int, default=256, help="working size of the masks figure (px)")
    parser.add_argument("--steps", type=_steps, default=None,
                        help="L-BFGS iterations of hero and masks: one count, or one per level (e.g. 100,30,10); "
                             "default the preset's")
    parser.add_argument("--hero-height", type=float, default=3.0, help="height of the hero's panels (inches)")
    parser.add_argument("--k", type=int, default=None, help="regions of the automatic masks (default: chosen)")
    parser.add_argument("--nb-size", type=int, default=192, help="PHOTOSTYLE_NB_SIZE for the notebook figures")
    parser.add_argument("--nb-steps", default=None,
                        help="PHOTOSTYLE_NB_STEPS for the notebook figures (default the notebooks' own)")
    parser.add_argument("--dpi", type=int, default=100)
    parser.add_argument("--max-kb", type=int, default=280, help="largest file size (KB)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--progress", action="store_true", help="show progress bars")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads, here and in the notebooks' kernels (1 is fastest on busy cores)")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
        os.environ["PHOTOSTYLE_NB_THREADS"] = str(args.threads)

    import matplotlib

    matplotlib.use("Agg")
    wanted = [f"{name}.png" for name in args.only] if args.only else list(FIGURES)
    args.out.mkdir(parents=True, exist_ok=True)
    existing = [f for f in wanted if (args.out / f).exists()]
    if existing and not args.overwrite:
        if args.only:
            print(f"make_readme_figures: {', '.join(existing)} already in {args.out}; pass --overwrite to replace "
                  "them.", file=sys.stderr)
            return 2
        print(f"make_readme_figures: keeping {', '.join(existing)} (pass --overwrite to replace them)")
        wanted = [f for f in wanted if f not in existing]
    if not wanted:
        print("make_readme_figures: nothing to do.")
        return 0

    weights = args.weights
    preset = args.preset
    print(f"make_readme_figures: {', '.join(wanted)}; preset '{preset}', network {_network(weights)}")
    makers = {"hero.png": make_hero, "fullres.png": make_fullres, "masks.png": make_masks}
    for figure in [f for f in wanted if f in makers]:
        _write(makers[figure](args, weights, preset), args.out / figure, args.overwrite)
    notebook_figures = [f for f in wanted if f in NOTEBOOKS]
    if notebook_figures:
        for figure, data in make_notebook_figures(args, weights, notebook_figures).items():
            _write(data, args.out / figure, args.overwrite)
    return 0


if __name__ == "__main__":
    sys.exit(main())
