"""Figures for notebooks and reports: image rows and grids, loss histories, mask overlays, live previews.

>>> import photostyle as ps
>>> from photostyle.display import LivePreview, plot_history, show_images, show_masks
>>> result = ps.transfer("content.jpg", "style.jpg", callback=LivePreview(every=20))   # doctest: +SKIP
>>> show_images({"content": "content.jpg", "style": "style.jpg", "result": result.image})  # doctest: +SKIP
>>> plot_history(result)                                                               # doctest: +SKIP

matplotlib is imported when a figure is made (``pip install photostyle[notebooks]``). The figures are
plain :class:`matplotlib.figure.Figure` objects, not registered with pyplot: in Jupyter one shows when
it is a cell's last expression (or with ``display(fig)``), in a script save it with ``fig.savefig(path)``.
Nothing accumulates in pyplot's figure list, so loops and scripts do not leak figures.

Images may be anything :func:`photostyle.image.to_tensor` reads: paths, PIL images, numpy arrays
(H, W[, 3|4]) uint8/uint16/float in [0, 1], tensors (3, H, W) or (B, 3, H, W) in [0, 1].
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from .image import resize_long_side, to_numpy, to_pil, to_tensor

__all__ = ["show_images", "plot_history", "show_masks", "LivePreview", "as_display_array", "history_terms"]

_NOT_A_TERM = ("stage", "step")


def _figure_class():
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "photostyle.display needs matplotlib, which is not installed; "
            "pip install photostyle[notebooks] (or pip install matplotlib)."
        ) from exc
    return Figure


def _figure_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def _new_figure(figsize: tuple[float, float]):
    """A Figure outside pyplot that Jupyter shows as a PNG when it is a cell's result."""
    Figure = _figure_class()
    fig = Figure(figsize=figsize, layout="constrained")
    # IPython shows an object by its _repr_png_; with the inline backend active, its Figure formatter
    # (registered for the type) takes precedence, so the figure is shown once either way.
    fig._repr_png_ = lambda: _figure_png(fig)
    return fig


def as_display_array(image: Any, *, name: str = "image") -> np.ndarray:
    """Any supported image → (H, W, 3) uint8, the array the figures show.

    This is ``to_numpy(to_tensor(image))``: the library's one conversion each way.
    """
    return to_numpy(to_tensor(image, name=name).cpu())


def _split(images: Any) -> tuple[list[Any], list[str] | None]:
    """Images and titles from a dict, a sequence, a batch tensor or a single image."""
    if isinstance(images, Mapping):
        return list(images.values()), [str(k) for k in images.keys()]
    if isinstance(images, torch.Tensor) and images.ndim == 4:
        return [images[i] for i in range(images.shape[0])], None
    if isinstance(images, (list, tuple)):
        return list(images), None
    return [images], None


def _check_positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a positive number, got {value!r}.")
    return float(value)


def show_images(
    images: Any,
    titles: Sequence[str] | None = None,
    *,
    ncols: int | None = None,
    size: float = 3.0,
):
    """Lay images out in a row (or a grid with ``ncols``), each with an optional title.

    Parameters
    ----------
    images
        A list of images, a dict ``{title: image}``, a batch tensor (B, 3, H, W) or one image. Each
        image is a path, PIL image, numpy array (H, W[, 3|4]) uint8/uint16/float in [0, 1] or tensor
        (3, H, W) / (1, 3, H, W) in [0, 1]; sizes may differ.
    titles
        One title per image (default: the dict's keys, or none).
    ncols
        Columns of the grid; default all images in one row.
    size
        Height of each panel in inches (the width follows the widest image's aspect ratio).

    Returns
    -------
    matplotlib.figure.Figure
        One axes per image, in order (``fig.axes[i].images[0].get_array()`` is the shown array).
    """
    items, dict_titles = _split(images)
    if not items:
        raise ValueError("images: expected at least one image, got an empty collection.")
    if titles is None:
        titles = dict_titles
    if titles is not None:
        if isinstance(titles, str):
            titles = [titles]
        titles = [str(t) for t in titles]
        if len(titles) != len(items):
            raise ValueError(
                f"titles: expected one title per image ({len(items)}), got {len(titles)}; pass as many "
                "titles as images, or none."
            )
    n = len(items)
    if ncols is None:
        ncols = n
    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols: expected a positive integer, got {ncols!r}.")
    ncols = min(ncols, n)
    size = _check_positive("size", size)
    arrays = [as_display_array(img, name=f"images[{i}]") for i, img in enumerate(items)]
    nrows = math.ceil(n / ncols)
    aspect = max(a.shape[1] / a.shape[0] for a in arrays)  # width / height of the widest image
    title_room = 0.3 if titles else 0.0
    fig = _new_figure((ncols * size * aspect, nrows * (size + title_room)))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            fig.delaxes(ax)
            continue
        ax.imshow(arrays[i], interpolation="antialiased")
        ax.set_axis_off()
        if titles:
            ax.set_title(titles[i], fontsize=10)
    return fig


