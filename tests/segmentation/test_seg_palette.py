"""Palettes and decoding of colour-coded masks."""

import numpy as np
import pytest
from PIL import Image

from _seg_shared import DPST, PAIRS, needs_dpst
from tests._shared import raises_exactly
from photostyle.segmentation import DPST_PALETTE, DecodedMask, Palette, decode_color_mask

DPST_RGB = [(0, 0, 255), (0, 255, 0), (0, 0, 0), (255, 255, 255), (255, 0, 0),
            (255, 255, 0), (128, 128, 128), (0, 255, 255), (255, 0, 255)]


def test_dpst_palette_order():
    assert len(DPST_PALETTE) == 9
    assert [tuple(c) for c in DPST_PALETTE.colors.tolist()] == DPST_RGB
    assert DPST_PALETTE.colors.dtype == np.uint8
    assert DPST_PALETTE.index("blue") == 0 and DPST_PALETTE.index("purple") == 8


def test_palette_from_dict_and_errors():
    pal = Palette.from_dict({"sky": (0, 0, 255), "water": (0, 128, 255)})
    assert pal.names == ("sky", "water") and pal.index("water") == 1 and len(pal) == 2
    assert pal == Palette(("sky", "water"), np.array([[0, 0, 255], [0, 128, 255]]))
    assert pal.as_dict()["sky"] == (0, 0, 255)
    with raises_exactly(ValueError, "name: expected one of ['sky', 'water'], got 'grass'."):
        pal.index("grass")
    with raises_exactly(ValueError, "names: expected unique names, got duplicates ['a']; rename them."):
        Palette(("a", "a"), np.zeros((2, 3)))
    with raises_exactly(ValueError, "colors: expected shape (K, 3) with K = len(names) = 1 >= 1, got ndarray of "
                        "shape (2, 3) and dtype float64; give one RGB triple per name."):
        Palette(("a",), np.zeros((2, 3)))
    with raises_exactly(ValueError, "colors: expected RGB values in 0..255, got values in [0, 300]; "
                        "pass 8-bit colours."):
        Palette.from_dict({"a": (0, 0, 300)})
    with pytest.raises(dataclasses_frozen_error()):
        pal.names = ("x", "y")


def dataclasses_frozen_error():
    import dataclasses
    return dataclasses.FrozenInstanceError


def test_palette_from_pil():
    img = Image.frombytes("P", (3, 2), bytes([0, 1, 2, 2, 1, 0]))
    img.putpalette([10, 20, 30, 40, 50, 60, 70, 80, 90])
    pal = Palette.from_pil(img)
    assert tuple(pal.colors[1]) == (40, 50, 60)
    with raises_exactly(ValueError, "image: expected a PIL image in 'P' (palette) mode, got mode 'RGB' (Image); "
                        "use Palette.from_dict for RGB masks."):
        Palette.from_pil(Image.new("RGB", (2, 2)))


def test_decode_synthetic_antialiased():
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[:, :3] = (0, 0, 255)
    rgb[:, 3:] = (0, 255, 0)
    rgb[:, 2] = (0, 40, 215)  # an anti-aliased edge column, nearer blue
    dec = decode_color_mask(rgb)
    assert isinstance(dec, DecodedMask)
    assert dec.labels.dtype == np.int64 and dec.labels.shape == (4, 6)
    assert (dec.labels[:, :3] == 0).all() and (dec.labels[:, 3:] == 1).all()
    assert dec.shares == {0: 0.5, 1: 0.5}
    assert dec.far_share == 0.0
    # float input and PIL input decode the same
    assert np.array_equal(decode_color_mask(rgb / 255.0).labels, dec.labels)
    assert np.array_equal(decode_color_mask(Image.fromarray(rgb)).labels, dec.labels)


def test_decode_far_colours_report_and_strict():
    rgb = np.zeros((10, 10, 3), np.uint8)
    rgb[0, :4] = (0, 128, 128)  # 4 % of pixels, between blue, green, black and grey
    dec = decode_color_mask(rgb)
    assert dec.far_share == pytest.approx(0.04)
    with raises_exactly(ValueError, "mask: expected every pixel within far_threshold=64 of a palette colour "
                        "(strict=True), got 4.00% of pixels (4) farther (e.g. (0, 128, 128) at row 0, column 0); "
                        "pass strict=False to give them their nearest colour, or raise far_threshold."):
        decode_color_mask(rgb, strict=True)
    decode_color_mask(rgb, strict=True, far_threshold=200)  # lenient threshold passes


