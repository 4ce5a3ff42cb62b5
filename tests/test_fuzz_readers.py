"""Fuzzed readers: any bytes in, a result or a documented exception out; never another exception
type, never a hang, never a huge allocation for a tiny file.

Readers, documented exceptions, seeds and mutations: tests/_fuzz.py. Here Hypothesis draws the
inputs (50 per reader, derandomized so CI is deterministic; a 10 s deadline per case catches hangs,
normal cases take milliseconds). benchmarks/fuzz_readers.py runs 10,000 cases per reader.
The tests after the property tests pin the inputs that once gave an undocumented outcome.
"""

from __future__ import annotations

import io
import os
import warnings
from datetime import timedelta

import numpy as np
import pytest
import torch
from PIL import Image

from ._fuzz import MUTATIONS, READERS, check, mutate, seeds, set_npy_shape, set_png_size

hypothesis = pytest.importorskip("hypothesis", reason="the fuzz tests need Hypothesis: pip install photostyle[test]")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

settings.register_profile(
    "photostyle-fuzz",
    max_examples=int(os.environ.get("PHOTOSTYLE_FUZZ_EXAMPLES", "50")),
    derandomize=True,
    deadline=timedelta(seconds=10),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile("photostyle-fuzz")

_ops = st.lists(st.tuples(st.sampled_from(MUTATIONS), st.integers(0, 2**16 - 1), st.binary(max_size=8)),
                min_size=1, max_size=4)


def fuzz_inputs(kind: str) -> st.SearchStrategy[bytes]:
    """Arbitrary bytes, or a valid file of ``kind`` with 1-4 mutations."""
    return st.one_of(st.binary(max_size=512), st.tuples(st.sampled_from(seeds(kind)), _ops).map(lambda t: mutate(*t)))


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", list(READERS))
@FUZZ
@given(data=st.data())
def test_reader_gives_a_result_or_a_documented_exception(name, fuzz_dir, data):
    reader = READERS[name]
    blob = data.draw(fuzz_inputs(reader.kind), label="file bytes")
    outcome = check(reader, blob, fuzz_dir)
    documented = {"ok"} | {e.__name__ for e in reader.documented}
    assert outcome in documented, f"{name}: {outcome}"


@pytest.mark.parametrize("name", list(READERS))
def test_valid_seed_files_are_read(name, fuzz_dir):
    """The unmutated seeds are real files: each reader reads them (the fuzzing starts from valid input)."""
    reader = READERS[name]
    if name == "decode_color_mask":
        pytest.skip("decode_color_mask reads bytes as an array, not a file format")
    outcomes = [check(reader, blob, fuzz_dir) for blob in seeds(reader.kind)]
    assert outcomes.count("ok") >= max(1, len(outcomes) - 2), outcomes  # e.g. a 'P' PNG is not a colour mask


def test_mutations_do_what_they_say(monkeypatch):
    png = seeds("image")[0]
    assert mutate(png, [("truncate", 10, b"")]) == png[:10]
    assert mutate(b"abc", [("insert", 1, b"XY")]) == b"aXYbc"
    assert mutate(b"abcdef", [("delete", 2, b"z")]) == b"abef"
    assert mutate(b"abc", [("flip", 0, b"\x01")]) == b"cbc"
    big = set_png_size(png, 100_000, 100_000)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with Image.open(io.BytesIO(big)) as im:  # the header is accepted: the CRC was recomputed
        assert im.size == (100_000, 100_000)
    for short in (b"", b"\x93NUMPY\x02\x00\x10", b"\x93NUMPY\x01\x00"):  # too short to edit: unchanged
        assert set_npy_shape(short, (5, 5)) == short
    npy = set_npy_shape(seeds("npy")[0], (10**6, 10**6))
    assert np.lib.format.read_array_header_1_0(io.BytesIO(npy[8:]))[0] == (10**6, 10**6)


# ----------------------------------------------------------------- inputs that once failed, pinned
def _tiny_png_declaring(tmp_path, width, height):
    path = tmp_path / "bomb.png"
    path.write_bytes(set_png_size(seeds("image")[0], width, height))
    return path


@pytest.mark.parametrize("size", [(100_000, 100_000), (10_000, 10_000)])
def test_tiny_image_declaring_a_huge_size_is_refused_before_decoding(tmp_path, size):
    """Found by fuzzing: a 300-byte PNG declaring 10^10 pixels raised PIL's DecompressionBombError
    (undocumented); one declaring 10^8 (between PIL's warning and error limits) was allocated
    (300 MB) before failing. Both are now refused from the header with ValueError."""
    from photostyle.image import read_image, to_tensor
    from photostyle.spade.labels import load_labels

    from photostyle import segmentation

    path = _tiny_png_declaring(tmp_path, *size)
    assert path.stat().st_size < 1000
    w, h = size
    limit = Image.MAX_IMAGE_PIXELS
    declared = (f"{w} x {h} pixels, more than PIL.Image.MAX_IMAGE_PIXELS ({limit})" if w * h <= 2 * limit
                else f"{w * h} pixels, more than twice PIL.Image.MAX_IMAGE_PIXELS ({limit})")  # PIL's own refusal
    expected = (f"cannot read '{path}' as an image: it declares {declared}; the file is corrupt or a decompression "
                "bomb: if the image is real, raise PIL.Image.MAX_IMAGE_PIXELS (None: no limit) before reading it.")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even PIL's DecompressionBombWarning
        for reader in (read_image, to_tensor, load_labels):
            with pytest.raises(ValueError) as info:
                reader(path)
            assert str(info.value) == expected
        with pytest.raises(ValueError) as info:
            segmentation.load_label_map(path)
        assert str(info.value) == "src: " + expected


def test_raising_the_pixel_limit_lets_a_large_image_through(tmp_path, monkeypatch):
    from photostyle.image import read_image

    path = tmp_path / "ok.png"
    Image.fromarray(np.zeros((20, 30, 3), dtype=np.uint8)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)
    with pytest.raises(ValueError, match="declares 30 x 20 pixels, more than PIL.Image.MAX_IMAGE_PIXELS \\(500\\)"):
        read_image(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 600)
    assert read_image(path).shape == (20, 30, 3)


def test_label_map_with_a_huge_id_is_read_without_a_huge_allocation(tmp_path):
    """Found by fuzzing: ids like 2**46 made load_label_map's share count (np.bincount) allocate
    512 TiB and raise MemoryError. Counting with np.unique reads them."""
    from photostyle import segmentation

    labels = np.zeros((6, 6), dtype=np.int64)
    labels[:, 3:] = 2**46
    path = tmp_path / "ids.npy"
    np.save(path, labels)
    out = segmentation.load_label_map(path)
    assert out.dtype == np.int64 and sorted(np.unique(out).tolist()) == [0, 2**46]


def test_npy_declaring_more_data_than_it_holds_is_refused(tmp_path):
    from photostyle import segmentation

    path = tmp_path / "short.npy"
    path.write_bytes(set_npy_shape(seeds("npy")[0], (10**6, 10**6)))
    with pytest.raises(ValueError) as info:
        segmentation.load_label_map(path)
    held = path.stat().st_size - 128
    assert str(info.value) == (
        f"src: expected a complete .npy file, got '{path}', which declares an array of shape (1000000, 1000000) "
        f"(8000000000000 bytes) but holds {held} bytes of data (truncated or corrupt); write it again with "
        "segmentation.save_label_map."
    )
    np.save(path, np.zeros((2, 2), dtype=np.complex64))
    with pytest.raises(ValueError) as info:
        segmentation.load_label_map(path)
    assert str(info.value) == (
        "src: expected a .npy array of integer ids (or bool / integral floats), got a complex64 array in "
        f"'{path}'; save label maps with segmentation.save_label_map."
    )
    path.write_bytes(b"\x93NUMPY\x01\x00\xff")
    with pytest.raises(ValueError, match="as a .npy array \\(bad header"):
        segmentation.load_label_map(path)


# Found by fuzzing (benchmarks/fuzz_readers.py): a 114-byte PNG that PIL decodes to 5 x 1048576
# pixels made photostyle.spade.load_labels run for 30-40 s (colours made unique row-wise with
# np.unique(axis=0)); it now reads in about half a second, and its labels are those of the palette.
_TALL_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000050010000008020000002e7b112a0000003949444154789c636460f8cf"
    "8015fc67c42acc845d356ec002358e016a1e232e0bc9b6815c27117409f9360c420d8cffff13eb5d326d180e1a00faf4"
    "081f3fcc78090000000049454e44ae426082"
)


