"""Semantic automatic masks: the .tflite reader, the network rebuilt in torch (against the reference
runtime), model resolution and download, class matching, overrides and bad input."""

from __future__ import annotations

import hashlib
import shutil
import warnings

import numpy as np
import pytest
import torch

from photostyle.segmentation import AutoMasks, auto_segment
from photostyle.segmentation import semantic as sem
from ._shared import DPST, SHARED, raises_exactly, synthetic_pair

MODEL = SHARED / "models" / "deeplabv3_mobilenetv2_ade20k.tflite"
LABELS = SHARED / "models" / "ade20k_labels.txt"

needs_tflite = pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("tflite") is None,
    reason="the `tflite` parser is not installed (pip install photostyle[semantic])",
)
needs_model = pytest.mark.skipif(not MODEL.is_file(), reason=f"segmentation model not found at {MODEL} (../shared absent)")
needs_dpst = pytest.mark.skipif(not DPST.is_dir(), reason=f"DPST pairs not found at {DPST} (../shared absent)")


@pytest.fixture(autouse=True)
def _no_user_model_env(monkeypatch):
    monkeypatch.delenv(sem.SEG_MODEL_ENV_VAR, raising=False)


@pytest.fixture(scope="module")
def net():
    if importlib_missing("tflite"):
        pytest.skip("the `tflite` parser is not installed (pip install photostyle[semantic])")
    if not MODEL.is_file():
        pytest.skip(f"segmentation model not found at {MODEL} (../shared absent)")
    torch.set_num_threads(1)
    return sem.load_segmentation_model(MODEL, download=False)


