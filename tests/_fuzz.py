"""Shared pieces of the fuzzed-reader tests (tests/test_fuzz_readers.py) and the fuzz benchmark
(benchmarks/fuzz_readers.py).

Every reader of files in the library is listed in :data:`READERS` with the exceptions its docstring
documents. :func:`check` writes some bytes to a file, calls the reader on it and returns the outcome:
``"ok"``, the name of a documented exception (which must carry a message), or
``"UNDOCUMENTED <type>: <message>"`` for anything else. The inputs are arbitrary bytes and valid
files (:func:`seeds`) changed by a list of mutations (:func:`mutate`): bit flips, overwrites,
insertions, deletions, truncation, and header edits that declare a huge image or array (a tiny
file that claims gigapixels must be refused, not allocated).

Plain Python: the Hypothesis strategies live in the test module, the benchmark draws the same
mutations with :class:`random.Random`, so it runs without Hypothesis.
"""

from __future__ import annotations

import io
import random
import struct
import sys
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["Reader", "READERS", "MUTATIONS", "seeds", "mutate", "random_mutations", "random_case", "check",
           "set_png_size", "set_npy_shape"]

#: Mutation kinds: (kind, position, payload) tuples applied in order by :func:`mutate`.
MUTATIONS = ("flip", "set", "insert", "delete", "truncate", "huge_size", "huge_shape", "dup")

_HUGE = (0x7FFFFFFF, 0xFFFFFFFF, 1 << 16, 1 << 20, 100_000, 65_535)


# ------------------------------------------------------------------------------------------ mutations
def set_png_size(data: bytes, width: int, height: int) -> bytes:
    """A PNG with its IHDR width and height replaced (and the chunk's CRC recomputed, so the header
    is accepted); other bytes unchanged. Non-PNG data is returned as it is."""
    if len(data) < 33 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return data
    ihdr = bytearray(data[12:29])
    ihdr[4:12] = struct.pack(">II", width & 0xFFFFFFFF, height & 0xFFFFFFFF)
    crc = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    return data[:12] + bytes(ihdr) + crc + data[33:]


def set_npy_shape(data: bytes, shape: tuple[int, ...]) -> bytes:
    """A .npy file whose header declares ``shape`` (the data bytes are left as they were)."""
    if not data.startswith(b"\x93NUMPY") or len(data) < 10:
        return data
    major = data[6]
    hlen_size = 2 if major == 1 else 4
    fmt = "<H" if hlen_size == 2 else "<I"
    start = 8 + hlen_size
    if len(data) < start:
        return data
    (hlen,) = struct.unpack(fmt, data[8:start])
    header = data[start:start + hlen].decode("latin1", errors="replace")
    i, j = header.find("'shape': ("), header.find(")", header.find("'shape': ("))
    if i < 0 or j < 0:
        return data
    new = header[:i] + f"'shape': {tuple(shape)!r}" + header[j + 1:]
    new = new.rstrip("\n ")
    pad = (-(start + len(new) + 1)) % 64
    new = (new + " " * pad + "\n").encode("latin1")
    return data[:8] + struct.pack(fmt, len(new)) + new + data[start + hlen:]


def _set_bmp_gif_size(data: bytes, width: int, height: int) -> bytes:
    if data[:2] == b"BM" and len(data) >= 26:
        return data[:18] + struct.pack("<ii", width & 0x7FFFFFFF, height & 0x7FFFFFFF) + data[26:]
    if data[:3] == b"GIF" and len(data) >= 10:
        return data[:6] + struct.pack("<HH", width & 0xFFFF, height & 0xFFFF) + data[10:]
    return data


