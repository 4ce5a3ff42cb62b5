"""photostyle.display: figures on the Agg backend, and LivePreview with a mocked notebook display."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
import torch
from PIL import Image

matplotlib = pytest.importorskip("matplotlib", reason="the notebooks extra (matplotlib) is not installed")
matplotlib.use("Agg")

from photostyle import segmentation  # noqa: E402
from photostyle import display  # noqa: E402
from photostyle.display import LivePreview, plot_history, show_images, show_masks  # noqa: E402
from photostyle.image import to_numpy, to_tensor  # noqa: E402
from photostyle.transfer import StepInfo, TransferResult  # noqa: E402


def _shown(ax) -> np.ndarray:
    return np.asarray(ax.images[0].get_array())


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    uint8 = rng.integers(0, 256, (12, 20, 3), dtype=np.uint8)
    floats = rng.random((10, 10, 3)).astype(np.float32)
    tensor4 = torch.rand(1, 3, 8, 14)
    tensor3 = torch.rand(3, 9, 7)
    pil = Image.fromarray(rng.integers(0, 256, (6, 11, 3), dtype=np.uint8))
    return [uint8, floats, tensor4, tensor3, pil]


# ------------------------------------------------------------------------------------------ show_images

def test_show_images_row_shows_each_input_converted(images):
    titles = ["uint8", "float", "tensor4", "tensor3", "pil"]
    fig = show_images(images, titles)
    assert len(fig.axes) == len(images)
    assert [ax.get_title() for ax in fig.axes] == titles
    for ax, img in zip(fig.axes, images):
        np.testing.assert_array_equal(_shown(ax), to_numpy(to_tensor(img)))
    # one row: every axes on the same row of the layout
    assert len({ax.get_subplotspec().rowspan.start for ax in fig.axes}) == 1


def test_show_images_grid_and_dict_titles(images):
    named = {f"img{i}": img for i, img in enumerate(images)}
    fig = show_images(named, ncols=2)
    assert len(fig.axes) == 5  # the unused sixth cell is removed
    assert [ax.get_title() for ax in fig.axes] == list(named)
    rows = [ax.get_subplotspec().rowspan.start for ax in fig.axes]
    cols = [ax.get_subplotspec().colspan.start for ax in fig.axes]
    assert rows == [0, 0, 1, 1, 2] and cols == [0, 1, 0, 1, 0]


def test_show_images_batch_tensor_and_single_image():
    batch = torch.rand(3, 3, 5, 6)
    fig = show_images(batch)
    assert len(fig.axes) == 3
    for i, ax in enumerate(fig.axes):
        np.testing.assert_array_equal(_shown(ax), to_numpy(batch[i]))
        assert ax.get_title() == ""
    fig = show_images(np.zeros((4, 4, 3), dtype=np.uint8), "one")
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == "one"


def test_show_images_errors_name_the_argument(images):
    with pytest.raises(ValueError, match="titles: expected one title per image"):
        show_images(images, ["a", "b"])
    with pytest.raises(ValueError, match="ncols"):
        show_images(images, ncols=0)
    with pytest.raises(ValueError, match="images: expected at least one"):
        show_images([])
    with pytest.raises(ValueError, match=r"images\[1\]"):
        show_images([images[0], np.full((4, 4, 3), 2.0)])


def test_figures_are_not_registered_with_pyplot_and_render_png(images):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig = show_images(images[:2])
    assert plt.get_fignums() == before
    png = fig._repr_png_()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------------------- plot_history

def _history():
    stage1 = [{"stage": "stage1", "step": i, "content": 10.0 / i, "style": 5.0 / i, "tv": 0.1, "total": 15.1 / i}
              for i in range(1, 6)]
    stage2 = [{"stage": "stage2", "step": i, "content": 2.0, "style": 1.0 / i, "tv": 0.1, "photo": 0.5,
               "total": 3.6 / i} for i in range(1, 4)]
    return stage1 + stage2


def _result(history):
    t = torch.rand(1, 3, 8, 8)
    return TransferResult(image=Image.new("RGB", (8, 8)), tensor=t, stages={}, history=history, timings={})


def test_plot_history_one_line_per_term_and_stage_marked():
    history = _history()
    fig = plot_history(_result(history))
    (ax,) = fig.axes
    labels = [line.get_label() for line in ax.lines]
    assert labels == ["content", "style", "tv", "photo", "total"]
    assert len(ax.lines) == len({k for h in history for k in h} - {"stage", "step"})
    photo = ax.lines[labels.index("photo")]
    np.testing.assert_array_equal(photo.get_xdata(), [6, 7, 8])  # only where the term exists: stage 2
    total = ax.lines[labels.index("total")]
    np.testing.assert_allclose(total.get_ydata(), [h["total"] for h in history])
    assert ax.get_yscale() == "log"
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["stage1", "stage2"]
    (span,) = ax.patches  # stage 2 shaded from its first iteration
    assert span.get_x() == pytest.approx(5.5)
    assert plot_history(history, log=False).axes[0].get_yscale() == "linear"


def test_plot_history_errors():
    with pytest.raises(ValueError, match="history is empty"):
        plot_history(_result([]))
    with pytest.raises(TypeError, match="TransferResult"):
        plot_history(42)


# ------------------------------------------------------------------------------------------- show_masks

def test_show_masks_panels_are_photo_labels_overlay():
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)
    labels = np.zeros((16, 24), dtype=np.int64)
    labels[8:] = 1
    labels[:, 12:] = 2
    fig = show_masks(photo, labels, alpha=0.4, names={0: "sky", 1: "ground", 2: "tree"})
    assert len(fig.axes) == 3
    photo_ax, label_ax, over_ax = fig.axes
    np.testing.assert_array_equal(_shown(photo_ax), photo)
    np.testing.assert_array_equal(_shown(label_ax), segmentation.label_colors(3)[labels])
    np.testing.assert_array_equal(_shown(over_ax), segmentation.overlay(photo, labels, alpha=0.4))
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["0: sky", "1: ground", "2: tree"]


def test_show_masks_rows_share_colours_and_resize_labels():
    content = np.full((8, 12, 3), 200, dtype=np.uint8)
    style = torch.rand(1, 3, 10, 15)
    c_lab = np.zeros((8, 12), dtype=np.int64)
    c_lab[4:] = 3
    s_lab = np.zeros((4, 6), dtype=np.int64)  # same aspect ratio as the style image, half its size
    s_lab[:, 3:] = 3
    fig = show_masks([content, style], [c_lab, s_lab])
    assert len(fig.axes) == 6
    assert fig.axes[0].get_title() == "content: photo" and fig.axes[3].get_title() == "style: photo"
    colors = segmentation.label_colors(4)
    np.testing.assert_array_equal(_shown(fig.axes[1]), colors[c_lab])
    resized = segmentation.resize_labels(s_lab, (10, 15))
    np.testing.assert_array_equal(_shown(fig.axes[4]), colors[resized])
    with pytest.raises(ValueError, match="labels: with a list of 2 images"):
        show_masks([content, style], c_lab)


# ------------------------------------------------------------------------------------------ LivePreview

def _info(step, num_steps=20, stage="stage1"):
    return StepInfo(stage=stage, step=step, num_steps=num_steps, losses={"total": 1.0 / step},
                    image=torch.full((1, 3, 32, 48), 0.5) + 0.6 * (step % 2))  # unclamped values too


def test_live_preview_updates_in_place_every_n_steps(monkeypatch):
    import IPython.display

    handles = []

    def fake_display(obj, display_id=False):
        assert display_id is True
        handle = mock.MagicMock(name=f"handle{len(handles)}")
        handles.append((obj, handle))
        return handle

    monkeypatch.setattr(IPython.display, "display", fake_display)
    monkeypatch.setattr(display, "_in_notebook", lambda: True)
    preview = LivePreview(every=5, size=24)
    returned = [preview(_info(step)) for step in range(1, 21)]
    assert returned == [None] * 20  # never stops the stage
    assert len(handles) == 2  # the image and its caption, displayed once at step 5
    (image0, image_handle), (caption0, caption_handle) = handles
    assert isinstance(image0, Image.Image) and max(image0.size) == 24
    assert repr(caption0) == "stage1: iteration 5/20, total loss 0.2"
    assert image_handle.update.call_count == 3  # steps 10, 15, 20
    assert caption_handle.update.call_count == 3
    last = image_handle.update.call_args.args[0]
    assert isinstance(last, Image.Image) and last.size == (24, 16)
    assert preview.updates == 4
    # the last step of a stage is always shown, even off the interval
    preview(_info(7, num_steps=7, stage="stage2"))
    assert image_handle.update.call_count == 4
    assert repr(caption_handle.update.call_args.args[0]) == "stage2: iteration 7/7, total loss 0.1429"


def test_live_preview_without_caption_uses_one_handle(monkeypatch):
    import IPython.display

    handle = mock.MagicMock()
    fake = mock.MagicMock(return_value=handle)
    monkeypatch.setattr(IPython.display, "display", fake)
    monkeypatch.setattr(display, "_in_notebook", lambda: True)
    preview = LivePreview(every=2, size=None, caption=False)
    for step in range(1, 7):
        preview(_info(step, num_steps=6))
    assert fake.call_count == 1
    assert handle.update.call_count == 2
    assert fake.call_args.args[0].size == (48, 32)  # size=None keeps the working size


def test_live_preview_is_a_no_op_outside_a_notebook(monkeypatch):
    import IPython.display

    fake = mock.MagicMock()
    monkeypatch.setattr(IPython.display, "display", fake)
    preview = LivePreview(every=1)  # pytest runs no Jupyter kernel
    for step in range(1, 4):
        assert preview(_info(step)) is None
    assert not preview.enabled
    assert fake.call_count == 0 and preview.updates == 0


def test_live_preview_validates_arguments():
    with pytest.raises(ValueError, match="every"):
        LivePreview(every=0)
    with pytest.raises(ValueError, match="size"):
        LivePreview(size=2)


def test_live_preview_as_transfer_callback(shared_weights, monkeypatch):
    """End to end: the callback receives every iteration of a real (tiny) transfer."""
    import photostyle as ps

    seen = []
    monkeypatch.setattr(display, "_in_notebook", lambda: True)
    preview = LivePreview(every=2, size=16)
    monkeypatch.setattr(preview, "_due", lambda info: seen.append((info.stage, info.step)) or False)
    rng = np.random.default_rng(0)
    content = rng.random((24, 24, 3)).astype(np.float32)
    style = rng.random((24, 24, 3)).astype(np.float32)
    ps.transfer(content, style, preset="lite", size=24, num_steps=3, weights=shared_weights, device="cpu",
                progress=False, callback=preview)
    assert seen == [("stage1", 1), ("stage1", 2), ("stage1", 3), ("stage2", 1), ("stage2", 2), ("stage2", 3)]
