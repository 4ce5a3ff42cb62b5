"""Tests for photostyle.encoders: layouts, loading, resolution, downloads, errors, the encoder."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import socket
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from photostyle.encoders import VGG19Encoder
from photostyle.layers import VGG19_LAYERS
from photostyle.weights import WEIGHTS_ENV_VAR, VGG19StateDict, VGG19Weights, load_vgg19_weights

try:
    from _vgg_files import (
        sha256_of,
        write_caffe_vgg19,
        write_normalised_vgg19,
        write_torchvision_vgg19,
    )
except ImportError:  # tests/ imported as a package
    from tests._vgg_files import (  # type: ignore[no-redef]
        sha256_of,
        write_caffe_vgg19,
        write_normalised_vgg19,
        write_torchvision_vgg19,
    )

from ._shared import SHARED, SHARED_WEIGHTS  # noqa: E402

SHARED_WEIGHTS_SHA256 = "ff8506173d3a17e7b0fbfbff242c00b6827cfbcd7c21852b46806ae6a3fd7b09"
PHOTO = SHARED / "data" / "dpst" / "input" / "in9.png"

H, W = 37, 50  # odd sizes: pooling rounds differently per layout
FLOOR = {"pool1": (18, 25), "pool2": (9, 12), "pool3": (4, 6), "pool4": (2, 3), "pool5": (1, 1)}
CEIL = {"pool1": (19, 25), "pool2": (10, 13), "pool3": (5, 7), "pool4": (3, 4), "pool5": (2, 2)}


def _image(h: int = H, w: int = W, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


def _load_quiet(*args, **kwargs) -> VGG19StateDict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_vgg19_weights(*args, **kwargs)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No test sees the user's environment variable or torch hub cache."""
    monkeypatch.delenv(WEIGHTS_ENV_VAR, raising=False)
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    return hub


@pytest.fixture(scope="session")
def full_torchvision(tmp_path_factory) -> Path:
    """A full-depth torchvision file under its real name (conv weights 80 MB, classifier tiny)."""
    return write_torchvision_vgg19(tmp_path_factory.mktemp("tv") / "vgg19-dcbb9e9d.pth")


@pytest.fixture(scope="session")
def small_torchvision(tmp_path_factory) -> Path:
    return write_torchvision_vgg19(tmp_path_factory.mktemp("tvs") / "vgg19-dcbb9e9d.pth", up_to="conv2_1")


@pytest.fixture(scope="session")
def caffe_to_conv4_2(tmp_path_factory) -> Path:
    return write_caffe_vgg19(tmp_path_factory.mktemp("caffe") / "my_caffe_vgg.pth", up_to="conv4_2")


# --------------------------------------------------------------------------------------------------
# Layer table
# --------------------------------------------------------------------------------------------------


def test_layer_names_match_torchvision_indices():
    assert len(VGG19_LAYERS) == 37
    expected = {"conv1_1": 0, "relu1_1": 1, "conv1_2": 2, "pool1": 4, "conv2_1": 5, "conv3_1": 10,
                "pool3": 18, "conv4_1": 19, "conv4_2": 21, "relu4_2": 22, "conv5_1": 28, "relu5_4": 35,
                "pool5": 36}
    for name, index in expected.items():
        assert VGG19_LAYERS[index] == name
    assert sum(n.startswith("conv") for n in VGG19_LAYERS) == 16
    assert sum(n.startswith("pool") for n in VGG19_LAYERS) == 5


def test_weights_enum_carries_metadata():
    caffe, imagenet = VGG19Weights.CAFFE, VGG19Weights.IMAGENET
    assert caffe.url.endswith("/vgg19-d01eb7cb.pth") and caffe.file_name == "vgg19-d01eb7cb.pth"
    assert imagenet.url == "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
    assert (caffe.layout, imagenet.layout) == ("caffe", "torchvision")
    assert caffe.info.sha256_prefix == "d01eb7cb" and imagenet.info.sha256_prefix == "dcbb9e9d"
    assert caffe.info.channel_order == "BGR" and caffe.info.pixel_scale == 256.0
    assert "BGR" in caffe.preprocessing and "ImageNet" in imagenet.preprocessing
    with pytest.raises(dataclasses.FrozenInstanceError):
        caffe.info.url = "x"  # type: ignore[misc]


# --------------------------------------------------------------------------------------------------
# Layouts from written files
# --------------------------------------------------------------------------------------------------