def test_tall_colour_label_map_is_decoded(tmp_path):
    from photostyle.spade.labels import load_labels
    from photostyle.spade.palette import colors_to_labels, label_colormap

    path = tmp_path / "tall.png"
    path.write_bytes(_TALL_PNG)
    labels = load_labels(path)
    assert labels.shape == (1048576, 5) and labels.dtype == np.int64
    ids, counts = np.unique(labels, return_counts=True)
    assert counts.sum() == 5 * 1048576 and ids.tolist() == [35, 53, 63, 72, 145]
    # the packed-colour decoding agrees with the nearest colour computed pixel by pixel
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    cmap = label_colormap("coco").astype(np.int64)
    nearest = ((img.reshape(-1, 1, 3).astype(np.int64) - cmap[None]) ** 2).sum(-1).argmin(1).reshape(40, 50)
    np.testing.assert_array_equal(colors_to_labels(img), nearest)


# Found by fuzzing (seed 1): torch.load raised AssertionError and struct.error on these files, which
# photostyle.spade.read_state_dict let through; it now reports every unreadable file as ValueError.
@pytest.mark.parametrize("blob", [
    bytes.fromhex("4d436047fbf6be78c39422"),
    bytes.fromhex("478d3b75c916fc"),
    "spade_checkpoint_assertion_error.pth",
])
def test_spade_checkpoint_reader_reports_every_bad_file_as_value_error(tmp_path, blob):
    from pathlib import Path

    from photostyle.spade.checkpoint import read_state_dict

    if isinstance(blob, str):
        blob = (Path(__file__).parent / "data" / "fuzz" / blob).read_bytes()
    path = tmp_path / "latest_net_G.pth"
    path.write_bytes(blob)
    with pytest.raises(ValueError) as info:
        read_state_dict(path)
    assert str(info.value).startswith(f"checkpoint: cannot read '{path}' as a PyTorch checkpoint (")
    assert str(info.value).endswith("the file is truncated or not a checkpoint: download it again or give the "
                                    "latest_net_G.pth of an NVlabs/SPADE model.")
