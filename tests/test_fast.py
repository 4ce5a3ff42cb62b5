"""The coarse-to-fine schedule, its start image, memory limits, warnings, and the full-size delivery."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch

from photostyle import metrics
from photostyle.colour import colour_transfer
from photostyle.encoders import VGG19Encoder
from photostyle.image import resize_long_side, resize_to, to_tensor
from photostyle.losses import StyleObjective
from photostyle.masks import MaskSet
from photostyle.optimize import level_shapes, noise_image, starting_image
from photostyle.presets import PRESETS, LossWeights
from photostyle.transfer import transfer

from ._shared import DPST, dpst_pair
from ._vgg_files import write_normalised_vgg19

PAPER_LAYERS = PRESETS["paper"].layers


@pytest.fixture(scope="module")
def random_full(tmp_path_factory):
    """A full-depth normalised-layout encoder on random weights (shapes and plumbing, not looks)."""
    path = write_normalised_vgg19(tmp_path_factory.mktemp("w") / "n.pth", up_to="conv5_1", seed=0)
    return VGG19Encoder(PAPER_LAYERS, weights=path)


@pytest.mark.parametrize("shape", [(397, 531), (531, 397), (100, 33), (512, 512)])
def test_level_shapes_at_odd_sizes(shape):
    levels = PRESETS["fast"].levels
    shapes = level_shapes(shape, levels)
    assert shapes[-1] == shape  # the last level is the working size itself
    for (h, w), level in zip(shapes, levels):
        assert min(h, w) >= min(17, min(shape)) and max(h, w) <= max(shape)
        if min(shape) * level.scale >= 18:
            assert max(h, w) == round(max(shape) * level.scale)
        ratio = max(h, w) / max(shape)
        assert abs(min(h, w) - min(shape) * ratio) <= 1  # the aspect ratio is kept (to a pixel)
    assert [max(s) for s in shapes] == sorted(max(s) for s in shapes)


def test_every_level_builds_its_targets_and_masks(random_full):
    """At every level of the fast schedule, odd sizes, masks: the objective's feature maps and mask
    pyramids agree, and one loss + gradient evaluation is finite."""
    content = torch.rand(1, 3, 97, 131, generator=torch.Generator().manual_seed(0))
    style = torch.rand(1, 3, 120, 90, generator=torch.Generator().manual_seed(1))
    cl = np.zeros((97, 131), np.int64)
    cl[:, 60:] = 1
    sl = np.zeros((120, 90), np.int64)
    sl[70:] = 1
    masks = MaskSet(cl, sl)
    for shape in level_shapes((97, 131), PRESETS["fast"].levels):
        c = resize_to(content, shape)
        s = resize_long_side(style, max(shape))
        cm, sm, present = masks.one_hot(shape, tuple(s.shape[-2:]))
        objective = StyleObjective(random_full, c, s, content_layers=("relu4_2",),
                                   style_layers=PRESETS["fast"].style_layers, content_weight=1.0, style_weight=1.0,
                                   content_masks=cm, style_masks=sm, style_present=present)
        x = c.clone().requires_grad_(True)
        total = objective(x)["total"]
        total.backward()
        assert torch.isfinite(total) and x.grad.shape == c.shape and float(x.grad.abs().sum()) > 0


def test_start_images():
    content = torch.rand(1, 3, 20, 30, generator=torch.Generator().manual_seed(2))
    style = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(3)) * 0.5
    a = starting_image("noise", content, style, None, seed=5)
    assert torch.equal(a, noise_image((1, 3, 20, 30), seed=5))
    assert torch.allclose(a.mean(dim=(0, 2, 3)), torch.tensor([123.68, 116.779, 103.939]) / 256, atol=1e-4)
    assert torch.equal(starting_image("content", content, style, None, seed=0), content)
    colour = starting_image("colour", content, style, None, seed=0)
    assert torch.allclose(colour, colour_transfer(content, style))
    # the colour start carries the style's mean colour
    assert torch.allclose(colour.mean(dim=(2, 3)), style.mean(dim=(2, 3)), atol=0.02)


def test_zero_iterations_returns_the_content_with_a_warning(random_full):
    content = torch.rand(1, 3, 40, 30, generator=torch.Generator().manual_seed(4))
    style = torch.rand(1, 3, 30, 30)
    with pytest.warns(UserWarning, match="every level has 0 iterations: no optimisation ran, the result is the content"):
        result = transfer(content, style, preset="fast", num_steps=0, encoder=random_full, progress=False,
                          postprocess="none")
    assert torch.allclose(result.tensor, content, atol=1e-6) and result.warnings
    assert result.history == []


def test_a_level_that_does_not_move_is_flagged(random_full):
    content = torch.rand(1, 3, 40, 30, generator=torch.Generator().manual_seed(4))
    with pytest.warns(UserWarning, match=r"level1: the loss barely moved in 1 iteration\(s\)"):
        result = transfer(content, content, preset="fast", num_steps=(1, 0, 0), init="content",
                          encoder=random_full, progress=False)
    assert any("level1" in w for w in result.warnings)


def test_the_flat_level_warning_tells_a_rise_from_a_standstill():
    from photostyle.optimize import flat_level_warning

    level = PRESETS["fast"].levels[0]
    run = lambda *totals: [{"stage": "level1", "total": t} for t in totals] + [{"stage": "level2", "total": 1.0}]  # noqa: E731
    assert flat_level_warning(level, run(100.0, 350.0)) == (
        "level1: the loss rose in 2 iteration(s) (100 -> 350); L-BFGS had too few iterations to settle. "
        "Give more iterations (num_steps / --steps).")
    assert flat_level_warning(level, run(100.0, 99.5)) == (
        "level1: the loss barely moved in 2 iteration(s) (100 -> 99.5); the image stayed close to its start. "
        "Give more iterations (num_steps / --steps).")
    assert flat_level_warning(level, run(100.0, 100.9)).startswith("level1: the loss barely moved")  # within 1 %
    assert flat_level_warning(level, run(100.0, 60.0)) is None


def test_non_finite_loss_stops_and_names_the_level(random_full, monkeypatch):
    content = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(6))
    style = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(7))
    real = random_full.forward
    calls = {"n": 0}

    def failing(image):  # targets (2 calls a level), level 1's 3 iterations and the check of its last
        calls["n"] += 1  # step (run_lbfgs's restart_above), and 2 iterations of level 2 are fine, then NaN
        feats = real(image)
        return {k: v * float("nan") for k, v in feats.items()} if calls["n"] > 2 + 3 + 1 + 2 + 2 else feats

    monkeypatch.setattr(random_full, "forward", failing)
    with pytest.warns(RuntimeWarning, match="level2: the loss became non-finite at iteration 3"):
        result = transfer(content, style, preset="fast", num_steps=(3, 3, 3), encoder=random_full, progress=False)
    assert result.stops[0].stage == "level2" and "level3" not in result.stages
    assert "level2: the loss became non-finite at iteration 3; kept the last finite image" in result.stopped
    assert bool(torch.isfinite(result.tensor).all())


def test_refuses_what_does_not_fit_in_memory_before_any_work(random_full, monkeypatch):
    from photostyle import _checks

    monkeypatch.setattr(_checks, "_available_memory", lambda: 200 * 2**20)
    content = torch.rand(1, 3, 600, 400)
    calls = []
    monkeypatch.setattr(random_full, "forward", lambda *a: calls.append(a))
    with pytest.raises(ValueError, match=r"work_size: optimising at 400x600 with a 400x600 output needs about "
                                         r"[\d.]+ GB but 0.2 GB are available; pass work_size=\d+ or less"):
        transfer(content, content, preset="fast", work_size=600, encoder=random_full, progress=False)
    assert calls == []


def test_work_size_above_the_photo_is_lowered_with_a_warning(random_full):
    content = torch.rand(1, 3, 30, 40)
    with pytest.warns(UserWarning, match=r"work_size=512 is larger than the content photo \(40x30\); working at its own size, 40 px"):
        result = transfer(content, content, preset="fast", work_size=512, num_steps=1, encoder=random_full,
                          progress=False, init="content")
    assert result.tensor.shape == (1, 3, 30, 40) and result.stages["level3"].shape == (1, 3, 30, 40)


@pytest.mark.slow
def test_fast_preset_end_to_end_on_the_genuine_network(full_weights):
    """The paper's layers on the genuine full VGG-19, a real pair at a small working size, delivered at
    the photo's own size: it carries the style and stays a photo, compared with the paper's own result."""
    paths = dpst_pair(9)
    paper_path = DPST / "paper" / "best9.jpg"
    if not paper_path.exists():
        pytest.skip(f"the paper's result is not at {paper_path}")
    encoder = VGG19Encoder(PAPER_LAYERS, weights=full_weights)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = transfer(paths["content"], paths["style"], content_mask=paths["content_mask"],
                          style_mask=paths["style_mask"], preset="fast", work_size=96, num_steps=(60, 25, 10),
                          encoder=encoder, progress=False)
    full = to_tensor(paths["content"])
    assert result.tensor.shape == full.shape  # delivered at 700 px from a 96 px optimisation
    assert result.network["layout"] == "normalised" and result.weights == PRESETS["fast"].weights_for("normalised")
    counts = [[h["stage"] for h in result.history].count(name) for name in ("level1", "level2", "level3")]
    assert counts == [60, 25, 10] and result.stops == []  # fixed counts: the fast preset does not stop early
    size = 96
    content = resize_long_side(full, size)
    style = resize_long_side(to_tensor(paths["style"]), size)
    ours = resize_long_side(result.tensor, size)
    paper = resize_to(to_tensor(paper_path), tuple(content.shape[-2:]))
    cm, sm = result.masks["content"], result.masks["style"]

    def distance(img):
        return metrics.style_distance(img, style, encoder=encoder, layers=PRESETS["paper"].style_layers,
                                      content_mask=resize_to(torch.from_numpy(cm)[None, None].float(),
                                                             tuple(content.shape[-2:]), mode="nearest")[0, 0].long().numpy(),
                                      style_mask=sm)

    d_content, d_ours, d_paper = distance(content), distance(ours), distance(paper)
    assert d_ours < 0.05 * d_content, (d_content, d_ours)
    assert d_ours < 4 * d_paper, (d_ours, d_paper)
    e_ours, e_paper = metrics.matting_energy(ours, content), metrics.matting_energy(paper, content)
    assert e_ours < e_paper, (e_ours, e_paper)
    s_ours, s_paper = metrics.edge_ssim(ours, content), metrics.edge_ssim(paper, content)
    assert s_ours > s_paper - 0.15, (s_ours, s_paper)  # the content's structure kept about as well as the paper


def test_style_cache_reuses_the_style_targets(random_full, monkeypatch):
    content_a = torch.rand(1, 3, 40, 30, generator=torch.Generator().manual_seed(8))
    content_b = torch.rand(1, 3, 40, 30, generator=torch.Generator().manual_seed(9))
    style = torch.rand(1, 3, 36, 36, generator=torch.Generator().manual_seed(10))
    kw = dict(preset="fast", num_steps=(2, 1, 1), encoder=random_full, progress=False, init="content")
    plain = transfer(content_b, style, **kw)
    real = random_full.forward
    calls = {"n": 0}

    def counting(image, **options):
        calls["n"] += 1
        return real(image, **options)

    monkeypatch.setattr(random_full, "forward", counting)
    cache: dict = {}
    transfer(content_a, style, style_cache=cache, **kw)
    first = calls["n"]
    sizes = len(set(level_shapes((40, 30), PRESETS["fast"].levels)))
    assert sizes == 2 and len(cache) == sizes  # one entry per level size (the two small levels share 23 px)
    calls["n"] = 0
    cached = transfer(content_b, style, style_cache=cache, **kw)
    assert calls["n"] == first - sizes  # the style's forward passes are skipped
    assert torch.equal(cached.tensor, plain.tensor)


def test_an_image_as_start(random_full):
    content = torch.rand(1, 3, 40, 30, generator=torch.Generator().manual_seed(11))
    start = torch.rand(1, 3, 80, 60, generator=torch.Generator().manual_seed(12))
    seen = []
    transfer(content, content, preset="fast", num_steps=(1, 0, 0), init=start, encoder=random_full, progress=False,
             callback=seen.append)
    first_shape = level_shapes((40, 30), PRESETS["fast"].levels)[0]
    assert seen[0].stage == "level1" and tuple(seen[0].image.shape[-2:]) == first_shape
    with pytest.raises(ValueError, match=r"init: expected 'noise', 'content', 'colour' or an image tensor \(1, 3, H, W\)"):
        transfer(content, content, preset="fast", init=torch.rand(3, 4, 4), encoder=random_full, progress=False)


def test_a_grey_noise_result_is_not_passed_off_as_a_result(full_weights):
    """The trap of issue 13: the paper preset with 3 + 3 iterations leaves the grey noise start; the result
    and a warning say so."""
    from skimage import data

    with pytest.warns(UserWarning, match=r"stage1: the loss barely moved in 3 iteration\(s\)"):
        result = transfer(data.coffee(), data.rocket(), preset="paper", work_size=64, num_steps=(3, 3),
                          progress=False, output_size="work", weights=full_weights)
    assert any(w.startswith("stage1:") for w in result.warnings) and any(w.startswith("stage2:") for w in result.warnings)
    assert float(result.stages["stage2"].std()) < 0.05  # indeed still nearly flat grey


def test_photo_weight_follows_the_level_size(random_full, monkeypatch):
    """The matting energy is a sum over pixels, the content and style terms are means: every level gets
    ``photo · (700 / long side)²``, so the paper's number runs as given at 700 px and the balance holds
    at every level of the pyramid."""
    assert LossWeights(1.0, 1.0, 1.0, 1e4).photo_at((525, 700)) == 1e4
    assert LossWeights(1.0, 1.0, 1.0, 1e4).photo_at((175, 350)) == 4e4
    seen = []
    original = StyleObjective.set_photorealism

    def record(self, loss, weight):
        if loss is not None:
            seen.append(weight)
        return original(self, loss, weight)

    monkeypatch.setattr(StyleObjective, "set_photorealism", record)
    content = torch.rand(1, 3, 60, 140, generator=torch.Generator().manual_seed(0))
    style = torch.rand(1, 3, 60, 80, generator=torch.Generator().manual_seed(1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = transfer(content, style, encoder=random_full, preset="fast", work_size=140, num_steps=1,
                          output_size="work", photo_weight=2.5e3, progress=False)
    sides = [max(s) for s in level_shapes((60, 140), PRESETS["fast"].levels)]
    assert seen == pytest.approx([2.5e3 * (700 / side) ** 2 for side in sides])
    assert result.weights.photo == 2.5e3


def test_a_converged_level_ends_early_and_the_next_one_runs(random_full):
    """The early stop is per level: a level that has converged ends, the next level still runs in full."""
    from photostyle.optimize import StopReason

    content = torch.rand(1, 3, 48, 36, generator=torch.Generator().manual_seed(5))
    style = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(6))
    # a tolerance of 1 stops as soon as the loss is under 90 % of its start and a window of 5 iterations
    # is full: level 2 (its loss falls 15x in 3 iterations) can end, levels 1 and 3 are too short to
    result = transfer(content, style, preset="fast", num_steps=(3, 40, 3), tol_change=1.0, encoder=random_full,
                      progress=False, postprocess="none")
    counts = {name: [h["stage"] for h in result.history].count(name) for name in ("level1", "level2", "level3")}
    assert [(s.reason, s.stage) for s in result.stops] == [(StopReason.CONVERGED, "level2")]
    assert counts == {"level1": 3, "level2": 6, "level3": 3} and result.stops[0].step == 6
    level2 = [h["total"] for h in result.history if h["stage"] == "level2"]
    assert level2[-1] <= 0.9 * level2[0]


def test_precision_auto_follows_the_cpu_and_is_reported(random_full, monkeypatch):
    from photostyle import encoders

    content = torch.rand(1, 3, 40, 30, generator=torch.Generator().manual_seed(13))
    kw = dict(num_steps=(2, 1, 1), encoder=random_full, progress=False, init="content")
    seen = []
    real = random_full.forward

    def spy(image, **options):
        seen.append(options.get("compute_dtype"))
        return real(image, **options)

    monkeypatch.setattr(random_full, "forward", spy)
    monkeypatch.setattr(encoders, "_cpu_has_native_bf16", lambda: True)
    fast = transfer(content, content, preset="fast", **kw)
    assert fast.network["precision"] == "bfloat16" and set(seen) == {torch.bfloat16}
    seen.clear()
    plain = transfer(content, content, preset="fast", precision="float32", **kw)
    assert plain.network["precision"] == "float32" and set(seen) == {torch.float32}
    assert not torch.equal(fast.tensor, plain.tensor)
    seen.clear()
    paper = transfer(content, content, preset="paper", num_steps=(1, 1), encoder=random_full, progress=False)
    assert paper.network["precision"] == "bfloat16" and set(seen) == {torch.bfloat16}  # the schedule is Luan's
    seen.clear()
    lite = transfer(content, content, preset="lite", num_steps=(1, 1), encoder=random_full, progress=False)
    assert lite.network["precision"] == "float32" and set(seen) == {torch.float32}
    monkeypatch.setattr(encoders, "_cpu_has_native_bf16", lambda: False)
    seen.clear()
    assert transfer(content, content, preset="fast", **kw).network["precision"] == "float32"
    assert set(seen) == {torch.float32}
    seen.clear()
    asked = transfer(content, content, preset="fast", precision="bfloat16", **kw)  # asked for: runs anyway
    assert asked.network["precision"] == "bfloat16" and set(seen) == {torch.bfloat16}


def test_precision_errors(random_full):
    content = torch.rand(1, 3, 40, 30, generator=torch.Generator().manual_seed(14))
    with pytest.raises(ValueError, match=re.escape("precision: expected one of 'auto', 'float32', 'bfloat16', "
                                                   "got 'half'")):
        transfer(content, content, precision="half", encoder=random_full, progress=False)

    class Plain(torch.nn.Module):  # an encoder of one's own, without compute_dtype=
        def __init__(self):
            super().__init__()
            self.inner = random_full
            self.layers, self.names = random_full.layers, random_full.names

        def forward(self, image):
            return self.inner(image)

    with pytest.raises(ValueError, match=re.escape("precision: 'bfloat16' needs an encoder whose forward takes "
                                                   "compute_dtype= (a VGG19Encoder), got Plain; pass "
                                                   "precision='float32'.")):
        transfer(content, content, precision="bfloat16", encoder=Plain(), num_steps=1, progress=False)
    own = transfer(content, content, precision="auto", encoder=Plain(), num_steps=(1, 1, 1), progress=False,
                   init="content")
    assert own.network["precision"] == "float32"  # auto: the user's encoder runs in its own dtype


def test_fast_preset_restarts_lbfgs_and_the_result_says_where(monkeypatch, random_full):
    import sys

    transfer_module = sys.modules["photostyle.transfer"]  # the module (the package exports the function)

    assert PRESETS["fast"].restart_above == 2.0
    assert PRESETS["paper"].restart_above is None and PRESETS["lite"].restart_above is None  # Luan's iteration
    seen = []
    real = transfer_module.run_lbfgs

    def spy(objective, init, **options):
        seen.append(options["restart_above"])
        options["restarts"].append((options["stage"], 1, 3.0, 1.0))  # as run_lbfgs records one
        return real(objective, init, **options)

    monkeypatch.setattr(transfer_module, "run_lbfgs", spy)
    content = torch.rand(1, 3, 24, 32)
    result = transfer(content, content, preset="fast", num_steps=(1, 1, 1), encoder=random_full,
                      progress=False, init="content")
    assert seen == [2.0, 2.0, 2.0]
    spied = [r for r in result.restarts if r[1:] == (1, 3.0, 1.0)]
    assert spied == [("level1", 1, 3.0, 1.0), ("level2", 1, 3.0, 1.0), ("level3", 1, 3.0, 1.0)]
    # the rest are run_lbfgs's own check of each level's one step (evaluated after the loop, "iteration 2"):
    # on this random network that first step goes far uphill, and the level keeps its start
    ends = [r for r in result.restarts if r not in spied]
    assert ends and all(step == 2 and loss > 2.0 * lowest for _, step, loss, lowest in ends)