def test_torchvision_full_file(full_torchvision):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the real file name decides: no guessing, no warning
        loaded = load_vgg19_weights(full_torchvision)
    assert loaded.layout == "torchvision" and loaded.preprocess_conv is None
    assert loaded.source == str(full_torchvision)
    assert loaded.available == tuple(n for n in VGG19_LAYERS if n.startswith("conv"))
    assert not any(k.startswith("classifier") for k in loaded.state_dict)
    assert set(loaded.state_dict) == {
        f"features.{i}.{kind}" for i, n in enumerate(VGG19_LAYERS) if n.startswith("conv")
        for kind in ("weight", "bias")
    }

    layers = ["relu1_1", "pool1", "pool2", "relu3_1", "pool3", "relu4_2", "pool4", "relu5_1", "pool5"]
    enc = VGG19Encoder(layers, weights=full_torchvision)
    assert enc.layout == "torchvision" and enc.pool_ceil_mode is False
    assert enc.names == VGG19_LAYERS
    out = enc(_image())
    assert list(out) == layers
    for name, size in FLOOR.items():
        assert tuple(out[name].shape[-2:]) == size, name
    assert out["relu4_2"].shape == (1, 512, 4, 6)
    for name, value in out.items():
        assert torch.isfinite(value).all() and value.abs().mean() > 1e-3, name


def test_torchvision_matches_hand_computation(small_torchvision):
    enc = VGG19Encoder(["conv1_1", "relu1_1", "pool1", "relu2_1"], weights=small_torchvision)
    assert enc.names == VGG19_LAYERS[:7]  # truncated after relu2_1
    sd = torch.load(small_torchvision, weights_only=True)
    x = _image()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    conv = nn.functional.conv2d((x - mean) / std, sd["features.0.weight"], sd["features.0.bias"], padding=1)
    out = enc(x)
    torch.testing.assert_close(out["conv1_1"], conv, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out["relu1_1"], conv.relu(), atol=1e-5, rtol=1e-5)
    assert (out["conv1_1"] < 0).any()  # the conv output is not overwritten by its ReLU
    assert tuple(out["pool1"].shape[-2:]) == FLOOR["pool1"]


def test_caffe_file_layout_and_ceil_pooling(caffe_to_conv4_2):
    with pytest.warns(UserWarning, match="classifier.1"):
        loaded = load_vgg19_weights(caffe_to_conv4_2)
    assert loaded.layout == "caffe"
    assert loaded.available[-1] == "conv4_2" and len(loaded.available) == 10

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # layout= given: no guessing
        enc = VGG19Encoder(["relu1_1", "pool1", "pool2", "pool3", "relu4_2"], weights=caffe_to_conv4_2,
                           layout="caffe")
    assert enc.pool_ceil_mode is True and enc.layout == "caffe"
    assert enc.names == VGG19_LAYERS[: VGG19_LAYERS.index("relu4_2") + 1]
    out = enc(_image())
    for name in ("pool1", "pool2", "pool3"):
        assert tuple(out[name].shape[-2:]) == CEIL[name], name
    assert out["relu4_2"].shape == (1, 512, 5, 7)
    assert all(torch.isfinite(v).all() for v in out.values())
    assert out["relu1_1"].abs().mean() > 1.0  # pixels x 256: large activations, as in the real network