def test_decode_refuses_photo():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"^mask: expected a label image painted in this palette, got \d+\.\d% of "
                       r"its pixels \(more than max_far_share=5%\) farther than 64 from every one of the 9 palette "
                       r"colours, and \d+ distinct colours; pass the mask \(not the photo\), or the palette it was "
                       r"painted with \(palette=Palette\.from_dict\(\.\.\.\)\)\.$"):
        decode_color_mask(photo)


def test_decode_bad_types():
    with raises_exactly(TypeError, "palette: expected a segmentation.Palette, got {'a': (0, 0, 0)} (dict); build "
                        "one with Palette.from_dict({'sky': (0, 0, 255), ...})."):
        decode_color_mask(np.zeros((2, 2, 3), np.uint8), {"a": (0, 0, 0)})
    with raises_exactly(ValueError, "mask: expected shape (H, W, 3) (RGB) or (H, W, 4) (RGBA), got ndarray of "
                        "shape (2, 2) and dtype uint8; 2-D arrays are label maps: use segmentation.load_label_map."):
        decode_color_mask(np.zeros((2, 2), np.uint8))
    with raises_exactly(ValueError, "mask: expected float values in [0, 1], got range [2, 2]; "
                        "divide uint8 data by 255."):
        decode_color_mask(np.full((2, 2, 3), 2.0))


@needs_dpst
@pytest.mark.parametrize("name", [f"in{PAIRS[0]}", f"tar{PAIRS[0]}", "in30", "tar44"])
def test_decode_shared_masks_against_independent_count(name):
    rgb = np.asarray(Image.open(DPST / "segmentation" / f"{name}.png").convert("RGB"))
    dec = decode_color_mask(rgb, clean_edges=False)
    assert dec.labels.shape == rgb.shape[:2]
    assert dec.labels.min() >= 0 and dec.labels.max() < 9  # every pixel a palette label
    # independent count: brute-force squared distances per pixel to each colour, first minimum wins
    pix = rgb.reshape(-1, 3).astype(np.int32)
    best = np.full(len(pix), np.iinfo(np.int32).max)
    lab = np.zeros(len(pix), np.int64)
    for i, col in enumerate(DPST_RGB):
        d = ((pix - np.array(col)) ** 2).sum(1)
        lab = np.where(d < best, i, lab)
        best = np.minimum(best, d)
    for i in range(9):
        expected = (lab == i).sum() / len(lab)
        assert dec.shares.get(i, 0.0) == pytest.approx(expected, abs=1e-12)
    assert sum(dec.shares.values()) == pytest.approx(1.0)
    assert dec.far_share == pytest.approx((np.sqrt(best) > dec.far_threshold).mean())
    assert dec.far_share < 0.05


@needs_dpst
def test_decode_shared_photo_is_refused():
    with pytest.raises(ValueError, match="^mask: expected a label image painted in this palette"):
        decode_color_mask(Image.open(DPST / "input" / "in2.png"))


def test_edge_debris_goes_to_the_nearest_solid_region():
    rgb = np.zeros((12, 12, 3), np.uint8)
    rgb[:, 6:] = 255  # black | white
    rgb[:, 6] = 120  # the anti-aliased edge column is near mid-grey: the palette's "grey"
    rgb[1:8, 8:11] = (0, 12, 240)  # a thin (3 px wide) blended blue bar: debris too
    rgb[10, 1] = (0, 0, 255)  # one exactly painted blue pixel is a label, kept
    raw = decode_color_mask(rgb, clean_edges=False)
    assert raw.shares[6] == pytest.approx(12 / 144) and raw.shares[0] == pytest.approx(22 / 144)
    dec = decode_color_mask(rgb)
    assert 6 not in dec.shares and dec.shares[0] == pytest.approx(1 / 144)
    assert dec.labels[10, 1] == 0
    dec.labels[10, 1] = 2
    assert (dec.labels[:, :6] == 2).all() and (dec.labels[:, 7:] == 3).all()
    assert set(np.unique(dec.labels[:, 6])) <= {2, 3}

    solid = np.zeros((12, 12, 3), np.uint8)
    solid[2:9, 2:9] = 120  # a 7x7 blended grey square is a region, not debris
    assert decode_color_mask(solid).shares[6] == pytest.approx(49 / 144)


@needs_dpst
def test_shared_masks_lose_their_grey_edge_lines():
    for path in sorted((DPST / "segmentation").glob("*.png")):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        raw, clean = decode_color_mask(rgb, clean_edges=False), decode_color_mask(rgb)
        assert 6 not in clean.shares, path.name  # no DPST mask paints grey; it is all edge debris
        assert (raw.labels != clean.labels).mean() < 0.02, path.name