def mutate(data: bytes, ops: Sequence[tuple[str, int, bytes]]) -> bytes:
    """Apply mutations in order; each is ``(kind, position, payload)`` with kind in :data:`MUTATIONS`.

    Positions wrap around the current length; payloads give the bytes written or inserted, the bit
    flipped, the size declared (``huge_size``: width/height of a PNG, BMP or GIF; ``huge_shape``: the
    shape in a .npy header).
    """
    buf = bytes(data)
    for kind, pos, payload in ops:
        n = len(buf)
        p = pos % (n + 1)
        if kind == "flip" and n:
            b = bytearray(buf)
            b[pos % n] ^= 1 << ((payload[0] if payload else pos) % 8)
            buf = bytes(b)
        elif kind == "set" and n:
            q = pos % n
            buf = buf[:q] + payload + buf[q + len(payload):]
        elif kind == "insert":
            buf = buf[:p] + payload + buf[p:]
        elif kind == "delete":
            buf = buf[:p] + buf[p + 1 + len(payload):]
        elif kind == "truncate":
            buf = buf[:p]
        elif kind == "dup" and n:
            q = pos % n
            buf = buf[:q] + buf[q:q + 1 + len(payload) * 8] + buf[q:]
        elif kind in ("huge_size", "huge_shape"):
            k = (payload[0] if payload else pos) % len(_HUGE)
            big = _HUGE[k]
            small = 1 + (pos % 7)
            w, h = (big, small) if pos % 3 == 0 else (small, big) if pos % 3 == 1 else (big, big)
            if kind == "huge_size":
                buf = set_png_size(buf, w, h)
                buf = _set_bmp_gif_size(buf, w, h)
            else:
                buf = set_npy_shape(buf, (h, w))
    return buf


def random_mutations(rng: random.Random, *, max_ops: int = 4) -> list[tuple[str, int, bytes]]:
    """1..max_ops random mutations, drawn as the Hypothesis strategy draws them."""
    ops = []
    for _ in range(rng.randint(1, max_ops)):
        kind = rng.choice(MUTATIONS)
        ops.append((kind, rng.randrange(1 << 16), bytes(rng.randrange(256) for _ in range(rng.randint(0, 8)))))
    return ops


def random_case(rng: random.Random, reader: Reader) -> bytes:
    """One fuzz input for ``reader``: random bytes (1 in 4) or a mutated valid file."""
    if rng.random() < 0.25:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 512)))
    seed = rng.choice(seeds(reader.kind))
    return mutate(seed, random_mutations(rng))


# --------------------------------------------------------------------------------------- valid files
def _png(arr: np.ndarray, mode: str | None = None, **save) -> bytes:
    from PIL import Image

    im = Image.fromarray(arr) if mode is None else Image.fromarray(arr).convert(mode)
    buf = io.BytesIO()
    im.save(buf, format=save.pop("format", "PNG"), **save)
    return buf.getvalue()


@lru_cache(maxsize=None)
def _image_seeds() -> tuple[bytes, ...]:
    from PIL import Image

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (9, 7), dtype=np.uint8)
    rgba = rng.integers(0, 256, (8, 8, 4), dtype=np.uint8)
    out = [
        _png(rgb), _png(grey), _png(rgba), _png(rgb, "P"), _png(grey, "1"),
        _png(rgb, format="JPEG", quality=80), _png(rgb, format="TIFF"), _png(rgb, format="BMP"),
        _png(rgb, format="GIF"), _png(rgb, format="PPM"), _png(rgb, format="TGA"),
        _png(rgb, format="TIFF", compression="tiff_deflate"),
    ]
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 65536, (6, 5), dtype=np.uint16)).save(buf, format="PNG")  # 16-bit grey
    out.append(buf.getvalue())
    if __package__:  # 16-bit colour PNGs (photostyle._png16): every row filter, RGB and RGBA, and interlaced
        from ._png import png16
    else:  # benchmarks/fuzz_readers.py puts tests/ on the path
        from _png import png16
    deep = rng.integers(0, 65536, (7, 6, 4), dtype=np.uint16)
    out += [png16(deep[..., :3], [y % 5 for y in range(7)]), png16(deep, [4, 3, 1, 2, 0, 4, 3]),
            png16(deep[..., :3], interlace=True)]
    if ".webp" in Image.registered_extensions():
        try:
            out.append(_png(rgb, format="WEBP"))
        except (OSError, KeyError):
            pass
    return tuple(out)


@lru_cache(maxsize=None)
def _mask_seeds() -> tuple[bytes, ...]:
    """Colour masks in the DPST palette, a 'P' label map, grey and 16-bit label maps."""
    from PIL import Image

    colours = np.array([[0, 0, 255], [0, 255, 0], [0, 0, 0], [255, 255, 255], [255, 0, 0]], dtype=np.uint8)
    ids = np.zeros((16, 16), dtype=np.uint8)
    ids[:, 8:] = 1
    ids[10:, :] = 3
    ids[2:5, 2:5] = 4
    mask = colours[ids]
    out = [_png(mask), _png(ids), _png(mask, format="BMP"), _png(mask, format="TIFF")]
    pal = Image.fromarray(ids, mode="L").convert("P")
    pal.putpalette(colours.reshape(-1).tolist())
    buf = io.BytesIO()
    pal.save(buf, format="PNG")
    out.append(buf.getvalue())
    buf = io.BytesIO()
    Image.fromarray(ids.astype(np.uint16) * 300).save(buf, format="PNG")
    out.append(buf.getvalue())
    return tuple(out)