def test_caffe_real_file_name_decides(tmp_path):
    path = write_caffe_vgg19(tmp_path / "vgg19-d01eb7cb.pth", up_to="conv1_2", classifier=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_vgg19_weights(path).layout == "caffe"
    with pytest.raises(ValueError, match="contradicts the file name"):
        load_vgg19_weights(path, layout="torchvision")


def test_heuristic_without_name_or_classifier(tmp_path):
    # He-scaled conv1_1 (unit-variance input): taken for torchvision, with a warning saying how to choose.
    path = write_torchvision_vgg19(tmp_path / "weights.pth", up_to="conv1_2", classifier=False)
    with pytest.warns(UserWarning, match="layout='caffe'"):
        assert load_vgg19_weights(path).layout == "torchvision"
    # conv1_1 sized for pixels in 0..255: taken for Caffe.
    sd = torch.load(path, weights_only=True)
    sd["features.0.weight"] = sd["features.0.weight"] / 60
    torch.save(sd, tmp_path / "small.pth")
    with pytest.warns(UserWarning, match="0..255"):
        assert load_vgg19_weights(tmp_path / "small.pth").layout == "caffe"
    # An explicit layout wins, silently.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_vgg19_weights(path, layout="caffe").layout == "caffe"


def test_normalised_full_file(tmp_path):
    path = write_normalised_vgg19(tmp_path / "vgg_normalised_conv5_1.pth", up_to="conv5_1")
    loaded = load_vgg19_weights(path)
    assert loaded.layout == "normalised" and loaded.available[-1] == "conv5_1"
    assert loaded.preprocess_conv["weight"].shape == (3, 3, 1, 1)
    raw = torch.load(path, weights_only=True)
    # the Sequential index map: conv1_1 at 2, conv2_1 at 9, conv3_1 at 16, conv4_2 at 32, conv5_1 at 42
    for seq_index, conv in ((2, "conv1_1"), (9, "conv2_1"), (16, "conv3_1"), (32, "conv4_2"), (42, "conv5_1")):
        tv_index = VGG19_LAYERS.index(conv)
        assert torch.equal(loaded.state_dict[f"features.{tv_index}.weight"], raw[f"{seq_index}.weight"])

    enc = VGG19Encoder(["relu1_1", "pool1", "pool3", "relu4_2", "relu5_1"], weights=path)
    assert enc.layout == "normalised" and enc.pool_ceil_mode
    assert enc.features[0].padding_mode == "reflect"
    assert set(enc.features.state_dict()) == {
        f"{i}.{k}" for i, n in enumerate(enc.names) if n.startswith("conv") for k in ("weight", "bias")
    }
    out = enc(_image())
    assert tuple(out["pool1"].shape[-2:]) == CEIL["pool1"] and tuple(out["pool3"].shape[-2:]) == CEIL["pool3"]
    assert out["relu5_1"].shape == (1, 512, 3, 4)
    assert all(torch.isfinite(v).all() and v.abs().mean() > 1e-3 for v in out.values())
    with pytest.raises(ValueError, match=r"end at conv5_1 \(relu5_1\); layer 'relu5_2' needs conv5_2"):
        VGG19Encoder(["relu5_2"], weights=path)


def test_normalised_partial_file(tmp_path):
    path = write_normalised_vgg19(tmp_path / "partial.pth", up_to="conv1_2")
    assert load_vgg19_weights(path).available == ("conv1_1", "conv1_2")
    enc = VGG19Encoder(["relu1_2"], weights=path)
    assert enc(_image())["relu1_2"].shape == (1, 64, H, W)
    with pytest.raises(ValueError, match=r"end at conv1_2 \(relu1_2\); layer 'conv2_1' needs conv2_1"):
        VGG19Encoder(["conv2_1"], weights=path)


def test_encoder_is_frozen_eval_and_passes_gradients_to_image(small_torchvision):
    enc = VGG19Encoder(["relu2_1"], weights=small_torchvision)
    assert not enc.training
    assert all(not p.requires_grad for p in enc.parameters())
    x = _image().requires_grad_(True)
    enc(x)["relu2_1"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in enc.parameters())


def test_walk_yields_every_module_in_order(small_torchvision):
    enc = VGG19Encoder(["conv2_1"], weights=small_torchvision)
    steps = list(enc.walk(_image()))
    assert [name for name, _ in steps] == list(VGG19_LAYERS[:6])
    torch.testing.assert_close(steps[-1][1], enc(_image())["conv2_1"])


def test_float64_and_device_follow_module(small_torchvision):
    enc = VGG19Encoder(["relu1_1", "relu2_1"], weights=small_torchvision)
    x = _image()
    ref = enc(x)
    out = enc.double()(x.double())
    assert out["relu2_1"].dtype == torch.float64
    torch.testing.assert_close(out["relu2_1"].float(), ref["relu2_1"], atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="encoder.to"):
        enc(x)  # float32 image, float64 encoder


def test_bfloat16_compute_returns_the_image_dtype_close_to_float32(small_torchvision):
    enc = VGG19Encoder(["relu1_1", "relu2_1"], weights=small_torchvision)
    x = _image(seed=3).requires_grad_(True)
    ref = enc(x)
    (g_ref,) = torch.autograd.grad(sum(v.square().sum() for v in ref.values()), x)
    low = enc(x, compute_dtype=torch.bfloat16)
    assert set(low) == {"relu1_1", "relu2_1"}
    for name, value in low.items():
        assert value.dtype == torch.float32 and value.is_contiguous() and value.shape == ref[name].shape
        # bfloat16 keeps 8 bits of mantissa: a few tenths of a percent per operation
        assert float((value - ref[name]).norm() / ref[name].norm()) < 0.02
    (g_low,) = torch.autograd.grad(sum(v.square().sum() for v in low.values()), x)
    assert g_low.dtype == torch.float32
    assert float(torch.nn.functional.cosine_similarity(g_low.flatten(), g_ref.flatten(), dim=0)) > 0.999
    assert float((g_low - g_ref).norm() / g_ref.norm()) < 0.03
    assert list(enc._compute_copies) == [(torch.device("cpu"), torch.bfloat16)]  # one copy, made once
    copy_ = enc._compute_copies[(torch.device("cpu"), torch.bfloat16)]
    enc(x, compute_dtype=torch.bfloat16)
    assert enc._compute_copies[(torch.device("cpu"), torch.bfloat16)] is copy_
    assert all(p.dtype == torch.bfloat16 for p in copy_.parameters())
    assert all(p.dtype == torch.float32 for p in enc.parameters())  # the module's own weights untouched
    enc.double()
    assert enc._compute_copies == {}  # .to() drops copies made from the old weights
    enc.float()
    walked = dict(enc.walk(x.detach(), compute_dtype=torch.bfloat16))
    assert walked["relu2_1"].dtype == torch.bfloat16
    with pytest.raises(TypeError, match=r"compute_dtype: expected a floating dtype such as torch.bfloat16, got torch.int32"):
        enc(x, compute_dtype=torch.int32)
    # float32 compute: the same numbers from the channels-last copy (what transfer() runs on the CPU)
    raw = enc(x, compute_dtype=torch.float32, return_dtype=torch.float32)
    assert raw["relu2_1"].is_contiguous(memory_format=torch.channels_last)
    for name, value in enc(x.detach()).items():
        torch.testing.assert_close(raw[name], value, rtol=1e-5, atol=1e-5)


def test_native_low_precision_follows_the_cpu_flags(monkeypatch):
    from photostyle import encoders

    monkeypatch.setattr(encoders, "_cpu_has_native_bf16", lambda: True)
    assert encoders.native_low_precision("cpu") is torch.bfloat16
    assert encoders.native_low_precision(torch.device("cuda")) is None  # CUDA keeps float32 unless asked
    monkeypatch.setattr(encoders, "_cpu_has_native_bf16", lambda: False)
    assert encoders.native_low_precision("cpu") is None


def test_cpu_flags_are_read_from_proc_cpuinfo(monkeypatch, tmp_path):
    from photostyle import encoders

    fake = tmp_path / "cpuinfo"
    monkeypatch.setattr(encoders, "_CPUINFO", fake)
    fake.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu avx2 avx512_bf16\n\nprocessor\t: 1\n"
                    "flags\t\t: fpu other\n")
    assert encoders._cpu_flags() == {"fpu", "avx2", "avx512_bf16"}  # the first processor's
    fake.write_text("processor\t: 0\n")
    assert encoders._cpu_flags() == frozenset()
    fake.unlink()
    assert encoders._cpu_flags() == frozenset()  # no /proc/cpuinfo (macOS, Windows): float32