def _history_of(result: Any) -> list[dict[str, Any]]:
    history = getattr(result, "history", result)
    if not isinstance(history, (list, tuple)) or not all(isinstance(h, Mapping) for h in history):
        raise TypeError(
            "result: expected a TransferResult (or its .history, a list of dicts), got "
            f"{type(result).__name__}."
        )
    if not history:
        raise ValueError("result.history is empty: no L-BFGS iteration ran (num_steps=0?); nothing to plot.")
    return list(history)


def history_terms(history: Sequence[Mapping[str, Any]]) -> list[str]:
    """Loss terms found in a history, in order of first appearance, with ``total`` last."""
    terms: list[str] = []
    for entry in history:
        for key in entry:
            if key not in _NOT_A_TERM and key not in terms:
                terms.append(key)
    if "total" in terms:
        terms.remove("total")
        terms.append("total")
    return terms


def plot_history(result: Any, *, log: bool = True, size: float = 3.5):
    """The weighted loss terms per L-BFGS iteration, one line each, stages shaded and named.

    Parameters
    ----------
    result
        A :class:`~photostyle.transfer.TransferResult` or its ``history`` (a list of dicts with
        ``stage``, ``step`` and one float per term).
    log
        Logarithmic loss axis (terms span several orders of magnitude).
    size
        Height of the plot in inches.

    Returns
    -------
    matplotlib.figure.Figure
        One axes holding one line per term (``total`` dashed); iterations are counted across stages.
    """
    history = _history_of(result)
    size = _check_positive("size", size)
    terms = history_terms(history)
    fig = _new_figure((size * 2.0, size))
    ax = fig.add_subplot()
    x_all = np.arange(1, len(history) + 1)
    for term in terms:
        xs = [x for x, h in zip(x_all, history) if term in h]
        ys = [float(h[term]) for h in history if term in h]
        style = dict(color="black", linestyle="--", linewidth=1.5) if term == "total" else dict(linewidth=1.2)
        ax.plot(xs, ys, label=term, **style)
    # Stage spans: shaded alternately and named at the top; boundaries are where the stage changes.
    spans: list[tuple[str, int, int]] = []
    for x, h in zip(x_all, history):
        stage = str(h.get("stage", ""))
        if spans and spans[-1][0] == stage:
            spans[-1] = (stage, spans[-1][1], int(x))
        else:
            spans.append((stage, int(x), int(x)))
    for i, (stage, first, last) in enumerate(spans):
        if i % 2 == 1:
            ax.axvspan(first - 0.5, last + 0.5, color="0.9", zorder=0)
        if stage:
            ax.text((first + last) / 2, 1.0, stage, transform=ax.get_xaxis_transform(), ha="center",
                    va="bottom", fontsize=9, color="0.3")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("L-BFGS iteration (all levels)")
    ax.set_ylabel("weighted loss")
    ax.set_xlim(0.5, len(history) + 0.5)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return fig


def _labels_for(image_shape: tuple[int, int], labels: Any, name: str) -> np.ndarray:
    from photostyle import segmentation

    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    lab = np.asarray(segmentation.load_label_map(labels), dtype=np.int64)
    if lab.shape != tuple(image_shape):
        lab = np.asarray(segmentation.resize_labels(lab, tuple(image_shape)), dtype=np.int64)
    return lab


