"""Label maps: one-hot encoding with dontcare and edges, input forms, bad input, palette helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from _spade_helpers import toy_config
from tests._shared import raises_exactly
from photostyle.spade import ade20k_from_raw, as_label_tensor, encode_labels, get_config, label_edges, load_labels, palette


def _reference_edges(t: torch.Tensor) -> torch.Tensor:
    """NVlabs/SPADE's get_edges on (B, 1, H, W), written out with uint8 tensors."""
    edge = torch.zeros(t.shape, dtype=torch.uint8)
    edge[:, :, :, 1:] = edge[:, :, :, 1:] | (t[:, :, :, 1:] != t[:, :, :, :-1])
    edge[:, :, :, :-1] = edge[:, :, :, :-1] | (t[:, :, :, 1:] != t[:, :, :, :-1])
    edge[:, :, 1:, :] = edge[:, :, 1:, :] | (t[:, :, 1:, :] != t[:, :, :-1, :])
    edge[:, :, :-1, :] = edge[:, :, :-1, :] | (t[:, :, 1:, :] != t[:, :, :-1, :])
    return edge.float()


def test_edges_match_official_rule():
    gen = torch.Generator().manual_seed(0)
    t = torch.randint(0, 3, (2, 7, 9), generator=gen)
    assert torch.equal(label_edges(t), _reference_edges(t[:, None]))


def test_one_hot_coco_with_dontcare_and_edges():
    config = get_config("coco")
    labels = np.array([[0, 0, 181], [156, 255, 255]])
    seg = encode_labels(as_label_tensor(labels), config)
    assert seg.shape == (1, 184, 2, 3) and seg.dtype == torch.float32
    onehot, edges = seg[0, :183], seg[0, 183]
    assert torch.equal(onehot.sum(0), torch.ones(2, 3))  # exactly one class per pixel
    assert onehot[0, 0, 0] == 1 and onehot[181, 0, 2] == 1 and onehot[156, 1, 0] == 1
    assert onehot[182, 1, 1] == 1 and onehot[182, 1, 2] == 1  # 255 -> dontcare channel (index label_nc)
    # edges of the label map (no instance map): every pixel here touches a different label except none
    expected = _reference_edges(as_label_tensor(labels)[:, None])[0, 0]
    assert torch.equal(edges, expected)
    assert edges[0, 0] == 1  # (0,0) differs from (1,0)=156


def test_instance_edges_replace_label_edges():
    config = get_config("cityscapes")
    labels = torch.zeros(1, 4, 4, dtype=torch.long) + 26  # one class: no label boundaries
    inst = torch.zeros(1, 4, 4, dtype=torch.long)
    inst[:, :, 2:] = 1  # two cars side by side
    seg = encode_labels(labels, config, instances=inst)
    assert seg.shape == (1, 36, 4, 4)
    assert seg[0, 35, :, 1:3].eq(1).all() and seg[0, 35, :, [0, 3]].eq(0).all()
    assert encode_labels(labels, config)[0, 35].eq(0).all()


def test_ade20k_has_no_edge_channel():
    config = get_config("ade20k")
    seg = encode_labels(torch.tensor([[0, 149], [255, 3]]), config)
    assert seg.shape == (1, 151, 2, 2)
    assert seg[0, 150, 1, 0] == 1


def test_encoding_follows_device_and_dtype():
    seg = encode_labels(torch.zeros(1, 3, 3, dtype=torch.long), toy_config(), dtype=torch.float64)
    assert seg.dtype == torch.float64 and seg.device.type == "cpu"


@pytest.mark.parametrize("bad", [182, 200, -1])
def test_labels_beyond_range(bad):
    labels = np.zeros((4, 4), dtype=np.int64)
    labels[1, 1] = bad
    with raises_exactly(ValueError, f"labels: expected ids in 0 … 181 and 255 (dontcare) (preset 'coco', 182 "
                        f"classes), got {bad}; remap them or pick the preset the map was made for."):
        encode_labels(labels, get_config("coco"))


def test_dontcare_refused_without_dontcare_channel():
    with pytest.raises(ValueError, match="cityscapes"):
        encode_labels(np.full((2, 2), 255), get_config("cityscapes"))


@pytest.mark.parametrize("shape", [(4,), (4, 4, 3), (1, 2, 4, 4)])
def test_wrong_dimensionality(shape):
    arr = np.zeros(shape, dtype=np.int64)
    with pytest.raises(ValueError, match="label map of shape"):
        as_label_tensor(arr if len(shape) < 4 else torch.from_numpy(arr))