def test_bf16_is_chosen_by_amx_or_by_the_measured_speedup(monkeypatch):
    from photostyle import encoders

    measured = []

    def speedup(value):
        def fake(flags):
            measured.append(flags)
            return value
        return fake

    real = encoders._cpu_has_native_bf16
    cases = (({"fpu", "avx2", "amx_bf16", "amx_tile"}, 0.5, True, False),  # AMX: no measurement
             ({"fpu", "avx512_bf16"}, 2.0, True, True),  # AVX512-BF16: the measurement decides
             ({"fpu", "avx512_bf16"}, encoders.BF16_MIN_SPEEDUP, True, True),
             ({"fpu", "avx512_bf16"}, 0.76, False, True),  # measured on a Xeon without AMX
             ({"fpu", "avx2", "avx512f", "avx512_vnni"}, 2.0, False, False))  # neither flag
    try:
        for flags, value, expected, measures in cases:
            measured.clear()
            monkeypatch.setattr(encoders, "_cpu_flags", lambda flags=flags: frozenset(flags))
            monkeypatch.setattr(encoders, "_measured_speedup", speedup(value))
            real.cache_clear()
            assert real() is (expected and torch.backends.mkldnn.is_available()), (flags, value)
            assert len(measured) == (1 if measures and torch.backends.mkldnn.is_available() else 0), flags
    finally:
        real.cache_clear()


