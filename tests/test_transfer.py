"""End-to-end and unit tests of the optimisation (photostyle.transfer)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import photostyle as ps
from photostyle import metrics
from photostyle.encoders import VGG19Encoder
from photostyle.image import resize_long_side, to_tensor
from photostyle._checks import resolve_device
from photostyle.masks import prepare_masks
from photostyle.optimize import StepInfo, StopReason, run_lbfgs
from photostyle.presets import PRESETS
from photostyle.transfer import transfer

from ._shared import dpst_pair

LITE_LAYERS = ("relu1_1", "relu2_1", "relu3_1")


@pytest.fixture(scope="module")
def lite_encoder(shared_weights):
    return VGG19Encoder(LITE_LAYERS, weights=shared_weights)


@pytest.fixture(scope="module")
def small_pair():
    """DPST pair 9 (content, style as uint8 arrays) and its masks, at their full 700 px size."""
    paths = dpst_pair(9)
    return {k: np.asarray(Image.open(v).convert("RGB")) for k, v in paths.items()}


def _tiny(arr, size=48):
    return resize_long_side(to_tensor(arr), size)


@pytest.mark.slow
def test_end_to_end_real_pair_transfers_style_and_stays_photorealistic(lite_encoder):
    """The acceptance test of the core: a real pair at ~96 px with the genuine weights."""
    paths = dpst_pair(9)
    result = transfer(
        paths["content"], paths["style"], content_mask=paths["content_mask"], style_mask=paths["style_mask"],
        preset="lite", output_size="work", size=96, num_steps=(80, 60), encoder=lite_encoder, progress=False,
    )
    content = resize_long_side(to_tensor(paths["content"]), 96)
    style = resize_long_side(to_tensor(paths["style"]), 96)
    assert result.tensor.shape == content.shape
    assert result.image.size == (content.shape[-1], content.shape[-2])
    cmask, smask = result.masks["content"], result.masks["style"]
    assert cmask.shape == tuple(content.shape[-2:]) and smask.shape == tuple(style.shape[-2:])

    def distance(img):
        return metrics.style_distance(img, style, encoder=lite_encoder, layers=LITE_LAYERS,
                                      content_mask=cmask, style_mask=smask)

    d_content = distance(content)
    d_stage2 = distance(result.stages["stage2"])
    d_final = distance(result.tensor)
    assert d_stage2 <= 0.5 * d_content, (d_content, d_stage2)
    assert d_final <= 0.5 * d_content, (d_content, d_final)

    e_stage1 = metrics.matting_energy(result.stages["stage1"], content)
    e_stage2 = metrics.matting_energy(result.stages["stage2"], content)
    assert e_stage2 < e_stage1, (e_stage1, e_stage2)

    # The bookkeeping a user relies on.
    assert [h["stage"] for h in result.history].count("stage1") == 80
    assert [h["stage"] for h in result.history].count("stage2") == 60
    assert {"content", "style", "tv", "total"} <= set(result.history[0])
    assert "photo" in result.history[-1] and "photo" not in result.history[0]
    assert set(result.stages) == {"stage1", "stage2", "best_local_affine"}
    phases = ("setup", "stage1", "laplacian", "stage2", "postprocess", "upsample")
    assert set(phases) | {"total"} == set(result.timings)
    assert result.timings["stage1"] > 0 and result.timings["stage2"] > 0 and result.timings["laplacian"] > 0
    assert sum(result.timings[k] for k in phases) <= result.timings["total"]
    assert result.stopped is None
    # The loss falls within each stage.
    s1 = [h["total"] for h in result.history if h["stage"] == "stage1"]
    s2 = [h["total"] for h in result.history if h["stage"] == "stage2"]
    assert s1[-1] < 0.5 * s1[0], (s1[0], s1[-1])
    assert s2[-1] < 0.5 * s2[0], (s2[0], s2[-1])


def test_seeded_runs_are_identical_and_callback_and_snapshots(lite_encoder, small_pair):
    content, style = _tiny(small_pair["content"]), _tiny(small_pair["style"])
    seen: list[StepInfo] = []
    kwargs = dict(preset="lite", output_size="work", size=40, num_steps=(6, 4), encoder=lite_encoder, progress=False, seed=3)
    a = transfer(content, style, callback=seen.append, snapshot_every=2, **kwargs)
    b = transfer(content, style, **kwargs)
    assert torch.equal(a.tensor, b.tensor)
    assert [(s.stage, s.step) for s in seen] == [("stage1", i) for i in range(1, 7)] + [("stage2", i) for i in range(1, 5)]
    assert all(s.image.shape == (1, 3) + tuple(a.tensor.shape[-2:]) for s in seen)
    assert seen[0].losses["total"] == pytest.approx(a.history[0]["total"])
    assert [(st, step) for st, step, _ in a.snapshots] == [("stage1", 2), ("stage1", 4), ("stage1", 6), ("stage2", 2), ("stage2", 4)]
    c = transfer(content, style, **{**kwargs, "seed": 4})
    assert not torch.equal(a.tensor, c.tensor)


def test_callback_can_stop_a_stage(lite_encoder, small_pair):
    content, style = _tiny(small_pair["content"]), _tiny(small_pair["style"])
    result = transfer(content, style, preset="lite", output_size="work", size=32, num_steps=(10, 0), encoder=lite_encoder,
                      progress=False, callback=lambda info: info.step == 3)
    assert len(result.history) == 3
    assert result.stopped == "stage1: stopped by the callback at iteration 3"


def test_non_finite_loss_keeps_last_finite_image():
    target = torch.full((1, 3, 4, 4), 0.5)
    calls = {"n": 0}
    seen = []

    def objective(x):
        calls["n"] += 1
        seen.append(x.detach().clone())
        loss = ((x - target) ** 2).sum()
        if calls["n"] > 3:
            loss = loss * float("nan")
        return {"total": loss}

    init = torch.zeros(1, 3, 4, 4)
    with pytest.warns(RuntimeWarning, match="the loss became non-finite at iteration 4; kept the last finite image"):
        x, stopped = run_lbfgs(objective, init, num_steps=10, progress=False)
    assert str(stopped) == "stage: the loss became non-finite at iteration 4; kept the last finite image"
    assert stopped.reason is StopReason.NON_FINITE and stopped.step == 4
    assert bool(torch.isfinite(x).all())
    assert torch.equal(x, seen[2])  # the last image whose loss was finite, not the one that failed
    assert not torch.equal(seen[3], seen[2])
    assert float(((x - target) ** 2).sum()) < float(((init - target) ** 2).sum())


def test_lbfgs_reaches_the_minimum_of_a_quadratic():
    target = torch.rand(1, 3, 5, 5)
    history: list = []
    x, stopped = run_lbfgs(lambda x: {"total": ((x - target) ** 2).sum()}, torch.zeros(1, 3, 5, 5),
                           num_steps=5, progress=False, history=history)
    assert torch.allclose(x, target, atol=1e-5)
    assert [h["step"] for h in history] == [1, 2, 3, 4, 5]
    x, stopped = run_lbfgs(lambda x: {"total": ((x - target) ** 2).sum()}, torch.zeros(1, 3, 5, 5),
                           num_steps=50, progress=False, tol_change=1e-6)
    assert stopped is not None and stopped.reason is StopReason.CONVERGED
    assert str(stopped).startswith("stage: converged at iteration")


def test_restart_above_guards_lbfgs_against_its_steps_far_uphill():
    """Without line search, L-BFGS on a pseudo-Huber loss (curvature vanishing far from the minimum)
    overshoots without end; restart_above sends it back to its best image with an empty history."""
    torch.manual_seed(0)
    target = torch.rand(1, 3, 4, 4)

    def objective(x):
        return {"total": torch.sqrt(1 + ((x - target) * 10) ** 2).sum()}

    init = torch.full((1, 3, 4, 4), 3.0)
    start = float(objective(init)["total"])
    plain, _ = run_lbfgs(objective, init, num_steps=30, progress=False)
    assert float(objective(plain)["total"]) > 1e10 * start  # the failure it guards against
    history, restarts = [], []
    guarded, stopped = run_lbfgs(objective, init, num_steps=30, progress=False, history=history,
                                 restart_above=2.0, restarts=restarts)
    assert stopped is None
    assert float(objective(guarded)["total"]) < start
    assert restarts and all(stage == "stage" and loss > 2.0 * lowest for stage, _, loss, lowest in restarts)
    steps = [step for _, step, _, _ in restarts]
    first = steps[0]
    assert history[first - 1]["total"] == restarts[0][2]  # the iteration that went uphill
    assert restarts[0][3] == min(h["total"] for h in history[:first])  # measured against the lowest before it
    assert history[first]["total"] == restarts[0][3]  # and the next one starts again from that image
    # the last iteration's step is checked too: stopped just before that iteration, the run evaluates
    # its image once more after the loop and goes back to the lowest one
    assert first >= 2
    end = []
    short, _ = run_lbfgs(objective, init, num_steps=first - 1, progress=False, restart_above=2.0, restarts=end)
    assert end == [("stage", first, restarts[0][2], restarts[0][3])]
    assert float(objective(short)["total"]) == restarts[0][3]
    unguarded, _ = run_lbfgs(objective, init, num_steps=first - 1, progress=False)
    assert float(objective(unguarded)["total"]) == restarts[0][2]  # what it would have returned
    # where nothing goes uphill the guard changes nothing: the same iterates, bit for bit
    quadratic = lambda x: {"total": ((x - target) ** 2).sum()}  # noqa: E731
    a, _ = run_lbfgs(quadratic, torch.zeros(1, 3, 4, 4), num_steps=6, progress=False)
    b, _ = run_lbfgs(quadratic, torch.zeros(1, 3, 4, 4), num_steps=6, progress=False, restart_above=2.0)
    assert torch.equal(a, b)
    for bad in (1.0, 0.5, float("inf"), float("nan")):
        with pytest.raises(ValueError, match=r"restart_above: expected a finite factor above 1 \(such as 2.0\) or None"):
            run_lbfgs(quadratic, init, num_steps=1, progress=False, restart_above=bad)


def test_paper_preset_with_full_random_weights(tmp_path):
    """The paper's layers (relu4_2, relu5_1) through the real loading code with a Caffe-layout file."""
    from ._vgg_files import write_caffe_vgg19

    path = tmp_path / "vgg19-caffe-random.pth"
    write_caffe_vgg19(path, seed=0)
    rng = np.random.default_rng(0)
    content = rng.random((40, 52, 3))
    style = rng.random((36, 36, 3))
    with pytest.warns(UserWarning, match="guessed 'caffe' because it has classifier.1 / classifier.4 keys"):
        result = transfer(content, style, preset="paper", output_size="work", size=40, num_steps=(3, 2), weights=path, progress=False)
    assert result.tensor.shape == (1, 3, 31, 40)
    assert result.preset.content_layers == ("relu4_2",)
    assert len(result.history) == 5 and all(np.isfinite(h["total"]) for h in result.history)


