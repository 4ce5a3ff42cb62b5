"""Matching content and style labels, fitting masks to images, IoU after best matching."""

import numpy as np
import pytest

from tests._shared import raises_exactly
from photostyle.segmentation import LabelMatch, fit_labels, label_iou, match_labels, one_hot


def halves(h=8, w=10, top=0, bottom=1):
    lab = np.full((h, w), bottom, np.int64)
    lab[: h // 2] = top
    return lab


def test_same_ids_by_default():
    m = match_labels(halves(), halves(12, 6))
    assert isinstance(m, LabelMatch)
    assert m.pairs == ((0, 0), (1, 1)) and m.content_only == () and m.style_only == ()
    c, s = m.masks(halves(), halves(12, 6))
    assert c.shape == (2, 8, 10) and s.shape == (2, 12, 6) and np.array_equal(c, one_hot(halves()))


def test_one_sided_labels_are_reported():
    style = halves(top=0, bottom=5)
    with pytest.warns(UserWarning, match=r"content labels \[1\] have no style label"):
        m = match_labels(halves(), style)
    assert m.pairs == ((0, 0),) and m.content_only == (1,) and m.style_only == (5,)
    m2 = match_labels(halves(), style, warn=False)
    assert m2 == m


def test_user_mapping():
    m = match_labels(halves(top=3, bottom=4), halves(top=7, bottom=4), mapping={3: 7})
    assert m.as_dict() == {3: 7, 4: 4}
    with raises_exactly(ValueError, "mapping: expected ids that occur in the masks, got content ids [9] (content "
                        "has [0, 1]) and style ids [] (style has [0, 1]); fix the mapping or the masks."):
        match_labels(halves(), halves(), mapping={9: 0})
    with pytest.raises(ValueError, match=r"got content ids \[\] \(content has \[0, 1\]\) and style ids \[9\]"):
        # an empty label: no pixel has id 9
        match_labels(halves(), halves(), mapping={0: 9})
    with raises_exactly(TypeError, "mapping: expected a dict {content_id: style_id}, got [(0, 1)] (list); "
                        "pass e.g. mapping={0: 2}."):
        match_labels(halves(), halves(), mapping=[(0, 1)])


def test_no_label_matches_at_all():
    with raises_exactly(ValueError, "content_labels and style_labels: expected at least one shared id, got content "
                        "ids [0, 1] and style ids [2, 3]; pass mapping={content_id: style_id}, paint both masks with "
                        "one palette, or use segmentation.auto_segment to make corresponding masks."):
        match_labels(halves(), halves(top=2, bottom=3))


def test_fit_labels_size_mismatch():
    lab = halves(8, 10)
    assert np.array_equal(fit_labels(lab, (8, 10)), lab)
    with pytest.warns(UserWarning, match=r"size \(8, 10\) but its image has \(16, 20\); resized with nearest"):
        out = fit_labels(lab, (16, 20), name="content_mask")
    assert out.shape == (16, 20) and set(np.unique(out)) == {0, 1}
    with raises_exactly(ValueError, "mask: expected its image's size (16, 20) (H, W), got (8, 10); resize the mask "
                        "to the image (segmentation.resize_labels) or pass strict=False to resize it here."):
        fit_labels(lab, (16, 20), strict=True)
    dot = np.zeros((40, 40), np.int64)
    dot[7, 7] = 3
    with pytest.warns(UserWarning, match=r"labels \[3\] are too small"):
        fit_labels(dot, (4, 4))


def test_label_iou_hungarian():
    ref = halves()
    pred = 5 - halves()  # ids 5 and 4, swapped meaning
    r = label_iou(pred, ref)
    assert r.mean_iou == pytest.approx(1.0) and r.mapping == {5: 0, 4: 1}
    three = ref.copy()
    three[:, :5][ref[:, :5] == 1] = 2  # split the bottom into two predicted labels
    r = label_iou(three, ref)
    assert r.per_label[0] == pytest.approx(1.0) and r.per_label[1] == pytest.approx(0.5)
    # a fixed mapping scores as given
    assert label_iou(pred, ref, mapping={5: 1, 4: 0}).mean_iou == 0.0
    with raises_exactly(ValueError, "pred and reference: expected the same size, got (8, 10) and (4, 10); "
                        "resize one with resize_labels."):
        label_iou(ref, ref[:4])
