import os
import re
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import photostyle.image as image_module
from photostyle.image import (
    atomic_write_path, check_output_path, image_suffixes, long_side_shape, resize_long_side,
    read_image, save_image, to_numpy, to_pil, to_tensor,
)


def test_uint8_numpy_round_trip():
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, size=(7, 9, 3), dtype=np.uint8)
    t = to_tensor(arr)
    assert t.shape == (1, 3, 7, 9) and t.dtype == torch.float32
    assert torch.allclose(t[0, :, 2, 3], torch.tensor(arr[2, 3] / 255.0, dtype=torch.float32))
    np.testing.assert_array_equal(to_numpy(t), arr)


def test_grey_rgba_and_16bit(tmp_path):
    grey = np.full((4, 5), 51, dtype=np.uint8)
    t = to_tensor(grey)
    assert t.shape == (1, 3, 4, 5) and torch.allclose(t, torch.full_like(t, 0.2))

    rgba = np.zeros((4, 5, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 0  # fully transparent red → white
    with pytest.warns(UserWarning, match="transparent pixels"):
        t = to_tensor(rgba)
    assert torch.allclose(t, torch.ones_like(t))

    # A 16-bit colour PNG (written by hand: Pillow cannot write one) keeps its 16 bits (photostyle._png16,
    # tested in test_png16.py), silently.
    arr16 = np.full((6, 4, 3), 16448, dtype=np.uint16)
    arr16[0, 0] = [65535, 0, 0]
    arr16[5, 3] = [1, 2, 3]  # low bytes only
    path = tmp_path / "deep.png"
    _write_png16(path, arr16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = to_tensor(path)
    assert t.shape == (1, 3, 6, 4)
    assert torch.allclose(t[0, :, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    assert abs(float(t[0, 1, 3, 3]) - 16448 / 65535) < 1e-6
    assert torch.allclose(t[0, :, 5, 3].double(), torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64) / 65535, atol=1e-9)

    # A 16-bit colour TIFF (a RAW converter's output) keeps its 16 bits (tifffile), silently.
    tifffile = pytest.importorskip("tifffile")  # scikit-image's dependency
    tif = tmp_path / "deep.tif"
    fine = np.random.default_rng(3).integers(0, 65536, (6, 4, 3), dtype=np.uint16)  # low bytes matter
    tifffile.imwrite(tif, fine, photometric="rgb")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(read_image(tif), fine)
        t = to_tensor(tif)
        Image.fromarray((arr16 >> 8).astype(np.uint8)).save(tmp_path / "flat.tif")
        assert to_tensor(tmp_path / "flat.tif").shape == (1, 3, 6, 4)
    assert torch.allclose(t[0].permute(1, 2, 0).double(), torch.from_numpy(fine / 65535.0), atol=1e-7)

    # 16-bit grey keeps its 16 bits.
    grey_path = tmp_path / "grey16.png"
    Image.fromarray(np.full((3, 3), 30001, dtype=np.uint16)).save(grey_path)
    t = to_tensor(grey_path)
    assert abs(float(t[0, 0, 0, 0]) - 30001 / 65535) < 1e-6
    grey16 = Image.fromarray(np.full((3, 3), 30000, dtype=np.uint16))
    t = to_tensor(grey16)
    assert abs(float(t[0, 0, 0, 0]) - 30000 / 65535) < 1e-6


def _write_png16(path, arr):
    import struct
    import zlib

    h, w, _ = arr.shape
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_tensor_inputs_and_errors(tmp_path):
    x = torch.rand(3, 8, 6)
    assert to_tensor(x).shape == (1, 3, 8, 6)
    ramp = torch.linspace(0.25, 1.0, 144).reshape(3, 8, 6)  # known extremes: 63.75 and 255 once scaled
    with pytest.raises(ValueError, match=r"^image: expected tensor values in \[0, 1\], got \[63\.8, 255\]; divide "
                       r"by 255 \(8-bit data\) or clamp with \.clamp\(0, 1\)\.$"):
        to_tensor(ramp * 255)
    with pytest.raises(TypeError, match="float tensor"):
        to_tensor((x * 255).to(torch.uint8))
    with pytest.raises(ValueError, match="channels-first"):
        to_tensor(torch.rand(8, 6, 3, 2))
    with pytest.raises(FileNotFoundError, match="image file not found: '.*nope.png'"):
        to_tensor(tmp_path / "nope.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match="cannot read .*bad.png.* as an image"):
        to_tensor(bad)
    with pytest.raises(ValueError, match=re.escape("image: expected float values in [0, 1], got values in [0, 2]; "
                                                   "divide by 255 (8-bit data) or pass a uint8 array.")):
        to_tensor(np.full((3, 3, 3), 2.0))
    with pytest.raises(TypeError, match="expected a path, PIL image"):
        to_tensor([1, 2, 3])


def test_resize_long_side():
    assert long_side_shape((394, 700), 96) == (54, 96)
    assert long_side_shape((700, 394), 96) == (96, 54)
    t = torch.rand(1, 3, 394, 700)
    assert resize_long_side(t, 96).shape == (1, 3, 54, 96)


def test_save_image_atomic_and_no_overwrite(tmp_path):
    img = torch.rand(1, 3, 5, 7)
    out = tmp_path / "out.png"
    save_image(img, out)
    first = out.read_bytes()
    with pytest.raises(FileExistsError, match="already exists; pass overwrite=True"):
        save_image(torch.zeros(1, 3, 5, 7), out)
    assert out.read_bytes() == first  # nothing lost
    save_image(torch.zeros(1, 3, 5, 7), out, overwrite=True)
    assert np.asarray(Image.open(out)).max() == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]  # no temporary left behind
    with pytest.raises(FileNotFoundError, match="does not exist; create it first"):
        save_image(img, tmp_path / "missing" / "x.png")
    with pytest.raises(ValueError, match="unknown image suffix '.unknown'"):
        save_image(img, tmp_path / "x.unknown")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_image_suffixes_are_writable_photo_formats():
    suffixes = image_suffixes()
    assert {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"} <= set(suffixes)
    assert not {".gif", ".pdf", ".ico", ".eps", ".apng"} & set(suffixes)
    assert list(suffixes) == sorted(suffixes)
    registered = Image.registered_extensions()
    assert all(registered[s] in Image.SAVE for s in suffixes)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".bmp", ".PNG"])
def test_every_listed_suffix_is_written(tmp_path, suffix):
    out = save_image(torch.rand(1, 3, 6, 5), tmp_path / f"x{suffix}")
    assert Image.open(out).size == (5, 6)


def test_check_output_path_before_any_work(tmp_path):
    listed = ", ".join(image_suffixes())
    with pytest.raises(ValueError) as info:
        check_output_path("result")
    assert str(info.value) == (
        f"output 'result': expected a file name ending in an image suffix ({listed}), got no suffix; "
        "add one, e.g. 'result.png'."
    )
    with pytest.raises(ValueError) as info:
        check_output_path(tmp_path / "out.xyz")
    assert str(info.value) == (
        f"output '{tmp_path / 'out.xyz'}': unknown image suffix '.xyz'; expected one of {listed}, "
        f"e.g. '{tmp_path / 'out.png'}'."
    )
    existing = tmp_path / "done.png"
    existing.write_bytes(b"x")
    with pytest.raises(FileExistsError) as info:
        check_output_path(existing)
    assert str(info.value) == (
        f"output '{existing}' already exists; pass overwrite=True (CLI: --overwrite) or choose another path."
    )
    assert check_output_path(existing, overwrite=True) == existing
    with pytest.raises(FileNotFoundError) as info:
        check_output_path(tmp_path / "missing" / "x.png")
    assert str(info.value) == f"output directory '{tmp_path / 'missing'}' does not exist; create it first."
    with pytest.raises(IsADirectoryError) as info:
        check_output_path(tmp_path)
    assert str(info.value) == f"output '{tmp_path}' is a directory; give a file name such as '{tmp_path / 'out.png'}'."
    with pytest.raises(TypeError) as info:
        check_output_path(3)
    assert str(info.value) == "output: expected a file path (str or os.PathLike), got int."
    assert check_output_path(str(tmp_path / "new.JPG")) == tmp_path / "new.JPG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["done.png"]  # nothing created


def test_check_output_path_unwritable_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(PermissionError) as info:
        check_output_path(tmp_path / "x.png")
    assert str(info.value) == f"output directory '{tmp_path}' is not writable; choose another output path."


def test_save_image_checks_the_suffix_before_converting(tmp_path):
    # a bad image and a bad suffix: the suffix is reported (it is checked first, before any work)
    with pytest.raises(ValueError, match="got no suffix"):
        save_image(np.zeros((2, 2, 5)), tmp_path / "result")


@pytest.fixture
def umask():
    """Set the process umask for a test and restore it afterwards."""
    before = os.umask(0o022)
    os.umask(before)

    def set_umask(mask):
        os.umask(mask)

    yield set_umask
    os.umask(before)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077, 0o027])
def test_written_files_follow_the_umask(tmp_path, umask, mask):
    umask(mask)
    out = save_image(torch.rand(1, 3, 4, 4), tmp_path / "out.png")
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask
    with atomic_write_path(tmp_path / "state.pth") as tmp:
        torch.save({"w": torch.zeros(2)}, tmp)
    assert (tmp_path / "state.pth").stat().st_mode & 0o777 == 0o666 & ~mask
    # a plain open() under the same umask agrees
    (tmp_path / "plain.txt").write_text("x")
    assert (tmp_path / "plain.txt").stat().st_mode & 0o777 == 0o666 & ~mask


def test_umask_fallback_without_proc(tmp_path, umask, monkeypatch):
    umask(0o027)
    real_open = open

    def no_proc(file, *args, **kwargs):
        if str(file).startswith("/proc/"):
            raise OSError("no /proc here")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", no_proc)
    assert image_module._umask() == 0o027
    assert os.umask(0o027) == 0o027  # ...and it was put back
    out = save_image(torch.rand(1, 3, 4, 4), tmp_path / "out.png")
    assert out.stat().st_mode & 0o777 == 0o640


def test_replaced_file_keeps_its_mode(tmp_path, umask):
    umask(0o022)
    out = save_image(torch.rand(1, 3, 4, 4), tmp_path / "out.png")
    os.chmod(out, 0o604)
    save_image(torch.zeros(1, 3, 4, 4), out, overwrite=True)
    assert out.stat().st_mode & 0o777 == 0o604
    assert np.asarray(Image.open(out)).max() == 0


def test_unwritable_directory_message(tmp_path, monkeypatch):
    # Root ignores permission bits, so simulate a read-only directory through os.access.
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(PermissionError, match="is not writable; choose another output path"):
        save_image(torch.rand(1, 3, 4, 4), tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


def test_to_pil():
    pil = to_pil(torch.ones(1, 3, 2, 3))
    assert pil.size == (3, 2) and pil.mode == "RGB"


def test_stale_temporaries_of_a_killed_writer_are_found_and_only_they(tmp_path):
    """A writer killed inside atomic_write_path leaves its temporary file; remove_stale_temporaries
    deletes exactly those of the given outputs, whatever else the folder holds."""
    from photostyle.files import remove_stale_temporaries

    writer = atomic_write_path(tmp_path / "a.png")
    left = writer.__enter__()  # killed here: __exit__ never runs
    assert left.exists() and left.name.startswith(".a.") and left.name.endswith(".png")
    dotted = tmp_path / ".x.y.abcd_123.png"  # of the output "x.y.png"
    kept = [tmp_path / n for n in ("a.png", ".a.ABCD1234.png", ".a.abc.png", ".b.abcd1234.png", ".a.abcd1234.jpg",
                                   "a.abcd1234.png")]
    for path in [dotted, *kept]:
        path.write_bytes(b"x")
    (tmp_path / ".a.zzzz9999.png").mkdir()  # not a file
    removed = remove_stale_temporaries([tmp_path / "a.png", tmp_path / "x.y.png", tmp_path / "gone" / "c.png"])
    assert sorted(removed) == sorted([left, dotted])
    assert not left.exists() and not dotted.exists()
    assert all(path.exists() for path in kept) and (tmp_path / ".a.zzzz9999.png").is_dir()
    assert remove_stale_temporaries([tmp_path / "a.png"]) == []
