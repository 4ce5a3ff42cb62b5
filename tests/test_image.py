import os

import numpy as np
import pytest
import torch
from PIL import Image

from photostyle.image import (
    check_writable, long_side_shape, resize_long_side, save_image, to_numpy, to_pil, to_tensor,
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

    # A 16-bit colour PNG (written by hand: Pillow cannot write one) is read, at 8-bit precision.
    arr16 = np.full((6, 4, 3), 16448, dtype=np.uint16)
    arr16[0, 0] = [65535, 0, 0]
    path = tmp_path / "deep.png"
    _write_png16(path, arr16)
    with pytest.warns(UserWarning, match="16-bit colour PNG; it is read at 8 bits"):
        t = to_tensor(path)
    assert t.shape == (1, 3, 6, 4)
    assert torch.allclose(t[0, :, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    assert abs(float(t[0, 1, 3, 3]) - 64 / 255) < 1e-6

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
    with pytest.raises(ValueError, match=r"values must lie in \[0, 1\]"):
        to_tensor(x * 255)
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
    with pytest.raises(ValueError, match="float images must lie in"):
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
    with pytest.raises(ValueError, match="unknown image suffix"):
        save_image(img, tmp_path / "x.unknown")


def test_unwritable_directory_message(tmp_path, monkeypatch):
    # Root ignores permission bits, so simulate a read-only directory through os.access.
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(PermissionError, match="is not writable; choose another output path"):
        save_image(torch.rand(1, 3, 4, 4), tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


def test_to_pil():
    pil = to_pil(torch.ones(1, 3, 2, 3))
    assert pil.size == (3, 2) and pil.mode == "RGB"