def test_masks_content_only_labels_fall_back_with_warning():
    content = np.zeros((6, 8), dtype=np.int64)
    content[:, 4:] = 2
    style = np.zeros((5, 5), dtype=np.int64)
    with pytest.warns(UserWarning, match=r"content mask labels \[2\] do not occur in the style mask"):
        cm, sm, present, ids = prepare_masks(content, style, (6, 8), (5, 5))
    assert ids == [0, 2]
    assert cm.shape == (2, 6, 8) and sm.shape == (2, 5, 5)
    with pytest.warns(UserWarning, match=r"^content mask labels \[2\] \('tree'\) do not occur in the style mask; "):
        prepare_masks(content, style, (6, 8), (5, 5), names={0: "sky", 2: "tree"})  # named where known
    assert present.tolist() == [True, False]
    assert float(cm[1].mean()) == pytest.approx(0.5)


def test_mask_errors_and_resizing(lite_encoder, small_pair):
    content, style = small_pair["content"], small_pair["style"]
    cmask, smask = small_pair["content_mask"], small_pair["style_mask"]
    kw = dict(preset="lite", output_size="work", size=32, num_steps=(1, 0), encoder=lite_encoder, progress=False)
    with pytest.raises(ValueError, match="content_mask was given without style_mask: pass both masks"):
        transfer(content, style, content_mask=cmask, **kw)
    wrong = np.zeros((100, 100), dtype=np.int64)
    with pytest.raises(ValueError, match=r"content_mask: the mask is 100x100 \(HxW\) but its image is \d+x\d+, a different aspect ratio"):
        transfer(content, style, content_mask=wrong, style_mask=smask, **kw)
    half = np.asarray(Image.fromarray(cmask).resize((cmask.shape[1] // 2, cmask.shape[0] // 2), Image.NEAREST))
    with pytest.warns(UserWarning, match="resizing the mask with nearest neighbour"):
        result = transfer(content, style, content_mask=half, style_mask=smask, **kw)
    assert result.masks["content"].shape == tuple(result.tensor.shape[-2:])


def test_bad_arguments(lite_encoder, small_pair):
    content, style = _tiny(small_pair["content"]), _tiny(small_pair["style"])
    kw = dict(encoder=lite_encoder, progress=False)
    with pytest.raises(ValueError, match="preset: expected one of 'paper', 'fast', 'lite', got 'fastest'"):
        transfer(content, style, preset="fastest", **kw)
    with pytest.raises(ValueError, match="num_steps: expected an integer >= 0, got -1"):
        transfer(content, style, preset="lite", num_steps=-1, **kw)
    with pytest.raises(ValueError, match="smaller than the 3x3 matting window"):
        transfer(torch.rand(1, 3, 2, 2), style, preset="lite", output_size="work", size=None, **kw)
    with pytest.raises(ValueError, match="does not output layers"):
        transfer(content, style, preset="paper", size=32, **kw)
    with pytest.raises(FileNotFoundError, match="image file not found"):
        transfer("/nonexistent/photo.png", style, preset="lite", **kw)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message for a machine without CUDA")
def test_absent_device_is_a_clear_error():
    with pytest.raises(ValueError, match="'cuda' was requested but no CUDA device is available"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="expected 'auto', 'cpu', 'cuda'"):
        resolve_device("gpu0")
    assert resolve_device("auto") == torch.device("cpu")


def test_grey_content_image(lite_encoder, small_pair):
    grey = np.asarray(Image.fromarray(small_pair["content"]).convert("L").resize((40, 30)))
    result = transfer(grey, _tiny(small_pair["style"]), preset="lite", output_size="work", size=40, num_steps=(2, 2),
                      encoder=lite_encoder, progress=False)
    assert result.tensor.shape == (1, 3, 30, 40)


def test_metrics_on_request(lite_encoder, small_pair):
    result = transfer(_tiny(small_pair["content"]), _tiny(small_pair["style"]), preset="lite", output_size="work", size=32,
                      num_steps=(3, 2), encoder=lite_encoder, progress=False, metrics=True)
    assert set(result.metrics) == {"style_distance", "matting_energy", "edge_ssim"}
    content = resize_long_side(_tiny(small_pair["content"]), 32)
    style = resize_long_side(_tiny(small_pair["style"]), 32)
    # the numbers are those of photostyle.metrics on the working-size result (the Laplacian reused)
    assert result.metrics["matting_energy"] == pytest.approx(metrics.matting_energy(result.tensor, content), rel=1e-9)
    assert result.metrics["edge_ssim"] == pytest.approx(metrics.edge_ssim(result.tensor, content), rel=1e-9)
    assert result.metrics["style_distance"] == pytest.approx(
        metrics.style_distance(result.tensor, style, encoder=lite_encoder, layers=LITE_LAYERS), rel=1e-5)
    assert result.metrics["style_distance"] < metrics.style_distance(content, style, encoder=lite_encoder,
                                                                     layers=LITE_LAYERS)


def test_presets_are_the_papers():
    paper = PRESETS["paper"]
    assert paper.content_layers == ("relu4_2",)
    assert paper.style_layers == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    caffe = paper.weights_for("caffe")
    assert (caffe.content, caffe.style, caffe.photo) == (5.0, 1e2, 1e4)
    assert caffe.tv == pytest.approx(1e-3 * 256**2)
    assert paper.num_steps == (1000, 1000) and paper.history_size == 100 and paper.size == 700
    assert [(lv.scale, lv.photorealism) for lv in paper.levels] == [(1.0, False), (1.0, True)]
    assert paper.init == "noise"
    # on the normalised network: the fast preset's numbers but a 2x style weight (the schedule from noise
    # carries the reference less far; presets.py gives the measurements)
    norm, fast = paper.weights_for("normalised"), PRESETS["fast"].weights_for("normalised")
    assert (norm.content, norm.style, norm.tv, norm.photo) == (3e4, 3e9, 1.0, 1e3)
    assert (fast.content, fast.style, fast.tv, fast.photo) == (3e4, 1.5e9, 1.0, 1e3)
    assert ps.transfer is transfer


def test_automatic_masks(lite_encoder, small_pair):
    content, style = _tiny(small_pair["content"], 64), _tiny(small_pair["style"], 64)
    result = transfer(content, style, content_mask="auto", auto_k=2, preset="lite", output_size="work", size=64, num_steps=(2, 1),
                      encoder=lite_encoder, progress=False)
    cm, sm = result.masks["content"], result.masks["style"]
    assert cm.shape == tuple(result.tensor.shape[-2:]) and sm.shape == tuple(style.shape[-2:])
    assert set(np.unique(cm)) <= {0, 1} and set(np.unique(sm)) <= {0, 1}
    overlay = result.mask_overlay()
    assert overlay.size == (cm.shape[1], cm.shape[0])
    with pytest.raises(ValueError, match="content_mask='auto' segments both images"):
        transfer(content, style, content_mask="auto", style_mask=small_pair["style_mask"], preset="lite",
                 encoder=lite_encoder, progress=False)
    with pytest.raises(ValueError, match="auto_k is the number of regions of automatic masks"):
        transfer(content, style, auto_k=3, preset="lite", encoder=lite_encoder, progress=False)
    no_masks = transfer(content, style, preset="lite", output_size="work", size=32, num_steps=(1, 0), encoder=lite_encoder, progress=False)
    with pytest.raises(ValueError, match="made without masks"):
        no_masks.mask_overlay()


def test_an_automasks_given_as_content_mask_is_used_as_made_with_its_names(lite_encoder, small_pair):
    """auto_segment's result, looked at (and made with any of its options), goes to transfer as it is."""
    import dataclasses
    import warnings

    from photostyle.image import to_numpy
    from photostyle.masks import resolve_masks
    from photostyle.segmentation import auto_segment
    from ._shared import raises_exactly

    content, style = _tiny(small_pair["content"], 64), _tiny(small_pair["style"], 64)
    made = auto_segment(to_numpy(content), to_numpy(style), k=2, method="cluster")
    named = dataclasses.replace(made, names={0: "upper", 1: "lower"})  # the clustering has no names
    result = transfer(content, style, content_mask=named, preset="lite", output_size="work", size=64,
                      num_steps=(2, 1), encoder=lite_encoder, progress=False)
    assert np.array_equal(result.masks["content"], made.content_labels)
    assert np.array_equal(result.masks["style"], made.style_labels)
    assert result.label_names == {0: "upper", 1: "lower"}
    assert np.array_equal(result.masks_native["content"], made.content_labels)  # as made
    # made at a smaller size (the photos' aspect ratios): kept at that size, like content_mask="auto"'s
    smaller = auto_segment(to_numpy(_tiny(small_pair["content"], 40)), to_numpy(_tiny(small_pair["style"], 40)),
                           k=2, method="cluster")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no "resizing the mask" warning
        masks = resolve_masks(smaller, None, content, style, auto_size=512)
    assert np.array_equal(masks.content, smaller.content_labels) and masks.content.shape[1] == 40
    square = dataclasses.replace(made, style_labels=np.zeros((40, 40), np.int64))
    with raises_exactly(ValueError, "content_mask: the AutoMasks' style labels are 40x40 (HxW) but the style photo "
                                    "is 43x64, a different aspect ratio; pass the AutoMasks that auto_segment made "
                                    "for these two photos."):
        transfer(content, style, content_mask=square, preset="lite", encoder=lite_encoder, progress=False)
    tiny = dict(preset="lite", encoder=lite_encoder, progress=False)
    with raises_exactly(ValueError, "content_mask: an AutoMasks holds both photos' label maps; expected style_mask "
                                    "left out, got a ndarray; pass the AutoMasks as content_mask alone."):
        transfer(content, style, content_mask=named, style_mask=made.style_labels, **tiny)
    with raises_exactly(ValueError, "style_mask: expected a mask of the style photo, got an AutoMasks (it holds both "
                                    "photos' label maps); pass it as content_mask and leave style_mask out."):
        transfer(content, style, content_mask=made.content_labels, style_mask=named, **tiny)
    with raises_exactly(ValueError, "auto_k, merge: options of automatic masks, but content_mask is an AutoMasks that "
                                    "auto_segment already made; pass them to segmentation.auto_segment instead."):
        transfer(content, style, content_mask=named, auto_k=3, merge={"tree": "grass"}, **tiny)


def test_lbfgs_iterates_equal_torch_optims_step_for_step():
    """photostyle's L-BFGS is torch.optim.LBFGS(max_iter=1, no line search) written out for one tensor:
    the same iterates to the last bit, through a full history (it wraps around)."""
    from photostyle._lbfgs import TwoLoopLBFGS

    gen = torch.Generator().manual_seed(3)
    a = torch.randn(40, 40, generator=gen, dtype=torch.float64)
    hessian = a @ a.T / 40 + torch.eye(40, dtype=torch.float64) * 0.1
    target = torch.randn(40, dtype=torch.float64, generator=gen)

    def loss_of(x):  # a quartic bowl: curvature changes along the way
        e = x - target
        return 0.5 * e @ hessian @ e + 0.05 * (e ** 4).sum()

    x_ours = torch.zeros(40, dtype=torch.float64, requires_grad=True)
    x_torch = torch.zeros(40, dtype=torch.float64, requires_grad=True)
    ours = TwoLoopLBFGS(x_ours, history_size=5)
    theirs = torch.optim.LBFGS([x_torch], lr=1.0, max_iter=1, history_size=5, line_search_fn=None,
                               tolerance_grad=0.0, tolerance_change=0.0)

    def closure(x, opt):
        def run():
            opt.zero_grad()
            value = loss_of(x)
            value.backward()
            return value
        return run

    losses = []
    for _ in range(30):
        l_ours = ours.step(closure(x_ours, ours))
        l_torch = theirs.step(closure(x_torch, theirs))
        assert float(l_ours) == float(l_torch)
        assert torch.equal(x_ours, x_torch)
        losses.append(float(l_ours))
    assert ours.n_iter == 30 and len(ours._dirs) == 5  # the history wrapped around
    assert losses[-1] < 1e-3 * losses[0]  # and it converges
    # a stationary point: no step, no iteration counted (tolerance_grad = 0)
    still = torch.zeros(3, requires_grad=True)
    opt = TwoLoopLBFGS(still)
    opt.step(lambda: (still * 0).sum().backward() or torch.zeros(()))
    assert opt.n_iter == 0 and torch.equal(still, torch.zeros(3))


def test_run_lbfgs_does_not_import_torch_dynamo():
    """torch.optim's first optimiser imports torch._dynamo (seconds); run_lbfgs never needs it."""
    import subprocess
    import sys

    code = ("import sys, torch\n"
            "from photostyle.optimize import run_lbfgs\n"
            "x0 = torch.rand(1, 3, 8, 8)\n"
            "x, stop = run_lbfgs(lambda x: {'total': (x - 0.5).pow(2).sum()}, x0, num_steps=3, progress=False)\n"
            "assert float((x - 0.5).abs().max()) < float((x0 - 0.5).abs().max())\n"
            "print('torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