def test_measured_speedup_is_kept_per_cpu_and_torch(monkeypatch, tmp_path):
    from photostyle import encoders

    runs = []
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(encoders, "_bf16_conv_speedup", lambda: runs.append(1) or 1.7 + 0.1 * len(runs))
    one, two = frozenset({"fpu", "avx512_bf16"}), frozenset({"fpu", "avx512_bf16", "avx512_fp16"})
    assert encoders._measured_speedup(one) == pytest.approx(1.8)
    assert encoders._measured_speedup(one) == pytest.approx(1.8) and len(runs) == 1  # read back, not measured
    assert encoders._measured_speedup(two) == pytest.approx(1.9) and len(runs) == 2  # another CPU
    path = tmp_path / "hub" / "photostyle" / "cpu_bfloat16.json"
    record = json.loads(path.read_text())
    assert sorted(record.values()) == [1.8, 1.9]
    assert all(key.endswith(f"-torch{torch.__version__}") for key in record)
    path.write_text("{not json")  # a damaged file is measured again and rewritten
    assert encoders._measured_speedup(one) == pytest.approx(2.0) and len(runs) == 3
    assert list(json.loads(path.read_text()).values()) == [2.0]
    path.unlink()
    path.parent.rmdir()
    (tmp_path / "hub" / "photostyle").write_text("a file where the folder should be")
    assert encoders._measured_speedup(one) == pytest.approx(2.1)  # cannot keep it: measured, nothing raised


def test_bf16_conv_speedup_measures_this_cpu():
    from photostyle import encoders

    if not encoders._cpu_flags() & {"avx512_bf16", "amx_bf16"} or not torch.backends.mkldnn.is_available():
        pytest.skip("this CPU has no bfloat16 instructions: the probe is never run here")
    value = encoders._bf16_conv_speedup()
    assert math.isfinite(value) and 0.05 < value < 50, value


# --------------------------------------------------------------------------------------------------
# Genuine shared weights
# --------------------------------------------------------------------------------------------------


@pytest.mark.skipif(not SHARED_WEIGHTS.is_file() or not PHOTO.is_file(),
                    reason="../shared/weights and ../shared/data are not here (they are not in a user's clone)")
def test_shared_normalised_weights_match_reference_network():
    assert sha256_of(SHARED_WEIGHTS) == SHARED_WEIGHTS_SHA256
    from PIL import Image

    with Image.open(PHOTO) as im:
        im = im.convert("RGB")
        scale = 64 / max(im.size)
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.BILINEAR)
    x = torch.from_numpy(np.asarray(im, dtype=np.float32) / 255).permute(2, 0, 1)[None].contiguous()
    assert max(x.shape[-2:]) == 64

    def pad_conv(cin, cout):
        return [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3), nn.ReLU()]

    ref = nn.Sequential(
        nn.Conv2d(3, 3, 1),
        *pad_conv(3, 64), *pad_conv(64, 64), nn.MaxPool2d(2, 2, ceil_mode=True),
        *pad_conv(64, 128), *pad_conv(128, 128), nn.MaxPool2d(2, 2, ceil_mode=True),
        *pad_conv(128, 256),
    )
    ref.load_state_dict(torch.load(SHARED_WEIGHTS, map_location="cpu", weights_only=True))  # strict
    expected = {"relu1_1": ref[:4](x), "relu2_1": ref[:11](x), "conv3_1": ref[:17](x), "relu3_1": ref[:18](x)}

    enc = VGG19Encoder(["relu1_1", "relu2_1", "relu3_1", "conv3_1"], weights=SHARED_WEIGHTS)
    assert enc.layout == "normalised" and enc.names == VGG19_LAYERS[:12]
    with torch.no_grad():
        out = enc(x)
    for name, value in expected.items():
        torch.testing.assert_close(out[name], value.detach(), atol=1e-5, rtol=1e-5, msg=name)
    assert out["relu3_1"].abs().mean() > 0.1

    with pytest.raises(ValueError) as info:
        VGG19Encoder(["relu1_1", "relu4_2"], weights=SHARED_WEIGHTS)
    message = str(info.value)
    assert "end at conv3_1 (relu3_1); layer 'relu4_2' needs conv4_2" in message
    assert str(SHARED_WEIGHTS) in message and "preset 'lite'" in message


# --------------------------------------------------------------------------------------------------
# Preprocessing
# --------------------------------------------------------------------------------------------------


def _pixel_image(rgb):
    return torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1).expand(1, 3, 2, 2).contiguous()


def test_preprocess_caffe_formula(tmp_path):
    enc = VGG19Encoder(["relu1_1"], weights=write_caffe_vgg19(tmp_path / "vgg19-d01eb7cb.pth", up_to="conv1_1"))
    r, g, b = 0.2, 0.5, 0.9
    got = enc.preprocess(_pixel_image([r, g, b]))[0, :, 0, 0]
    expected = torch.tensor([b * 256 - 103.939, g * 256 - 116.779, r * 256 - 123.68])
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


