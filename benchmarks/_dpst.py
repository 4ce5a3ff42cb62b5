"""The DPST pairs of ../shared for benchmarks: images, hand masks, the paper's results, the three measures.

Quality is judged against the paper's own results (``../shared/data/dpst/paper/best<i>.jpg``) at equal
size: both downscaled to ``size`` px (long side), with the pair's hand masks, style distance at the
paper's five style layers (relu1_1 ... relu5_1) of the full normalised VGG-19.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DPST = SHARED / "data" / "dpst"
sys.path.insert(0, str(ROOT))

PAIRS = (2, 4, 9, 13, 15, 20, 29, 30, 31, 44, 45, 58)
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def available() -> str | None:
    """None when the data is there, else why not."""
    if not DPST.exists():
        return f"../shared/data/dpst not found at {DPST}"
    return None


def paths(index: int) -> dict[str, Path]:
    return {
        "content": DPST / "input" / f"in{index}.png",
        "style": DPST / "style" / f"tar{index}.png",
        "content_mask": DPST / "segmentation" / f"in{index}.png",
        "style_mask": DPST / "segmentation" / f"tar{index}.png",
        "paper": DPST / "paper" / f"best{index}.jpg",
    }


@dataclass
class Judge:
    """Everything needed to score results of one pair at one size (built once, reused)."""

    index: int
    size: int
    content: object
    style: object
    paper: object
    content_labels: object
    style_labels: object
    laplacian: object

    @classmethod
    def build(cls, index: int, size: int) -> "Judge":
        from photostyle import segmentation
        from photostyle.image import resize_long_side, resize_to, to_tensor
        from photostyle.masks import fit_mask, load_mask
        from photostyle.matting import matting_laplacian

        p = paths(index)
        content = resize_long_side(to_tensor(p["content"]), size)
        style = resize_long_side(to_tensor(p["style"]), size)
        paper = resize_to(to_tensor(p["paper"]), tuple(content.shape[-2:]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            full_c = to_tensor(p["content"])
            full_s = to_tensor(p["style"])
            cl = fit_mask(load_mask(p["content_mask"], name="content_mask"), tuple(full_c.shape[-2:]), name="c")
            sl = fit_mask(load_mask(p["style_mask"], name="style_mask"), tuple(full_s.shape[-2:]), name="s")
        cl = segmentation.resize_labels(cl, tuple(content.shape[-2:]))
        sl = segmentation.resize_labels(sl, tuple(style.shape[-2:]))
        return cls(index, size, content, style, paper, cl, sl, matting_laplacian(content))

    def score(self, image, encoder) -> dict[str, float]:
        """Style distance (5 layers, masked), matting energy, edge SSIM of ``image`` at this size."""
        from photostyle import metrics
        from photostyle.image import resize_to, to_tensor

        x = resize_to(to_tensor(image), tuple(self.content.shape[-2:]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            d = metrics.style_distance(x, self.style, encoder=encoder, layers=STYLE_LAYERS,
                                       content_mask=self.content_labels, style_mask=self.style_labels)
        return {"style_distance": d,
                "matting_energy": metrics.matting_energy(x, laplacian=self.laplacian),
                "edge_ssim": metrics.edge_ssim(x, self.content)}


def metric_encoder():
    """The full normalised VGG-19 at the paper's style layers (the default network).

    ``$PHOTOSTYLE_VGG_WEIGHTS``, where set, names the file instead (a copy of the normalised network
    elsewhere, e.g. cut after conv5_1 to travel to a GPU machine).
    """
    from photostyle.encoders import VGG19Encoder
    from photostyle.weights import weights_from_environment

    weights = weights_from_environment() or "normalised"
    return VGG19Encoder(STYLE_LAYERS + ("relu4_2",), weights=weights, progress=False)


def beats(ours: dict[str, float], paper: dict[str, float]) -> dict[str, bool]:
    """Per measure: lower style distance, lower matting energy, edge SSIM not lower (within 0.01)."""
    return {"style_distance": ours["style_distance"] < paper["style_distance"],
            "matting_energy": ours["matting_energy"] < paper["matting_energy"],
            "edge_ssim": ours["edge_ssim"] >= paper["edge_ssim"] - 0.01}