@lru_cache(maxsize=None)
def _npy_seeds() -> tuple[bytes, ...]:
    out = []
    for arr in (np.arange(20, dtype=np.int64).reshape(4, 5) % 3, np.zeros((6, 3), dtype=np.uint8),
                np.ones((5, 5), dtype=np.int32), np.eye(4, dtype=bool), np.full((3, 4), 2.0, dtype=np.float32)):
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        out.append(buf.getvalue())
    return tuple(out)


@lru_cache(maxsize=None)
def _vgg_seeds() -> tuple[bytes, ...]:
    """Small VGG-19 files in the real layouts (random tensors, real key names and shapes)."""
    import tempfile

    import torch

    here = Path(__file__).resolve().parent
    if str(here) not in sys.path:
        sys.path.insert(0, str(here))
    from _vgg_files import write_caffe_vgg19, write_normalised_vgg19, write_torchvision_vgg19

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        for path in (write_normalised_vgg19(t / "a.pth", up_to="conv1_1"),
                     write_torchvision_vgg19(t / "b.pth", up_to="conv1_1", classifier=False),
                     write_caffe_vgg19(t / "c.pth", up_to="conv1_1")):
            out.append(path.read_bytes())
        torch.save({"state_dict": {"0.weight": torch.zeros(3, 3, 1, 1)}}, t / "d.pth")
        out.append((t / "d.pth").read_bytes())
    return tuple(out)


@lru_cache(maxsize=None)
def _spade_checkpoint_seeds() -> tuple[bytes, ...]:
    import tempfile

    import torch

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        torch.save({"fc.weight": torch.zeros(8, 4, 3, 3), "fc.bias": torch.zeros(8)}, t / "g.pth")
        lin = torch.nn.Linear(3, 2)
        opt = torch.optim.Adam(lin.parameters())
        lin(torch.ones(1, 3)).sum().backward()
        opt.step()
        torch.save({"step": 3, "ndf": 4, "optimizers": {"G": opt.state_dict()}}, t / "s.pth")
        out += [(t / "g.pth").read_bytes(), (t / "s.pth").read_bytes()]
    return tuple(out)


def _manifest_seeds() -> tuple[bytes, ...]:
    """Batch manifests (JSON Lines); the photos they name are made beside the fuzzed file by the reader."""
    return (
        b'{"content": "a.png", "style": "b.png"}\n',
        b'# a shoot\n{"content": "a.png", "style": "b.png", "output": "x.png", "work_size": 64}\n\n'
        b'{"content": "b.png", "style": "a.png", "content_mask": "auto", "num_steps": [2, 1, 1]}\n',
        b'{"content": "a.png", "style": "b.png", "preset": "lite", "init": "content", "output_size": "work"}\n',
    )


def seeds(kind: str) -> tuple[bytes, ...]:
    """Valid files of a kind: "image", "mask", "npy", "vgg", "spade_checkpoint", "manifest"."""
    return {"image": _image_seeds, "mask": _mask_seeds, "npy": _npy_seeds, "vgg": _vgg_seeds,
            "spade_checkpoint": _spade_checkpoint_seeds, "manifest": _manifest_seeds}[kind]()


# ------------------------------------------------------------------------------------------- readers
@dataclass(frozen=True)
class Reader:
    """A reader of files: its call on a path, the exceptions it documents, the seeds it is fed."""

    name: str
    call: Callable[[Path], object]
    documented: tuple[type[BaseException], ...]
    kind: str
    suffix: str


def _read_image(path: Path):
    from photostyle.image import read_image

    return read_image(path)


def _to_tensor(path: Path):
    from photostyle.image import to_tensor

    return to_tensor(path)


def _label_map(path: Path):
    from photostyle import segmentation

    return segmentation.load_label_map(path)