def test_preprocess_torchvision_formula(small_torchvision):
    enc = VGG19Encoder(["relu1_1"], weights=small_torchvision)
    rgb = [0.2, 0.5, 0.9]
    got = enc.preprocess(_pixel_image(rgb))[0, :, 0, 0]
    expected = torch.tensor([(0.2 - 0.485) / 0.229, (0.5 - 0.456) / 0.224, (0.9 - 0.406) / 0.225])
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


def test_preprocess_normalised_uses_file_conv(tmp_path):
    enc = VGG19Encoder(["relu1_1"], weights=write_normalised_vgg19(tmp_path / "n.pth", up_to="conv1_1"))
    got = enc.preprocess(_pixel_image([0.2, 0.5, 0.9]))[0, :, 0, 0]
    expected = torch.tensor([0.9 * 255 - 103.939, 0.5 * 255 - 116.779, 0.2 * 255 - 123.68])
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


def test_image_checks(small_torchvision):
    enc = VGG19Encoder(["relu1_1"], weights=small_torchvision)
    with pytest.raises(ValueError, match=r"^image: expected shape \(B, 3, H, W\), got \(3, 8, 8\); add a batch "
                                         r"dimension with image\[None\]"):
        enc(torch.rand(3, 8, 8))
    with pytest.raises(TypeError, match="float"):
        enc(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(TypeError, match="torch.Tensor"):
        enc(np.zeros((1, 3, 8, 8)))


# --------------------------------------------------------------------------------------------------
# Layer names
# --------------------------------------------------------------------------------------------------


def test_layer_name_errors(small_torchvision):
    with pytest.raises(ValueError, match=r"unknown VGG-19 layer 'relu4-2'.*'relu4_2'.*conv1_1, relu1_1"):
        VGG19Encoder(["relu1_1", "relu4-2"], weights=small_torchvision)
    with pytest.raises(ValueError, match="at least one layer"):
        VGG19Encoder([], weights=small_torchvision)
    enc = VGG19Encoder("pool1", weights=small_torchvision)  # one name as a string
    assert enc.layers == ("pool1",) and enc.names == VGG19_LAYERS[:5]


# --------------------------------------------------------------------------------------------------
# Resolution: argument > environment > default enum (hub cache, then download)
# --------------------------------------------------------------------------------------------------


def _no_network(*args, **kwargs):
    raise AssertionError("the network must not be used here")


def test_argument_beats_environment(tmp_path, monkeypatch):
    env_file = write_torchvision_vgg19(tmp_path / "env" / "vgg19-dcbb9e9d.pth", up_to="conv1_1")
    arg_file = write_caffe_vgg19(tmp_path / "arg" / "vgg19-d01eb7cb.pth", up_to="conv1_1")
    monkeypatch.setenv(WEIGHTS_ENV_VAR, str(env_file))
    assert load_vgg19_weights(arg_file).source == str(arg_file)
    assert load_vgg19_weights().source == str(env_file)
    assert VGG19Encoder(["relu1_1"]).source == str(env_file)


def test_environment_beats_default_and_cache_is_used_offline(tmp_path, monkeypatch, _isolated):
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", _no_network)
    cached = write_caffe_vgg19(_isolated / "checkpoints" / "vgg19-d01eb7cb.pth", up_to="conv1_1")
    env_file = write_torchvision_vgg19(tmp_path / "vgg19-dcbb9e9d.pth", up_to="conv1_1")

    monkeypatch.setenv(WEIGHTS_ENV_VAR, str(env_file))
    assert load_vgg19_weights().source == str(env_file)

    monkeypatch.delenv(WEIGHTS_ENV_VAR)
    from photostyle.weights import _resolve

    assert _resolve(None) == (VGG19Weights.NORMALISED, "the default (VGG19Weights.NORMALISED)")
    loaded = load_vgg19_weights("caffe")  # found in the hub cache, no network
    assert loaded.source == str(cached) and loaded.layout == "caffe"
    assert load_vgg19_weights("caffe").source == str(cached)
    assert load_vgg19_weights(VGG19Weights.CAFFE).source == str(cached)
    with pytest.raises(ValueError, match="contradicts weights=VGG19Weights.CAFFE"):
        load_vgg19_weights(VGG19Weights.CAFFE, layout="torchvision")


def test_missing_file_errors(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="not found: '.*nope.pth'"):
        load_vgg19_weights(tmp_path / "nope.pth")
    monkeypatch.setenv(WEIGHTS_ENV_VAR, str(tmp_path / "gone.pth"))
    with pytest.raises(FileNotFoundError, match=rf"\${WEIGHTS_ENV_VAR}.*unset {WEIGHTS_ENV_VAR}"):
        VGG19Encoder(["relu1_1"])
    with pytest.raises(TypeError, match="weights: expected a path to a .pth file"):
        load_vgg19_weights(3)
    with pytest.raises(ValueError, match="layout: expected None"):
        load_vgg19_weights(tmp_path / "x.pth", layout="keras")


# --------------------------------------------------------------------------------------------------
# Downloads from a local HTTP server
# --------------------------------------------------------------------------------------------------


def _point_enum_at(monkeypatch, member, url, file_name):
    monkeypatch.setattr(member, "_value_", dataclasses.replace(member.value, url=url, file_name=file_name))


def test_download_good_file_lands_in_cache(http_dir, monkeypatch, _isolated, tmp_path):
    folder, base = http_dir
    made = write_torchvision_vgg19(tmp_path / "made.pth", up_to="conv1_2")
    name = f"vgg19-{sha256_of(made)[:8]}.pth"
    (folder / name).write_bytes(made.read_bytes())
    _point_enum_at(monkeypatch, VGG19Weights.IMAGENET, f"{base}/{name}", name)

    loaded = load_vgg19_weights(VGG19Weights.IMAGENET, progress=False)
    cached = _isolated / "checkpoints" / name
    assert cached.is_file() and loaded.source == str(cached)
    assert loaded.layout == "torchvision" and loaded.available == ("conv1_1", "conv1_2")
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == sha256_of(made)

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", _no_network)  # second time: from the cache
    enc = VGG19Encoder(["relu1_2"], weights="imagenet", progress=False)
    assert enc.source == str(cached)


def test_download_hash_mismatch(http_dir, monkeypatch, _isolated, tmp_path):
    folder, base = http_dir
    made = write_torchvision_vgg19(tmp_path / "made.pth", up_to="conv1_1")
    wrong = "0123abcd" if not sha256_of(made).startswith("0123abcd") else "fedc9876"
    name = f"vgg19-{wrong}.pth"
    (folder / name).write_bytes(made.read_bytes())
    _point_enum_at(monkeypatch, VGG19Weights.CAFFE, f"{base}/{name}", name)

    with pytest.raises(RuntimeError, match=rf"{base}/{name} do not match the sha256 prefix '{wrong}'.*[Dd]elete"):
        load_vgg19_weights("caffe", progress=False)
    checkpoints = _isolated / "checkpoints"
    assert not checkpoints.exists() or list(checkpoints.iterdir()) == []


def test_download_server_down(monkeypatch, _isolated):
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/vgg19-d01eb7cb.pth"
    _point_enum_at(monkeypatch, VGG19Weights.CAFFE, url, "vgg19-d01eb7cb.pth")
    with pytest.raises(RuntimeError) as info:
        VGG19Encoder(["relu1_1"], weights="caffe", progress=False)
    message = str(info.value)
    assert f"download the file by hand from {url}" in message
    assert WEIGHTS_ENV_VAR in message and "weights=" in message
    assert str(_isolated / "checkpoints") in message
    assert not (_isolated / "checkpoints" / "vgg19-d01eb7cb.pth").exists()


def test_download_http_error(http_dir, monkeypatch):
    _, base = http_dir
    _point_enum_at(monkeypatch, VGG19Weights.CAFFE, f"{base}/vgg19-d01eb7cb.pth", "vgg19-d01eb7cb.pth")
    with pytest.raises(RuntimeError, match="HTTP 404"):
        load_vgg19_weights("caffe", progress=False)


# --------------------------------------------------------------------------------------------------
# Bad files
# --------------------------------------------------------------------------------------------------


def test_corrupt_file(tmp_path, monkeypatch, _isolated):
    """A corrupt file the user passed is not called a cache file; a corrupt cached file is, with how to refetch."""
    noise = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    path = tmp_path / "vgg19-d01eb7cb.pth"
    path.write_bytes(noise)
    with pytest.raises(RuntimeError, match=r"truncated/corrupt.*Pass a VGG-19 weights file") as info:
        load_vgg19_weights(path)
    assert "cached" not in str(info.value)
    cached = _isolated / "checkpoints" / "vgg19-d01eb7cb.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(noise)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", _no_network)
    with pytest.raises(RuntimeError, match=r"truncated/corrupt.*[Dd]elete the cached file at .*re-download it from "
                                           r"https://web.eecs.umich.edu"):
        load_vgg19_weights("caffe")


