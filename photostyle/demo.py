"""``python -m photostyle.demo`` (what ``make demo`` runs): one transfer on a bundled pair.

The pair ships inside scikit-image's wheel: ``skimage.data.coffee()`` (content) takes the look of
``skimage.data.rocket()`` (a launch pad at dusk). The paper preset is used, downloading the Caffe
VGG-19 on first use; with ``PHOTOSTYLE_VGG_WEIGHTS`` pointing at a file that ends before the paper's
layers (such as ``../shared/weights/vgg19_normalised_conv3_1.pth``) the demo says so and uses the
``lite`` preset.

Environment: ``PHOTOSTYLE_DEMO_SIZE`` (long side, default 256), ``PHOTOSTYLE_DEMO_STEPS`` (L-BFGS
iterations per stage, default 150), ``PHOTOSTYLE_DEMO_OUT`` (output folder, default ``demo_output``).
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


def choose_preset(weights_path: str | None) -> tuple[str, str | None]:
    """The preset the weights can run, and a note to print when it is not the paper's."""
    if not weights_path:
        return "paper", None
    from .encoders import load_vgg19_weights
    from .transfer import PRESETS

    loaded = load_vgg19_weights(weights_path)
    needed = {layer.replace("relu", "conv") for layer in PRESETS["paper"].content_layers + PRESETS["paper"].style_layers}
    if needed <= set(loaded.available):
        return "paper", None
    deepest = loaded.available[-1] if loaded.available else "nothing"
    return "lite", (
        f"the VGG-19 weights in '{weights_path}' end at {deepest}; the paper preset needs conv4_2 and "
        "conv5_1, so the 'lite' preset (layers up to relu3_1) is used."
    )


def main() -> int:
    import torch
    from PIL import Image
    from skimage import data

    from .image import resize_long_side, save_image, to_pil, to_tensor
    from .transfer import transfer

    size = int(os.environ.get("PHOTOSTYLE_DEMO_SIZE", "256"))
    steps = int(os.environ.get("PHOTOSTYLE_DEMO_STEPS", "150"))
    out_dir = Path(os.environ.get("PHOTOSTYLE_DEMO_OUT", "demo_output"))
    out_dir.mkdir(parents=True, exist_ok=True)

    weights = os.environ.get("PHOTOSTYLE_VGG_WEIGHTS") or None
    preset, note = choose_preset(weights)
    if note:
        print(f"photostyle demo: {note}")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"photostyle demo: coffee (content) x rocket at dusk (style), preset '{preset}', {size} px, "
          f"{steps}+{steps} L-BFGS iterations on {device}")
    content, style = data.coffee(), data.rocket()
    result = transfer(content, style, preset=preset, size=size, num_steps=steps, device=device, progress=True)

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
    print(f"photostyle demo: wrote {out} (content | style | result: {strip_path}); "
          f"stage1 {t['stage1']:.1f}s, stage2 {t['stage2']:.1f}s, total {t['total']:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