def importlib_missing(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is None


def dpst_photo(kind: str, index: int, long_side: int | None = None) -> np.ndarray:
    from PIL import Image

    img = Image.open(DPST / kind / f"{'in' if kind == 'input' else 'tar'}{index}.png").convert("RGB")
    if long_side is not None:
        s = long_side / max(img.size)
        img = img.resize((round(img.width * s), round(img.height * s)), Image.BILINEAR)
    return np.asarray(img)



def pair_masks(net, index: int, size: int, **options) -> AutoMasks:
    """The semantic masks of DPST pair ``index`` at ``size`` px (long side, also the masks' work size),
    the network's warnings silenced."""
    content, style = dpst_photo("input", index, size), dpst_photo("style", index, size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return auto_segment(content, style, method="semantic", model=net, work_size=size, **options)

# -- class names and families ------------------------------------------------------------------------

def test_class_names_agree_with_the_label_file_and_every_class_has_one_family():
    assert len(sem.ADE20K_CLASSES) == 151 and sem.ADE20K_CLASSES[0] == "other"
    assert len(set(sem.ADE20K_CLASSES)) == 151
    members = [c for cs in sem.CLASS_FAMILIES.values() for c in cs]
    assert sorted(members) == sorted(sem.ADE20K_CLASSES)  # each class exactly once
    assert sem.class_family("tree") == "vegetation" and sem.class_family("sea") == "water"
    assert sem.class_family("skyscraper") == "structure" and sem.class_family(3) == "sky"
    assert sem.class_id("chest") == 45 and sem.class_id("chest of drawers") == 45
    assert sem.class_id("screen") == 131 and sem.class_id("screen door") == 59
    if LABELS.is_file():
        for line in LABELS.read_text().splitlines():
            k, name = line.split("\t")
            assert sem.ADE20K_CLASSES[int(k)].split()[0] == name.strip(), (k, name)


def test_class_id_errors():
    with raises_exactly(ValueError, "merge: expected an ADE20K class name, got 'tre'; did you mean 'tree'? "
                        "The names are in segmentation.semantic.ADE20K_CLASSES."):
        sem.class_id("tre", argument="merge")
    with raises_exactly(TypeError, "drop: expected an ADE20K class name (str), got 3.5 (float); "
                        "pass a name such as 'tree'."):
        sem.class_id(3.5, argument="drop")
    with raises_exactly(ValueError, "name: expected a class id in 0..150 or a class name, got 151; "
                        "the names are in segmentation.semantic.ADE20K_CLASSES."):
        sem.class_id(151)


def test_match_by_name_then_family_then_nothing():
    # content: sky, tree, grass, person; style: sky, plant, sea
    areas = [{3: 0.4, 5: 0.3, 10: 0.2, 13: 0.1}, {3: 0.5, 18: 0.3, 27: 0.2}]
    groups, notes = sem._match(areas)
    as_sets = {frozenset(g) for g in groups}
    assert frozenset({("c", 3), ("s", 3)}) in as_sets  # sky on sky
    assert frozenset({("c", 5), ("c", 10), ("s", 18)}) in as_sets  # tree and grass -> the style's plant
    assert frozenset({("c", 13)}) in as_sets  # person: nothing of its family -> whole style
    assert frozenset({("s", 27)}) in as_sets  # sea: style only
    assert any("'person' has no class of its family (person)" in n for n in notes)


def test_match_joins_the_whole_family_and_no_neighbour_family():
    # content: tree, grass; style: tree, plant -> one vegetation region on each side (grass takes the
    # style's tree and plant, the style's plant the content's tree and grass)
    groups, _ = sem._match([{5: 0.5, 10: 0.5}, {5: 0.6, 18: 0.4}])
    assert {frozenset(g) for g in groups} == {frozenset({("c", 5), ("c", 10), ("s", 5), ("s", 18)})}
    # content: house, building, sky; style: building, stairway, sky -> the house joins the style's
    # building (claimed by the content's building) as well as its stairway
    groups, notes = sem._match([{26: 0.3, 2: 0.3, 3: 0.4}, {2: 0.5, 60: 0.05, 3: 0.45}])
    assert {frozenset(g) for g in groups} == {frozenset({("c", 3), ("s", 3)}),
                                              frozenset({("c", 26), ("c", 2), ("s", 2), ("s", 60)})}
    assert notes == ["content 'house' is not in the style: matched to its structure (building, stairway)"]
    # content: mountain; style: grass -> no neighbouring family: the whole style image
    groups, notes = sem._match([{17: 1.0}, {10: 1.0}])
    assert {frozenset(g) for g in groups} == {frozenset({("c", 17)}), frozenset({("s", 10)})}
    assert notes == ["content 'mountain' has no class of its family (landform) in the style: "
                     "the whole style image serves it"]


def test_match_leaves_a_large_region_without_a_sliver_of_its_family():
    # content: flower 66 %, wall 34 %; style: plant 10 %, wall 90 %: the plant is under a quarter of the
    # flower, so neither joins the other (from either side); the flower takes the whole style image
    groups, notes = sem._match([{67: 0.66, 1: 0.34}, {18: 0.10, 1: 0.90}])
    assert {frozenset(g) for g in groups} == {frozenset({("c", 1), ("s", 1)}), frozenset({("c", 67)}),
                                              frozenset({("s", 18)})}
    assert notes == ["content 'flower' is 66% of the content and its vegetation only 10% of the style: "
                     "the whole style image serves it"]
    assert sem.FAMILY_AREA_GATE == 0.25
    # at 20 % the plant covers more than a quarter of the flower's 66 %: joined
    groups, _ = sem._match([{67: 0.66, 1: 0.34}, {18: 0.20, 1: 0.80}])
    assert frozenset({("c", 67), ("s", 18)}) in {frozenset(g) for g in groups}


def test_matched_share_is_the_mean_of_both_photos_matched_area():
    areas = [{3: 0.4, 5: 0.3, 13: 0.3}, {3: 0.5, 18: 0.2, 27: 0.3}]
    groups, _ = sem._match(areas)  # sky-sky, tree-plant matched; person, sea alone
    assert sem.matched_share(groups, areas) == pytest.approx(((0.4 + 0.3) + (0.5 + 0.2)) / 2)
    assert sem.MIN_MATCHED == 0.67


def test_routing_agreement_on_known_pairings():
    from photostyle.segmentation import routing_agreement

    hc = np.repeat([[0] * 4 + [1] * 4], 4, axis=0)  # content: left 0, right 1
    hs = np.repeat([[0] * 2 + [1] * 6], 4, axis=0)  # style: 25 % label 0, 75 % label 1
    assert routing_agreement(hc, hs, hc, hs) == 1.0
    assert routing_agreement(hc + 5, hs + 5, hc, hs) == 1.0  # ids renamed consistently
    split = hc.copy()
    split[:2] += 2  # the top of each half a label absent from the style: the whole style for it
    # left half: 1/2 its own 8 style px, 1/2 all 32: TV 0.375; right half: TV 0.125 (its label is 3/4 of the style)
    assert routing_agreement(split, hs, hc, hs) == pytest.approx(1 - (0.375 + 0.125) / 2)
    none_c, none_s = np.zeros_like(hc), np.zeros_like(hs)
    # no masks: each half gets the whole style; TV to its own label is 1 - its share of the style
    assert routing_agreement(none_c, none_s, hc, hs) == pytest.approx(1 - (0.5 * 0.75 + 0.5 * 0.25))
    swapped = 1 - hs
    assert routing_agreement(hc, swapped, hc, hs) == 0.0  # every content half fed the other's style
    with raises_exactly(ValueError, "content_labels and content_reference: expected the same size, got (4, 4) and "
                        "(4, 8); resize one with resize_labels."):
        routing_agreement(hc[:, :4], hs, hc, hs)


def test_guided_filter_follows_the_guide_edge():
    # a step edge in the guide at x = 10; probabilities blurred across it
    guide = torch.zeros(3, 16, 20)
    guide[:, :, 10:] = 1.0
    p = torch.zeros(2, 16, 20)
    p[0] = torch.linspace(1, 0, 20)  # soft, no edge
    p[1] = 1 - p[0]
    out = sem.guided_filter_probabilities(guide, p, radius=3, eps=1e-4)
    lab = out.argmax(0)
    assert out.shape == (2, 16, 20) and out.dtype == torch.float32
    assert (lab[:, :10] == 0).all() and (lab[:, 10:] == 1).all()  # the label edge snaps to the guide's
    flat = sem.guided_filter_probabilities(torch.full((3, 8, 8), 0.5), torch.full((1, 8, 8), 0.3), radius=2, eps=1e-3)
    assert torch.allclose(flat, torch.full((1, 8, 8), 0.3), atol=1e-5)  # constants pass unchanged


# -- the reader and the network --------------------------------------------------------------------

@needs_tflite
@needs_model
def test_reader_graph_and_dequantisation():
    from photostyle.segmentation.tflite_reader import dequantize, read_tflite

    g = read_tflite(MODEL)
    assert g.op_counts() == {"CONV_2D": 41, "DEPTHWISE_CONV_2D": 19, "DEQUANTIZE": 17, "ADD": 20,
                             "SPACE_TO_BATCH_ND": 10, "BATCH_TO_SPACE_ND": 10, "MUL": 10,
                             "AVERAGE_POOL_2D": 1, "RESIZE_BILINEAR": 5, "CONCATENATION": 2}
    assert g.tensors[g.inputs[0]].shape == (1, 513, 513, 3) and g.tensors[g.outputs[0]].shape == (1, 513, 513, 151)
    first = g.operators[0]
    assert first.op == "CONV_2D" and first.options["stride_h"] == 2 and first.options["fused_activation_function"] == 3
    w = g.tensors[first.inputs[1]]
    logits_w = next(t for t in g.tensors if t.name == "logits/semantic/Conv2D")
    assert logits_w.data.dtype == np.int8 and logits_w.shape == (151, 1, 1, 256) and logits_w.is_quantized
    deq = dequantize(logits_w)
    assert deq.dtype == np.float32
    np.testing.assert_allclose(deq, (logits_w.data.astype(np.float64) - logits_w.zero_point[0]) * logits_w.scale[0],
                               rtol=1e-6)
    assert w.data.dtype == np.float32 and np.array_equal(dequantize(w), w.data)
    with pytest.raises(ValueError, match="is not a TensorFlow Lite flatbuffer"):
        read_tflite(b"not a model at all")


def test_dequantize_per_channel():
    from photostyle.segmentation.tflite_reader import TFLiteTensor, dequantize

    q = np.array([[[[-2, 4]]], [[[10, -10]]]], np.int8)  # (2, 1, 1, 2), one scale per output channel
    t = TFLiteTensor(0, "w", q.shape, np.int8, q, np.array([0.5, 0.1]), np.array([0, 2]), 0)
    np.testing.assert_allclose(dequantize(t)[:, 0, 0, :], [[-1.0, 2.0], [0.8, -1.2]], rtol=1e-6)


@needs_model
@needs_dpst
def test_network_matches_the_reference_runtime_on_dpst_photos(net):
    """Logits against ai-edge-litert on 3 real photos at 513x513.

    Tolerance: the runtime quantises the input of its int8-weight convolutions to int8 on the fly,
    we do not; measured mean |difference| 0.03-0.05 (logit std about 3), max 0.3-0.5, argmax
    agreement 98.6-99.8 %.
    """
    litert = pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert (the reference runtime) is not installed")
    from PIL import Image

    it = litert.Interpreter(model_path=str(MODEL), num_threads=1)
    it.allocate_tensors()
    agree = []
    for i in (2, 9, 31):
        img = Image.open(DPST / "input" / f"in{i}.png").convert("RGB").resize((513, 513), Image.BILINEAR)
        x = (np.asarray(img, np.float32) / 127.5 - 1)[None]
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        ref = it.get_tensor(it.get_output_details()[0]["index"])[0]
        with torch.no_grad():
            ours = net(torch.from_numpy(x).permute(0, 3, 1, 2))[0].permute(1, 2, 0).numpy()
        d = np.abs(ours - ref)
        assert ours.shape == (513, 513, 151)
        assert d.mean() < 0.08 and d.max() < 1.0, (i, d.mean(), d.max())
        agree.append((ours.argmax(-1) == ref.argmax(-1)).mean())
    assert min(agree) > 0.98 and np.mean(agree) > 0.99, agree


@needs_model
@needs_dpst
def test_every_operator_matches_the_reference_given_the_same_inputs(net):
    """Op by op with the reference kernels (no delegate): every operator but the int8-weight
    convolutions to float32 rounding; those within the runtime's activation quantisation (which
    `emulate_hybrid='symmetric'` reproduces to < 2 %)."""
    litert = pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert (the reference runtime) is not installed")
    from PIL import Image

    it = litert.Interpreter(model_path=str(MODEL), num_threads=1,
                            experimental_op_resolver_type=litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
                            experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    img = Image.open(DPST / "input" / "in31.png").convert("RGB").resize((513, 513), Image.BILINEAR)
    it.set_tensor(it.get_input_details()[0]["index"], (np.asarray(img, np.float32) / 127.5 - 1)[None])
    it.invoke()

    def get(j):
        a = torch.from_numpy(it.get_tensor(j).copy())
        return a.permute(0, 3, 1, 2) if a.ndim == 4 else a

    m = net.net
    worst = {"exact": 0.0, "hybrid": 0.0, "hybrid_emulated": 0.0}
    try:
        for mode, keys in ((None, ("exact", "hybrid")), ("symmetric", ("hybrid_emulated",))):
            m.emulate_hybrid = mode
            for op, fn in m._steps:
                hybrid = op.outputs[0] in m.hybrid_ops
                if mode and not hybrid:
                    continue
                args = [m.const(j, torch.zeros(())) if j in m._names else (j if j in m._ints else get(j))
                        for j in op.inputs]
                with torch.no_grad():
                    y = fn(m, op, args)
                ref = get(op.outputs[0])
                rel = float((y - ref).abs().max() / ref.abs().max().clamp(min=1e-6))
                key = keys[-1] if hybrid else keys[0]
                worst[key] = max(worst[key], rel)
    finally:
        m.emulate_hybrid = None
    assert len(m.hybrid_ops) == 39
    assert worst["exact"] < 1e-5, worst
    assert worst["hybrid_emulated"] < 0.02 and worst["hybrid"] < 0.1, worst


@needs_model
def test_network_follows_dtype_and_checks_its_input(net):
    x = torch.zeros(1, 3, 513, 513, dtype=torch.float64)
    with torch.no_grad():
        y = net(x)
    assert y.dtype == torch.float64 and y.shape == (1, 151, 513, 513)
    with pytest.raises(ValueError, match=r"x: expected shape \(N, 3, 513, 513\)"):
        net(torch.zeros(1, 3, 64, 64))
    with pytest.raises(TypeError, match="x: expected a floating-point tensor"):
        net(torch.zeros(1, 3, 513, 513, dtype=torch.uint8))


# -- model resolution, hash, download ---------------------------------------------------------------

def test_find_model_order(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    assert sem.find_segmentation_model() is None
    cached = tmp_path / "hub" / "checkpoints" / sem.MODEL_FILE_NAME
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    assert sem.find_segmentation_model() == cached
    env_file = tmp_path / "env.tflite"
    env_file.write_bytes(b"y")
    monkeypatch.setenv(sem.SEG_MODEL_ENV_VAR, str(env_file))
    assert sem.find_segmentation_model() == env_file
    arg = tmp_path / "arg.tflite"
    arg.write_bytes(b"z")
    assert sem.find_segmentation_model(arg) == arg
    with pytest.raises(FileNotFoundError, match="model: no file at"):
        sem.find_segmentation_model(tmp_path / "missing.tflite")
    monkeypatch.setenv(sem.SEG_MODEL_ENV_VAR, str(tmp_path / "gone.tflite"))
    with pytest.raises(FileNotFoundError, match=r"^\$PHOTOSTYLE_SEG_MODEL: expected the path of an existing file, "
                       r"got '.*gone\.tflite', which does not exist; fix or unset it"):
        sem.find_segmentation_model()


@needs_tflite
def test_corrupt_model_names_the_hash_and_how_to_refetch(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    bad = tmp_path / sem.MODEL_FILE_NAME
    bad.write_bytes(b"\x00" * 1000)
    digest = hashlib.sha256(bad.read_bytes()).hexdigest()
    with pytest.raises(ValueError, match=rf"has sha256 {digest}, expected {sem.MODEL_SHA256}.*download_segmentation_model"):
        sem.load_segmentation_model(bad, download=False)
    with pytest.raises(ValueError, match="could not be read as a TFLite model"):
        sem.load_segmentation_model(bad, download=False, check_hash=False)
    with pytest.raises(FileNotFoundError, match=r"^model: expected deeplabv3_mobilenetv2_ade20k\.tflite in the "
                       r"cache '.*' or named by \$PHOTOSTYLE_SEG_MODEL, got neither \(download=False\); download it "
                       r"with segmentation\.download_segmentation_model\(\)"):
        sem.load_segmentation_model(download=False)


@needs_model
def test_download_checks_the_hash(http_dir, tmp_path):
    root, url = http_dir
    shutil.copy(MODEL, root / "good.tflite")
    (root / "bad.tflite").write_bytes(MODEL.read_bytes()[:-10])
    dst = tmp_path / "cache" / sem.MODEL_FILE_NAME
    assert sem.download_segmentation_model(dst, url=f"{url}/good.tflite", progress=False) == dst
    assert hashlib.sha256(dst.read_bytes()).hexdigest() == sem.MODEL_SHA256
    dst2 = tmp_path / "cache2" / sem.MODEL_FILE_NAME
    with pytest.raises(RuntimeError, match=rf"does not have the sha256 {sem.MODEL_SHA256}.*discarded"):
        sem.download_segmentation_model(dst2, url=f"{url}/bad.tflite", progress=False)
    assert not dst2.exists()
    with pytest.raises(RuntimeError, match="could not download the segmentation model .*HTTP 404"):
        sem.download_segmentation_model(dst2, url=f"{url}/missing.tflite", progress=False)
    assert not dst2.exists()


# -- auto_segment: method choice, bad input ---------------------------------------------------------

def _pair():
    return list(synthetic_pair())


def test_auto_falls_back_to_clustering_with_a_warning_saying_how_to_get_the_model(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    c, s = _pair()
    if importlib_missing("tflite"):
        expected = r"pip install photostyle\[semantic\]"
    else:
        expected = r"not found .*download_segmentation_model\(\).*PHOTOSTYLE_SEG_MODEL"
    with pytest.warns(UserWarning, match=expected):
        a = auto_segment(c, s, k=2)
    assert a.method == "cluster" and a.names == {} and a.k == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert auto_segment(c, s, k=2, method="cluster").method == "cluster"  # explicit: no warning
        assert auto_segment(c, s, k=2, n_segments=60).method == "cluster"  # clustering options: no warning
    with pytest.raises(ValueError, match=r"^merge: expected the semantic method \(it names classes\), got "
                       r"method='auto' where it is not available: the semantic segmentation"):
        auto_segment(c, s, merge={"tree": "grass"})


def test_auto_segment_argument_errors():
    c, s = _pair()
    with raises_exactly(ValueError, "method: expected 'auto', 'semantic' or 'cluster', got 'deep' (str)."):
        auto_segment(c, s, method="deep")
    with raises_exactly(ValueError, "merge: expected the semantic method (the clustering has no class names), got "
                        "the clustering; pass method='semantic'."):
        auto_segment(c, s, method="cluster", merge={"tree": "grass"})
    with raises_exactly(ValueError, "n_segments: expected method='cluster' (it applies to the clustering only), "
                        "got method='semantic'; drop it, or pass method='cluster'."):
        auto_segment(c, s, method="semantic", n_segments=50)


def test_grey_and_rgba_photos_are_accepted():
    c, s = _pair()
    grey = c.mean(-1)
    rgba = np.dstack([s, np.full(s.shape[:2], 0.5)])
    with pytest.warns(UserWarning, match="style: the alpha channel is ignored"):
        a = auto_segment(grey, rgba, k=2, method="cluster")
    assert a.content_labels.shape == (48, 64) and a.style_labels.shape == (60, 50)
    g3 = sem.photo_rgb(grey, "x")
    assert g3.shape == (48, 64, 3) and np.array_equal(g3[..., 0], g3[..., 2])
    np.testing.assert_array_equal(sem.photo_rgb(grey[..., None], "x"), g3)
    assert sem.photo_rgb(torch.rand(1, 1, 5, 6), "x").shape == (5, 6, 3)


@needs_model
def test_semantic_errors_for_tiny_photos_and_absent_classes(net):
    c, s = _pair()
    with raises_exactly(ValueError, "content: expected a photo of at least 8 pixels on each side (the segmentation "
                        "network's output stride; better 100 or more), got 5x40 pixels; upscale it, or use "
                        "method='cluster'."):
        auto_segment(np.zeros((5, 40, 3)), s, method="semantic", model=net)
    with raises_exactly(ValueError, "style: expected an aspect ratio below 64:1, got a photo of 10x900 pixels, too "
                        "elongated for the network (513 px on its long side leave less than 8 px on the short one); "
                        "crop it, or use method='cluster'."):
        auto_segment(c, np.zeros((10, 900, 3)), method="semantic", model=net)
    with pytest.raises(ValueError, match=r"^merge: expected a class in one of the photos, got 'car', which is in "
                       r"neither \(content has .*; style has .*\); name a class that is there\.$"):
        auto_segment(c, s, method="semantic", model=net, merge={"car": "road"})
    with raises_exactly(ValueError, "drop: expected an ADE20K class name, got 'giraffe'; "
                        "the names are in segmentation.semantic.ADE20K_CLASSES."):
        auto_segment(c, s, method="semantic", model=net, drop=["giraffe"])


# -- auto_segment on real pairs (the network at 513: the slow ones) --------------------------------

@needs_model
@needs_dpst
def test_semantic_masks_on_a_real_pair_keep_names_and_match_the_hand_masks(net):
    import warnings as w

    from photostyle.segmentation import label_iou, load_label_map, resize_labels

    content, style = dpst_photo("input", 31, 320), dpst_photo("style", 31, 320)
    a = auto_segment(content, style, model=net)  # method "auto" with a loaded network: semantic
    assert isinstance(a, AutoMasks) and a.method == "semantic"
    assert a.content_labels.shape == content.shape[:2] and a.style_labels.shape == style.shape[:2]
    assert a.names[0] == "sky"  # ids ordered by height: the sky is on top
    assert set(a.names) == set(a.matched) | set(a.content_only) | set(a.style_only)
    assert a.k == len(a.names)
    with w.catch_warnings():
        w.simplefilter("ignore")
        hand_c = resize_labels(load_label_map(DPST / "segmentation" / "in31.png"), content.shape[:2])
        hand_s = resize_labels(load_label_map(DPST / "segmentation" / "tar31.png"), style.shape[:2])
    c = label_iou(a.content_labels, hand_c, min_share=0.01)
    s = label_iou(a.style_labels, hand_s, min_share=0.01, mapping=c.mapping)
    assert c.mean_iou > 0.9 and s.mean_iou > 0.9, (c, s)

    sky = [j for j, n in a.names.items() if n == "sky"][0]
    assert sky in a.matched
    # overrides: merging the sky into another class removes the name; k caps the regions
    other = [n for n in a.names.values() if n != "sky"][0].split("+")[0]
    b = auto_segment(content, style, model=net, merge={"sky": other})
    assert "sky" not in "+".join(b.names.values()).split("+")
    d = auto_segment(content, style, model=net, drop=["sky"])
    assert "sky" not in "+".join(d.names.values()).split("+")
    two = auto_segment(content, style, model=net, k=2)
    assert two.k <= 2 and len(two.names) == two.k


@needs_model
@needs_dpst
def test_close_up_pair_falls_back_to_one_region_with_a_warning(net):
    # pair 9, a dahlia and a rose: ADE20K labels the rose "water", "wall", "person", "ball"; under a
    # half of the photos lies in classes found in both, so the masks are not trusted (the pale dahlia
    # looks hazy and is stretched: "plant", then "flower")
    content, style = dpst_photo("input", 9, 256), dpst_photo("style", 9, 256)
    with pytest.warns(UserWarning, match=r"^auto_segment: only \d\d% of the two photos lies in classes found in "
                      r"both \(min_matched=0\.67; content: plant \d+%, flower \d+%, .*\), so the network's classes do not pair these photos "
                      r"up: one region each, the whole style image "
                      r"serves the whole photo\. Give masks, .*min_matched=0") as caught:
        a = auto_segment(content, style, model=net)
    from photostyle.cli import cli_words

    assert cli_words(str(caught[0].message)).endswith(  # the photostyle command names its own options
        "one region each, the whole style image serves the whole photo. Give masks (--content-mask, --style-mask), "
        "or pass --auto-method cluster for regions of colour and position.")
    assert a.k == 1 and a.names == {0: "whole photo"} and a.matched == (0,)
    assert not a.content_labels.any() and not a.style_labels.any()
    assert a.content_labels.shape == content.shape[:2] and a.style_labels.shape == style.shape[:2]
    assert 0.2 < a.matched_share < 0.6 and "one region each" in a.notes[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kept = auto_segment(content, style, model=net, min_matched=0)  # the classes, however poor
    assert kept.k > 1 and kept.matched_share == pytest.approx(a.matched_share)


def test_min_matched_is_checked_and_semantic_only():
    c, s = _pair()
    with raises_exactly(ValueError, "min_matched: expected a number in [0, 1], got 1.5; pass a value from 0 to 1."):
        auto_segment(c, s, min_matched=1.5)
    with raises_exactly(ValueError, "min_matched: expected the semantic method (the clustering has no class names), "
                        "got the clustering; pass method='semantic'."):
        auto_segment(c, s, method="cluster", min_matched=0.5)


def test_stretch_contrast_is_one_map_for_all_channels_with_a_capped_gain():
    from photostyle.segmentation import stretch_contrast

    rng = np.random.default_rng(0)
    hazy = 0.45 + 0.4 * rng.random((60, 80, 3))  # luminance in about 0.55-0.75: a hazy photo
    out = stretch_contrast(hazy)
    assert out.dtype == np.float32 and out.shape == hazy.shape
    lo, hi = np.percentile(hazy.mean(-1), [1, 99])  # the luminance's 1st and 99th percentiles go to 0 and 1
    np.testing.assert_allclose(out, np.clip((hazy - lo) / (hi - lo), 0, 1), atol=1e-5)
    inside = (out > 0).all(-1) & (out < 1).all(-1)
    gain = (out[..., 0] - out[..., 1])[inside] / (hazy[..., 0] - hazy[..., 1])[inside]
    np.testing.assert_allclose(gain, 1 / (hi - lo), rtol=5e-3)  # one gain for all channels: colours keep their balance

    flat = 0.5 + 0.02 * rng.standard_normal((40, 40, 3))  # a nearly flat photo: the gain stops at 4, about its middle
    out = stretch_contrast(np.clip(flat, 0, 1))
    inside = (out > 0).all(-1) & (out < 1).all(-1)
    ratio = (out[..., 0] - out[..., 2])[inside] / (flat[..., 0] - flat[..., 2])[inside]
    np.testing.assert_allclose(ratio, 4.0, rtol=5e-3)
    assert abs(float(out.mean()) - 0.5) < 0.02
    bright = np.full((10, 10, 3), 0.97)  # near white: the widened range stays within [0, 1]
    assert 0.8 < float(stretch_contrast(bright).mean()) <= 1.0

    ramp = np.linspace(0, 1, 2500).reshape(50, 50)
    full = np.stack([ramp, ramp**0.8, ramp**1.25], -1)  # already spans the range: barely changes
    assert np.abs(stretch_contrast(full) - full).max() < 0.02


@needs_model
@needs_dpst
def test_stretched_contrast_labels_a_hazy_photo_better(net):
    # pair 44: a city in haze; unstretched, the network calls most of its trees and railway "wall"
    from photostyle.segmentation import label_iou, load_label_map, resize_labels

    content, style = (dpst_photo(kind, 44, 512).astype(np.float64) / 255 for kind in ("input", "style"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hand_c = resize_labels(load_label_map(DPST / "segmentation" / "in44.png"), content.shape[:2])
    iou = {}
    for stretch in (False, True, "hazy"):
        masks = auto_segment(content, style, method="semantic", model=net, work_size=512, stretch=stretch)
        iou[stretch] = label_iou(masks.content_labels, hand_c, min_share=0.01).mean_iou
        said = [n for n in masks.notes if "looks hazy" in n]
        assert said == (["the content photo looks hazy (its darkest 1 % above 0.25): the network saw it with "
                         "its contrast stretched"] if stretch == "hazy" else []), masks.notes
    assert iou[False] < 0.3 and iou[True] > 0.45 and iou["hazy"] > 0.45, iou
    # "hazy" (the default) stretches the veiled content only: not its clear style, not a dark dusk photo
    from photostyle.segmentation import looks_hazy

    dusk = dpst_photo("style", 2, 256)  # uint8, as a user may pass it
    assert [looks_hazy(content), looks_hazy(style), looks_hazy(dusk)] == [True, False, False]
    assert looks_hazy(dpst_photo("input", 44, 256))
    assert auto_segment(content, style, method="cluster", k=3, stretch="hazy").k == 3  # ignored by the clustering
    with raises_exactly(ValueError, "stretch: expected the semantic method (the clustering runs no network), "
                        "got the clustering; pass method='semantic'."):
        auto_segment(content, style, method="cluster", stretch=True)
    with raises_exactly(TypeError, "stretch: expected True, False or 'hazy', got 'yes' (str)."):
        auto_segment(content, style, method="semantic", model=net, stretch="yes")
    from photostyle.segmentation import semantic_probabilities

    with raises_exactly(TypeError, "stretch: expected True, False or 'hazy', got 1 (int)."):
        semantic_probabilities(content, model=net, stretch=1)


def test_a_large_style_only_region_joins_the_region_it_borders_most():
    from photostyle.segmentation.semantic import _join_one_sided

    style = np.zeros((10, 10), np.int64)  # 0: top rows, matched
    style[4:, :] = 1                      # 1: matched
    style[6:, :7] = 2                     # 2: style-only, 28 %: borders 1 on 7 + 3 pixels, 3 on 1, 0 nowhere
    style[9, 7:] = 3                      # 3: style-only, 3 %: too small to join
    before = style.copy()
    joins = _join_one_sided(style, [2, 3], {0, 1}, 0.25)
    assert joins == [(2, 1, 0.28)]
    assert (style[before == 2] == 1).all() and (style[before != 2] == before[before != 2]).all()
    # a style-only region with no matched neighbour stays
    lone = np.full((4, 4), 5, np.int64)
    lone[0, 0] = 0
    assert _join_one_sided(lone, [5], {7}, 0.25) == [] and (lone[1:] == 5).all()


@needs_model
@needs_dpst
def test_pair_15s_field_joins_the_mountains_it_borders(net):
    # pair 15: snowy mountains, and a reference of green mountains over a field the content has no
    # class for; the field (about 40 % of the reference) serves the mountains instead of nothing
    m = pair_masks(net, 15, 384)
    mountain = next(i for i, n in m.names.items() if n == "mountain")
    joined = [n for n in m.notes if n.startswith("style 'field' (")]
    assert len(joined) == 1 and joined[0].endswith("of the style) is not in the content: it joins the style's "
                                                  "'mountain', which it borders most"), m.notes
    assert float((m.style_labels == mountain).mean()) > 0.5  # the mountains alone: under a fifth
    assert all(float((m.style_labels == j).mean()) < 0.25 for j in m.style_only)

    # style_only_join=1 never joins: the field stays a region of the style alone
    kept = pair_masks(net, 15, 384, style_only_join=1)
    assert not any(n.startswith("style 'field' (") for n in kept.notes), kept.notes
    field = next(i for i, n in kept.names.items() if n == "field")
    assert field in kept.style_only and 0.3 < float((kept.style_labels == field).mean()) < 0.5
    kept_mountain = next(i for i, n in kept.names.items() if n == "mountain")  # ids are the regions' order
    assert float((kept.style_labels == kept_mountain).mean()) < 0.25


def test_style_only_join_is_checked_and_semantic_only():
    x = np.random.default_rng(0).random((40, 40, 3))
    with raises_exactly(ValueError, "style_only_join: expected the semantic method (the clustering has no class "
                                    "names), got the clustering; pass method='semantic'."):
        auto_segment(x, x, method="cluster", style_only_join=0.5)
    with raises_exactly(ValueError, "style_only_join: expected a number in [0, 1], got 2; pass a value from 0 to 1."):
        auto_segment(x, x, method="semantic", style_only_join=2)


def test_a_structure_floating_in_the_sky_becomes_sky():
    from photostyle.segmentation.semantic import _ground_floating

    sky, building, tree = 0, 1, 2
    labels = np.zeros((20, 20), np.int64)
    labels[14:, :] = building        # the buildings, on the bottom edge: stay
    labels[0:3, 8:12] = building     # a "building" against the top edge, in the sky: a cloud
    labels[5:8, 2:5] = building      # one inside the sky: a cloud
    labels[5:8, 15:18] = tree        # a tree crown in the sky: not a structure, stays
    labels[10:14, 9:11] = building   # a tower on the buildings: one piece with them, stays
    before = labels.copy()
    out, moved = _ground_floating(labels, sky, {building})
    assert moved == pytest.approx((12 + 9) / 400)
    changed = out != before
    assert (before[changed] == building).all() and (out[changed] == sky).all()
    assert changed[0:3, 8:12].all() and changed[5:8, 2:5].all() and changed.sum() == 21
    assert (labels == before).all()  # the input is left as it was
    # enclosed by the sky on less than FLOATING_ENCLOSED of its border: stays
    half = np.zeros((10, 10), np.int64)
    half[3:6, 0:4] = building
    half[3:6, 4:6] = tree  # the building's right side and nothing else borders the tree: 3 of 11
    out, moved = _ground_floating(half, sky, {building})
    assert 3 / 11 > 1 - sem.FLOATING_ENCLOSED and moved == 0 and (out == half).all()


@needs_model
@needs_dpst
def test_pair_4s_cloud_taken_for_a_building_is_sky(net):
    # pair 4's reference is a city at night: the network calls a cloud at the top of its sky
    # "building"; floating in the sky, it becomes sky, and the buildings below stay
    m = pair_masks(net, 4, 512)
    sky = next(i for i, n in m.names.items() if n == "sky")
    building = next(i for i, n in m.names.items() if n == "building")
    floating = [n for n in m.notes if n.startswith("style: pieces of structure floating in the sky (")]
    assert len(floating) == 1 and floating[0].endswith("of the photo) are taken as sky (clouds the network "
                                                      "took for buildings)"), m.notes
    share = float(floating[0].split("(")[1].split("%")[0]) / 100
    assert 0.015 < share < 0.05
    assert not any(n.startswith("content: pieces of structure") for n in m.notes)
    top = m.style_labels[: m.style_labels.shape[0] // 8]
    assert float((top == sky).mean()) > 0.97 and not (top == building).any()
    assert 0.45 < float((m.style_labels == building).mean()) < 0.6


def test_a_small_content_only_region_joins_the_region_it_borders_most():
    from photostyle.segmentation.semantic import _join_one_sided

    content = np.zeros((10, 10), np.int64)  # 0: matched, top
    content[5:, :] = 1                      # 1: matched, bottom
    content[4:6, 0:2] = 2                   # 2: content-only, 4 %: borders 0 on 2 + 1, 1 on 2 + 1
    content[7:9, 4:6] = 3                   # 3: content-only, 4 %, inside 1
    content[0:3, 5:10] = 4                  # 4: content-only, 15 %: too large, keeps the whole style
    before = content.copy()
    joins = _join_one_sided(content, [2, 3, 4], {0, 1}, 0.05, small=True)
    assert joins == [(2, 0, 0.04), (3, 1, 0.04)]  # a tie goes to the lower id
    assert (content[before == 2] == 0).all() and (content[before == 3] == 1).all()
    assert (content[before == 4] == 4).all()
    again = before.copy()
    assert _join_one_sided(again, [2, 3, 4], {0, 1}, 0.0, small=True) == [] and (again == before).all()


@needs_model
@needs_dpst
def test_pair_44s_stray_content_classes_join_the_city(net):
    # pair 44: a hazy aerial city; the network finds a "bed", a "car" and a "curtain" in it, which the
    # reference (a city by day) has no family for: they join the buildings around them instead of
    # taking the whole reference, sky included
    m = pair_masks(net, 44, 384)
    kept = pair_masks(net, 44, 384, content_only_join=0)
    joined = {n.split("'")[1]: n for n in m.notes if n.startswith("content '") and "it joins the content's" in n}
    assert {"bed", "car"} <= set(joined), m.notes
    building = next(n for n in m.names.values() if n.startswith("building+"))  # with windowpane, ...
    assert all(n.endswith(f"of the content) is not in the style: it joins the content's '{building}', which it "
                          "borders most, instead of taking the whole style image") for n in joined.values()), joined
    assert all(float((m.content_labels == j).mean()) >= sem.CONTENT_ONLY_JOIN for j in m.content_only)
    # content_only_join=0 never joins: the stray classes stay, each to be served by the whole reference
    kept_names = {kept.names[j] for j in kept.content_only}
    assert {"bed", "car"} <= kept_names and not any("it joins the content's" in n for n in kept.notes)
    building = next(j for j, n in m.names.items() if n.startswith("building"))
    kept_building = next(j for j, n in kept.names.items() if n.startswith("building"))
    gained = float((m.content_labels == building).mean()) - float((kept.content_labels == kept_building).mean())
    assert 0.02 < gained < 0.15


def test_content_only_join_is_checked_and_semantic_only():
    x = np.random.default_rng(0).random((40, 40, 3))
    with raises_exactly(ValueError, "content_only_join: expected the semantic method (the clustering has no class "
                                    "names), got the clustering; pass method='semantic'."):
        auto_segment(x, x, method="cluster", content_only_join=0.1)
    with raises_exactly(ValueError, "content_only_join: expected a number in [0, 1], got -1; pass a value from 0 "
                                    "to 1."):
        auto_segment(x, x, method="semantic", content_only_join=-1)