def test_truncated_file(tmp_path, small_torchvision):
    data = small_torchvision.read_bytes()
    path = tmp_path / "half.pth"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RuntimeError, match=r"cannot read '.*half.pth' as a PyTorch checkpoint.*truncated"):
        load_vgg19_weights(path)


def test_unrelated_keys(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "bn1.weight": torch.zeros(64)}, path)
    with pytest.raises(ValueError, match=r"does not look like VGG-19.*'conv1.weight'.*Expected.*features.0.weight"):
        load_vgg19_weights(path)
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="holds a list"):
        load_vgg19_weights(tmp_path / "list.pth")


def test_wrong_shape(tmp_path):
    path = write_torchvision_vgg19(tmp_path / "w.pth", up_to="conv2_1", classifier=False)
    sd = torch.load(path, weights_only=True)
    sd["features.5.weight"] = torch.zeros(128, 32, 3, 3)
    torch.save(sd, path)
    with pytest.raises(ValueError, match=r"'features.5.weight' \(conv2_1\) has shape \(128, 32, 3, 3\), "
                                         r"expected \(128, 64, 3, 3\)"):
        load_vgg19_weights(path, layout="torchvision")


def test_gap_and_batchnorm_keys(tmp_path):
    sd = torch.load(write_torchvision_vgg19(tmp_path / "a.pth", up_to="conv2_1", classifier=False),
                    weights_only=True)
    gap = {k: v for k, v in sd.items() if not k.startswith("features.2.")}
    torch.save(gap, tmp_path / "gap.pth")
    with pytest.raises(ValueError, match="not conv1_2 before it"):
        load_vgg19_weights(tmp_path / "gap.pth", layout="torchvision")
    torch.save({**sd, "features.1.weight": torch.ones(64)}, tmp_path / "bn.pth")
    with pytest.raises(ValueError, match="vgg19_bn"):
        load_vgg19_weights(tmp_path / "bn.pth", layout="torchvision")