def _color_mask(path: Path):
    """decode_color_mask on the bytes as an array: byte 0 picks the dtype, 1-3 the shape."""
    from photostyle import segmentation

    data = path.read_bytes()
    dtypes = (np.uint8, np.uint16, np.int32, np.int64, np.float32, np.float64, np.bool_, np.int8, np.complex64,
              np.float16)
    if len(data) < 4:
        arr = np.frombuffer(data, dtype=np.uint8)
    elif data[0] % 4 == 3:  # a mask painted in palette colours, with stray values: exercises the decoding
        colours = np.vstack([segmentation.DPST_PALETTE.colors, np.frombuffer(data[4:7].ljust(3, b"\0"), np.uint8)])
        h, w = 1 + data[1] % 20, 1 + data[2] % 20
        ids = np.frombuffer((data[7:] or b"\0") * (1 + h * w), dtype=np.uint8)[: h * w] % len(colours)
        arr = colours.astype(np.uint8)[np.sort(ids).reshape(h, w)]
    else:
        dtype = np.dtype(dtypes[data[0] % len(dtypes)])
        shape = (data[1] % 24, data[2] % 24, data[3] % 6)
        body = data[4:]
        count = int(np.prod(shape))
        raw = (body * (1 + count * dtype.itemsize // max(1, len(body))))[: count * dtype.itemsize] if body else b""
        if len(raw) < count * dtype.itemsize:
            raw = raw + b"\0" * (count * dtype.itemsize - len(raw))
        arr = np.frombuffer(raw, dtype=dtype).reshape(shape) if count else np.zeros(shape, dtype=dtype)
    return segmentation.decode_color_mask(arr)


def _spade_labels(path: Path):
    from photostyle.spade.labels import load_labels

    return load_labels(path)


def _spade_labels_ade(path: Path):
    from photostyle.spade.labels import as_label_tensor

    return as_label_tensor(path, preset="ade20k")


def _vgg(path: Path):
    from photostyle.encoders import load_vgg19_weights

    return load_vgg19_weights(path, progress=False)


def _spade_checkpoint(path: Path):
    from photostyle.spade.checkpoint import read_state_dict, read_train_state

    try:
        return read_state_dict(path)
    except ValueError:
        return read_train_state(path)


def _manifest(path: Path):
    from photostyle.batch import read_manifest

    for name in ("a.png", "b.png"):  # the photos the seeds name, so that valid manifests read "ok"
        if not (path.parent / name).exists():
            (path.parent / name).write_bytes(_png(np.full((8, 8, 3), 128, np.uint8)))
    return read_manifest(path)


READERS: dict[str, Reader] = {r.name: r for r in (
    Reader("read_image", _read_image, (FileNotFoundError, ValueError), "image", ".png"),
    Reader("to_tensor", _to_tensor, (FileNotFoundError, ValueError, TypeError), "image", ".jpg"),
    Reader("decode_color_mask", _color_mask, (ValueError, TypeError), "mask", ".bin"),
    Reader("load_label_map.png", _label_map, (FileNotFoundError, ValueError), "mask", ".png"),
    Reader("load_label_map.npy", _label_map, (FileNotFoundError, ValueError), "npy", ".npy"),
    Reader("spade.load_labels", _spade_labels, (FileNotFoundError, ValueError), "mask", ".png"),
    Reader("spade.as_label_tensor", _spade_labels_ade, (FileNotFoundError, ValueError, TypeError), "mask", ".png"),
    Reader("load_vgg19_weights", _vgg, (FileNotFoundError, RuntimeError, ValueError), "vgg", ".pth"),
    Reader("spade.read_state_dict", _spade_checkpoint, (FileNotFoundError, ValueError), "spade_checkpoint", ".pth"),
    Reader("batch.read_manifest", _manifest, (FileNotFoundError, ValueError), "manifest", ".jsonl"),
)}


def check(reader: Reader, data: bytes, directory: Path) -> str:
    """Write ``data`` to a file in ``directory``, read it with ``reader``; return the outcome.

    ``"ok"``; the documented exception's name; or ``"UNDOCUMENTED <type>: <message>"`` for an
    exception outside the documented set, or a documented one without a message.
    """
    path = Path(directory) / f"fuzz{reader.suffix}"
    path.write_bytes(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader.call(path)
    except reader.documented as exc:
        if not str(exc).strip():
            return f"UNDOCUMENTED {type(exc).__name__} without a message"
        # the documented class it is (a subclass such as WeightsFileError counts as its documented base)
        return next(kind.__name__ for kind in reader.documented if isinstance(exc, kind))
    except Exception as exc:  # noqa: BLE001 - this is what the fuzzing looks for
        return f"UNDOCUMENTED {type(exc).__module__}.{type(exc).__name__}: {str(exc)[:200]}"
    finally:
        path.unlink(missing_ok=True)
    return "ok"