def show_masks(
    image: Any,
    labels: Any,
    *,
    alpha: float = 0.5,
    names: Mapping[int, str] | None = None,
    titles: Sequence[str] | None = None,
    size: float = 3.0,
):
    """Photo | colour-coded labels | overlay (:func:`segmentation.overlay`), one row per image.

    Parameters
    ----------
    image
        One image (anything :func:`photostyle.image.to_tensor` reads) or a list of them (one row each,
        e.g. ``[content, style]``).
    labels
        One label map per image: an integer array (H, W), a colour-coded mask (DPST colours), a path
        or a tensor (anything :func:`segmentation.load_label_map` reads). A map of another size is
        resized to its image (nearest neighbour). The same id gets the same colour in every row.
    alpha
        Opacity of the colours in the overlay.
    names
        Optional ``{id: name}``: adds a legend of the labels present.
    titles
        Optional name per row (default "image 0", ... or "content", "style" for two rows).
    size
        Height of each panel in inches.

    Returns
    -------
    matplotlib.figure.Figure
        Three axes per row: the photo, the labels in colour, the overlay.
    """
    from photostyle import segmentation

    multi = isinstance(image, (list, tuple))
    images = list(image) if multi else [image]
    maps = list(labels) if multi else [labels]
    if multi and (not isinstance(labels, (list, tuple)) or len(maps) != len(images)):
        raise ValueError(
            f"labels: with a list of {len(images)} images, pass a list of as many label maps, got "
            f"{type(labels).__name__}{'' if not isinstance(labels, (list, tuple)) else f' of {len(maps)}'}."
        )
    if not images:
        raise ValueError("image: expected at least one image, got an empty list.")
    if titles is None:
        titles = ["content", "style"] if len(images) == 2 else ([""] if len(images) == 1 else
                                                                  [f"image {i}" for i in range(len(images))])
    titles = [str(t) for t in titles]
    if len(titles) != len(images):
        raise ValueError(f"titles: expected one per image ({len(images)}), got {len(titles)}.")
    arrays = [as_display_array(img, name="image") for img in images]
    label_maps = [_labels_for(a.shape[:2], m, "labels") for a, m in zip(arrays, maps)]
    top = max(int(m.max()) for m in label_maps)
    colors = segmentation.label_colors(top + 1)
    aspect = max(a.shape[1] / a.shape[0] for a in arrays)
    size = _check_positive("size", size)
    fig = _new_figure((3 * size * aspect, len(images) * (size + 0.3) + (0.4 if names else 0.0)))
    axes = fig.subplots(len(images), 3, squeeze=False)
    for row, (arr, lab, title) in enumerate(zip(arrays, label_maps, titles)):
        panels = (arr, colors[lab], segmentation.overlay(arr, lab, alpha=alpha))
        heads = ("photo", "labels", f"overlay (alpha {alpha:g})")
        for ax, panel, head in zip(axes[row], panels, heads):
            ax.imshow(panel, interpolation="nearest")
            ax.set_axis_off()
            ax.set_title(f"{title}: {head}" if title else head, fontsize=10)
    if names:
        from matplotlib.patches import Patch

        present = sorted(set().union(*(np.unique(m).tolist() for m in label_maps)))
        handles = [Patch(facecolor=colors[i] / 255.0, edgecolor="0.4", label=f"{i}: {names.get(i, '?')}")
                   for i in present]
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6), fontsize=8,
                   frameon=False)
    return fig


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (an IPython shell with a kernel); False in scripts and terminals."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class LivePreview:
    """A :func:`photostyle.transfer` callback that shows the current image in a notebook, in place.

    >>> result = ps.transfer(content, style, callback=LivePreview(every=20))   # doctest: +SKIP

    Every ``every`` iterations (and at each stage's last one) the output cell's image is replaced by
    the current estimate (clamped to [0, 1], long side ``size``), with a caption line naming the stage,
    the iteration and the total loss. Outside a Jupyter kernel (scripts, terminals, CI logs) it does
    nothing. It never stops the optimisation (it returns None).

    Parameters
    ----------
    every
        Update interval in L-BFGS iterations.
    size
        Long side of the preview in pixels; None keeps the working size.
    caption
        Show the stage / iteration / loss line under the image.

    Attributes
    ----------
    updates
        How many times the preview was drawn (first display included).
    """

    def __init__(self, every: int = 10, *, size: int | None = 256, caption: bool = True):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every: expected a positive integer (iterations between updates), got {every!r}.")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 8):
            raise ValueError(f"size: expected an integer >= 8 (long side in pixels) or None, got {size!r}.")
        self.every = every
        self.size = size
        self.caption = bool(caption)
        self.updates = 0
        self._image_handle = None
        self._text_handle = None
        self._enabled: bool | None = None

    def __repr__(self) -> str:
        return f"LivePreview(every={self.every}, size={self.size}, caption={self.caption})"

    @property
    def enabled(self) -> bool:
        """Whether previews are drawn (decided at the first call: inside a Jupyter kernel)."""
        if self._enabled is None:
            self._enabled = _in_notebook()
        return self._enabled

    def reset(self) -> None:
        """Start a new output area at the next update (e.g. when reusing the object in another cell)."""
        self._image_handle = self._text_handle = None

    def _due(self, info) -> bool:
        return info.step % self.every == 0 or info.step == info.num_steps

    def __call__(self, info) -> None:
        if not self._due(info) or not self.enabled:
            return None
        from IPython.display import display

        t = info.image.detach().float().clamp(0, 1).cpu()
        if self.size is not None:
            t = resize_long_side(t, self.size)
        picture: Image.Image = to_pil(t)
        text = f"{info.stage}: iteration {info.step}/{info.num_steps}"
        total = info.losses.get("total") if isinstance(info.losses, Mapping) else None
        if total is not None:
            text += f", total loss {total:.4g}"
        if self._image_handle is None:
            self._image_handle = display(picture, display_id=True)
            if self.caption:
                self._text_handle = display(_Caption(text), display_id=True)
        else:
            self._image_handle.update(picture)
            if self._text_handle is not None:
                self._text_handle.update(_Caption(text))
        self.updates += 1
        return None


class _Caption:
    """Plain text shown as text (not as a quoted string repr)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(self.text)