def test_pickled_objects_are_refused_with_advice(tmp_path):
    import argparse

    torch.save({"state_dict": {}, "args": argparse.Namespace(lr=1)}, tmp_path / "ckpt.pth")
    with pytest.raises(RuntimeError, match=r"pickled Python objects.*torch.save\(checkpoint\['state_dict'\]"):
        load_vgg19_weights(tmp_path / "ckpt.pth")


def test_checkpoint_dict_and_module_prefix(tmp_path):
    sd = torch.load(write_caffe_vgg19(tmp_path / "a.pth", up_to="conv1_2"), weights_only=True)
    wrapped = {"state_dict": {f"module.{k}": v for k, v in sd.items()}, "epoch": 3}
    torch.save(wrapped, tmp_path / "ckpt.pth")
    loaded = _load_quiet(tmp_path / "ckpt.pth")
    assert loaded.layout == "caffe" and loaded.available == ("conv1_1", "conv1_2")
    torch.testing.assert_close(loaded.state_dict["features.2.weight"], sd["features.2.weight"])


@pytest.mark.parametrize("layout", ["normalised", "torchvision"])
@pytest.mark.parametrize("size", [(37, 50), (45, 61)])
def test_mask_pyramid_matches_every_feature_map(tmp_path, layout, size):
    """photostyle.masks.mask_pyramid, walked with the encoder's names and pooling mode, has the spatial
    size of every feature map the encoder produces (ceil pooling and floor pooling, odd sizes)."""
    from photostyle.masks import mask_pyramid

    from ._vgg_files import write_normalised_vgg19, write_torchvision_vgg19

    path = tmp_path / f"{layout}.pth"
    if layout == "normalised":
        write_normalised_vgg19(path, up_to="conv5_1", seed=0)
    else:
        write_torchvision_vgg19(path, up_to="conv5_1", seed=0)
    encoder = VGG19Encoder(["relu5_1"], weights=path, layout=layout)
    assert encoder.pool_ceil_mode is (layout == "normalised")
    image = torch.rand(1, 3, *size)
    masks = torch.rand(2, *size)
    pyramid = mask_pyramid(masks, encoder.names, ceil_mode=encoder.pool_ceil_mode)
    walked = dict(encoder.walk(image))
    assert list(walked) == list(encoder.names)
    for name, features in walked.items():
        assert tuple(pyramid[name].shape) == (2,) + tuple(features.shape[-2:]), name