def test_non_integer_labels():
    # floats are accepted when they hold whole numbers: 0.5 is a wrong value, not a wrong type
    with raises_exactly(ValueError, "labels: expected integer class ids, got non-integral torch.float32 values; pass "
                        "the ids, not probabilities or a resized (interpolated) map."):
        as_label_tensor(torch.full((2, 2), 0.5))
    with raises_exactly(TypeError, "labels: expected a path, PIL image, numpy array (H, W) or tensor of class ids, got "
                        "[[0, 1]] (list); pass e.g. the path of a label PNG."):
        as_label_tensor([[0, 1]])


def test_label_png_forms(tmp_path):
    labels = palette.landscape_bands((8, 6), [("sky-other", 0), ("mountain", 0.4), ("sea", 0.7)])
    grey = tmp_path / "grey.png"
    Image.fromarray(labels.astype(np.uint8), mode="L").save(grey)
    assert np.array_equal(load_labels(grey), labels)
    indexed = tmp_path / "indexed.png"
    im = Image.new("P", (6, 8))
    im.putpalette(palette.label_colormap("coco").reshape(-1).tolist() + [0] * (3 * (256 - 182)))
    im.putdata(labels.reshape(-1).tolist())
    im.save(indexed)
    assert np.array_equal(load_labels(indexed), labels)
    colour = tmp_path / "colour.png"
    Image.fromarray(palette.colorize(labels)).save(colour)
    assert np.array_equal(load_labels(colour, preset="coco"), labels)
    assert as_label_tensor(str(colour)).shape == (1, 8, 6)
    with raises_exactly(FileNotFoundError, f"labels: expected a label image file, got '{tmp_path / 'missing.png'}', "
                        "which does not exist; check the path."):
        load_labels(tmp_path / "missing.png")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read"):
        load_labels(junk)


def test_palette_names_and_ids():
    assert len(palette.COCO_STUFF_NAMES) == 182
    expected = {"sky-other": 156, "clouds": 105, "sea": 154, "river": 147, "grass": 123, "tree": 168,
                "mountain": 134, "hill": 126, "rock": 149, "sand": 153, "snow": 158, "person": 0, "wood": 181}
    for name, idx in expected.items():
        assert palette.coco_id(name) == idx
        assert palette.coco_name(idx) == name
    assert set(expected) - {"person", "wood"} <= set(palette.LANDSCAPE_CLASSES)
    assert palette.coco_id("Sky") == 156
    with pytest.raises(ValueError, match="did you mean"):
        palette.coco_id("mountains")


@pytest.mark.parametrize("preset", ["coco", "ade20k", "cityscapes"])
def test_colormap_distinct_and_round_trip(preset):
    cmap = palette.label_colormap(preset)
    config = get_config(preset)
    assert cmap.shape == (config.label_nc, 3)
    assert len(np.unique(cmap, axis=0)) == config.label_nc
    labels = np.arange(config.label_nc).reshape(1, -1)
    assert np.array_equal(palette.colors_to_labels(palette.colorize(labels, preset=preset), preset=preset), labels)


def test_paint_with_own_colours_snaps_antialiasing():
    img = np.zeros((4, 4, 3), dtype=np.uint8)
    img[:2] = (10, 10, 250)
    img[2:] = (10, 240, 10)
    img[2, 0] = (10, 160, 90)  # an in-between edge pixel, nearer to green
    labels = palette.colors_to_labels(img, {"sea": (0, 0, 255), "grass": (0, 255, 0)})
    assert labels[0, 0] == 154 and labels[3, 3] == 123 and labels[2, 0] == 123


def test_labels_from_names():
    grid = np.array([["sky-other", "clouds"], ["sea", "sand"]])
    assert palette.labels_from_names(grid).tolist() == [[156, 105], [154, 153]]


def test_ade20k_raw_values_shift():
    raw = np.array([[0, 1], [150, 7]])
    assert ade20k_from_raw(raw).tolist() == [[255, 0], [149, 6]]
    assert encode_labels(ade20k_from_raw(raw), get_config("ade20k"))[0, 150, 0, 0] == 1
    with raises_exactly(ValueError, "labels: expected raw ADE20K values in 0 … 150, got 151 … 151; pass the values "
                        "of an ADE20K annotation PNG (maps already in the preset's ids need no conversion)."):
        ade20k_from_raw(np.array([[151]]))
