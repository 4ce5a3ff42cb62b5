"""16-bit colour PNGs read at 16 bits (photostyle._png16), against PNGs encoded here from the specification."""

from __future__ import annotations

import warnings
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from ._icc import SRGB_BLUE, SRGB_GREEN, SRGB_RED, rgb_profile
from ._png import filtered as _filtered, png16 as _png
from photostyle import read_image, to_tensor
from photostyle._deep import output_bits, source_bits
from photostyle._png16 import read_png16, unfilter

def _photo(h: int = 23, w: int = 37, c: int = 3, seed: int = 0) -> np.ndarray:
    """A smooth gradient with noise in the low bytes: every filter's predictor matters."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(yy * 1500 + xx * 700) % 60000 + k * 1000 for k in range(c)], axis=-1)
    return (base + rng.integers(0, 4000, (h, w, c))).astype(np.uint16)


@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("kind", [0, 1, 2, 3, 4, "mixed", "random", "simple", "middle"])
def test_every_filter_is_undone_exactly(tmp_path, channels, kind):
    """Each filter alone, mixed, only the row-at-a-time ones (none, Sub, Up), and Average and Paeth only in
    the middle rows (rows at a time before and after an anti-diagonal span)."""
    arr = _photo(c=channels)
    h = arr.shape[0]
    types = {"mixed": [y % 5 for y in range(h)], "random": list(np.random.default_rng(1).integers(0, 5, h)),
             "simple": [(y + 1) % 3 for y in range(h)],
             "middle": [(1, 2, 0)[y % 3] if y < 5 or y > 15 else 3 + y % 2 for y in range(h)]}.get(kind, [kind] * h)
    path = tmp_path / "deep.png"
    path.write_bytes(_png(arr, types))
    got = read_png16(path)
    assert got is not None and got.dtype == np.uint16 and np.array_equal(got, arr)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "read at 8 bits" warning
        assert np.array_equal(read_image(path), arr)
    assert source_bits(path) == 16 and output_bits("auto", path, tmp_path / "out.png") == 16


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (2, 2), (40, 3), (3, 40)])
def test_odd_shapes(tmp_path, shape):
    arr = _photo(*shape, seed=shape[0] * 100 + shape[1])
    path = tmp_path / "odd.png"
    path.write_bytes(_png(arr, [4 - y % 5 for y in range(shape[0])]))
    assert np.array_equal(read_png16(path), arr)


def test_unfilter_reads_rows_of_random_bytes_like_the_specification():
    """Random filtered bytes and types (any byte string is a valid filtered image), against a byte-at-a-time
    decoder written from the specification."""
    rng = np.random.default_rng(7)
    h, w, bpp = 6, 11, 6
    filtered = rng.integers(0, 256, (h, w * bpp), dtype=np.uint8)
    types = rng.integers(0, 5, h).astype(np.uint8)
    raw = np.zeros((h, w * bpp), dtype=np.int64)
    for y in range(h):
        for i in range(w * bpp):
            a = raw[y, i - bpp] if i >= bpp else 0
            b = raw[y - 1, i] if y else 0
            c = raw[y - 1, i - bpp] if y and i >= bpp else 0
            p = a + b - c
            paeth = a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else b if abs(p - b) <= abs(p - c) else c
            raw[y, i] = (int(filtered[y, i]) + (0, a, b, (a + b) // 2, paeth)[types[y]]) % 256
    assert np.array_equal(unfilter(filtered, types, bpp), raw.astype(np.uint8))


def test_a_16bit_png_keeps_its_16_bits_through_to_tensor(tmp_path):
    arr = _photo(c=4)
    arr[..., 3] = 65535  # opaque
    path = tmp_path / "deep.png"
    path.write_bytes(_png(arr))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = to_tensor(path)
    assert t.shape == (1, 3, 23, 37)
    assert torch.allclose(t[0].permute(1, 2, 0).double(), torch.from_numpy(arr[..., :3] / 65535.0), atol=1e-7)
    with Image.open(path) as im:  # Pillow's 8 bits: the high bytes
        assert np.abs(np.asarray(im.convert("RGB")).astype(int) - (arr[..., :3] >> 8)).max() <= 1


def test_orientation_profile_and_srgb_chunks(tmp_path):
    arr = _photo()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side: turned 90 degrees clockwise for display
    path = tmp_path / "turned.png"
    path.write_bytes(_png(arr, chunks=[(b"eXIf", exif.tobytes()[6:])]))
    assert np.array_equal(read_image(path), np.rot90(arr, -1))

    swapped = rgb_profile(SRGB_GREEN, SRGB_RED, SRGB_BLUE, description="red and green swapped")
    iccp = b"swapped\x00\x00" + zlib.compress(swapped)
    path.write_bytes(_png(arr, chunks=[(b"iCCP", iccp)]))
    got = read_image(path)
    assert got.dtype == np.uint16
    assert np.abs(got.astype(int) - arr[..., [1, 0, 2]].astype(int)).max() <= 40  # of 65535: s15Fixed16 colorants
    path.write_bytes(_png(arr, chunks=[(b"sRGB", b"\x00")]))
    assert np.array_equal(read_image(path), arr)


def test_what_is_not_decoded_here_goes_to_pillow_at_8_bits(tmp_path):
    arr = _photo(17, 21)
    path = tmp_path / "interlaced.png"
    path.write_bytes(_png(arr, interlace=True))
    assert read_png16(path) is None
    with pytest.warns(UserWarning, match=r"interlaced.png' is a 16-bit colour PNG that is interlaced or has a colour "
                                         r"profile of look-up tables; it is read at 8 bits per channel"):
        got = read_image(path)
    assert got.dtype == np.uint8 and np.abs(got.astype(int) - (arr >> 8)).max() <= 1
    assert source_bits(path) == 8

    short = tmp_path / "short.png"  # image data ending a row early: Pillow's reading words the error
    short.write_bytes(_png(arr, data=_filtered(arr, [0] * 17)[:-7]))
    assert read_png16(short) is None
    with pytest.raises(ValueError, match="cannot read .*short.png' as an image"):
        read_image(short)
    bad = tmp_path / "badfilter.png"
    data = bytearray(_filtered(arr, [0] * 17))
    data[0] = 9  # no such filter
    bad.write_bytes(_png(arr, data=bytes(data)))
    assert read_png16(bad) is None
    # A bomb: the header says 2 x 2 pixels, the data inflates to megabytes; only the header's size is inflated.
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png(_photo(2, 2), data=b"\x00" * 8_000_000))
    assert read_png16(bomb) is not None and read_png16(bomb).shape == (2, 2, 3)


def test_a_png_written_by_libpng_reads_the_same(tmp_path):
    """libpng's adaptive filters (through OpenCV, an extra), on a photo-like image."""
    cv2 = pytest.importorskip("cv2")
    arr = _photo(64, 96, seed=3)
    path = tmp_path / "libpng.png"
    cv2.imwrite(str(path), arr[..., ::-1])
    assert np.array_equal(read_image(path), arr)
