"""Training: a tiny model really learns on the CPU; losses; folders, checkpoints and samples."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from _spade_helpers import toy_config
from tests._shared import raises_exactly
from photostyle.spade import (
    PairedFolderDataset,
    PerceptualLoss,
    SPADEGenerator,
    SPADEModel,
    SyntheticLabelDataset,
    encode_labels,
    feature_matching_loss,
    hinge_d_loss,
    hinge_g_loss,
    init_weights,
    kld_loss,
    load_model,
    make_vgg_encoder,
    read_train_state,
    render,
    train_spade,
)


def _region_errors(model: SPADEModel, data: SyntheticLabelDataset) -> np.ndarray:
    """Distance (RGB in [0, 1]) between each label's mean rendered colour and its true colour."""
    model.generator.eval()
    with torch.no_grad():
        out = (model.generator(encode_labels(data.labels, model.config)) + 1) / 2
    pixels = out.permute(0, 2, 3, 1)
    return np.array([float((pixels[data.labels == k].mean(0) - data.colors[k]).norm())
                     for k in range(data.num_labels)])


def test_tiny_model_learns_label_colours():
    config = toy_config()  # ngf 4, 32x32, 4 labels
    train = SyntheticLabelDataset(64, size=32, num_labels=4, seed=0)
    held_out = SyntheticLabelDataset(16, size=32, num_labels=4, seed=1)
    torch.manual_seed(1)
    before = _region_errors(SPADEModel(init_weights(SPADEGenerator(config)), config), held_out)
    # The full recipe (hinge GAN + feature matching) without VGG; for a run this short, G learns at
    # D's rate (4e-4) instead of TTUR's 1e-4.
    result = train_spade(train, config=config, steps=300, batch_size=8, lr_g=4e-4, vgg_encoder=None,
                         ndf=16, n_layers_D=3, num_D=2, seed=1, progress=False)
    after = _region_errors(result.model, held_out)
    assert len(result.history) == 300
    assert {"G_GAN", "G_feat", "D_fake", "D_real"} <= set(result.history[-1])
    assert after.max() < 0.3, (before, after)  # the mean of all colours is ~0.5-0.7 away
    assert after.mean() < 0.15, (before, after)
    assert after.mean() < 0.3 * before.mean(), (before, after)
    # and render() on the trained model paints each region in its colour
    labels = np.zeros((32, 32), dtype=np.int64)
    labels[:, 16:] = 2
    img = render(labels, checkpoint=result.model).tensor[0]
    assert float((img[:, :, 4:12].mean((1, 2)) - train.colors[0]).norm()) < 0.3
    assert float((img[:, :, 20:28].mean((1, 2)) - train.colors[2]).norm()) < 0.3


def test_gan_losses_known_values():
    pf = [[torch.zeros(1, 2, 2, 2), torch.full((1, 1, 2, 2), 0.5)]]
    pr = [[torch.ones(1, 2, 2, 2), torch.full((1, 1, 2, 2), 2.0)]]
    fake, real = hinge_d_loss(pf, pr)
    assert fake.item() == pytest.approx(1.5) and real.item() == pytest.approx(0.0)
    assert hinge_g_loss(pf).item() == pytest.approx(-0.5)
    assert feature_matching_loss(pf, pr).item() == pytest.approx(1.0)
    assert kld_loss(torch.zeros(2, 3), torch.zeros(2, 3)).item() == 0.0
    assert kld_loss(torch.ones(1, 2), torch.zeros(1, 2)).item() == pytest.approx(1.0)


class _MeanColour(torch.nn.Module):
    """A duck-typed 'encoder': {layer: features} for images in [0, 1]."""

    def forward(self, x):
        assert 0 <= float(x.detach().min()) and float(x.detach().max()) <= 1
        return {"relu1_1": x, "relu2_1": x.mean(1, keepdim=True), "other": x}


def test_perceptual_loss_takes_any_encoder():
    loss = PerceptualLoss(_MeanColour())
    fake = torch.zeros(1, 3, 4, 4, requires_grad=True)
    real = torch.ones(1, 3, 4, 4)
    value = loss(fake * 2 - 1, real * 2 - 1)
    assert value.item() == pytest.approx(1 / 32 + 1 / 16)  # L1 of 0 vs 1 at relu1_1 and relu2_1
    value.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    with raises_exactly(ValueError, "encoder: expected some of the layers ['relu5_1'], got ['other', 'relu1_1', "
                        "'relu2_1']; build it with make_vgg_encoder() or give layer_weights for its layers."):
        PerceptualLoss(_MeanColour(), {"relu5_1": 1.0})(fake, real)


def test_vgg_encoder_falls_back_to_layers_the_weights_have(shared_weights):
    with pytest.warns(UserWarning, match=r"end at conv3_1, so the loss uses relu1_1, relu2_1, relu3_1"):
        enc = make_vgg_encoder(shared_weights)
    feats = enc(torch.rand(1, 3, 16, 16))
    assert set(feats) == {"relu1_1", "relu2_1", "relu3_1"}
    loss = PerceptualLoss(enc)
    assert loss(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16)).item() == 0.0


def _write_pairs(root, n=4, size=40):
    data = SyntheticLabelDataset(n, size=size, num_labels=3, seed=5)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i in range(n):
        img = (data.images[i].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        Image.fromarray(img).save(root / "images" / f"pair{i}.jpg", quality=95)
        Image.fromarray(data.labels[i].numpy().astype(np.uint8), mode="L").save(root / "labels" / f"pair{i}.png")
    return data


def test_folder_training_writes_official_layout(tmp_path, shared_weights):
    _write_pairs(tmp_path / "data")
    config = toy_config(label_nc=3, use_vae=True, z_dim=8)
    ds = PairedFolderDataset(tmp_path / "data", config=config)
    labels, image = ds[0]
    assert labels.shape == (32, 32) and image.shape == (3, 32, 32) and labels.max() < 3
    out = tmp_path / "run"
    with pytest.warns(UserWarning, match="relu1_1, relu2_1, relu3_1"):
        result = train_spade(tmp_path / "data", config=config, steps=3, batch_size=2, out_dir=out,
                             vgg_weights=shared_weights, ndf=4, n_layers_D=2, num_D=2, sample_every=2,
                             save_every=2, progress=False)
    assert {"KLD", "G_VGG", "G_feat"} <= set(result.history[-1])
    names = sorted(p.name for p in out.iterdir())
    # by default the generator and the encoder it needs, not the discriminator or optimiser states
    assert names == ["latest_net_E.pth", "latest_net_G.pth", "samples", "spade_config.json"]
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["final.png", "step_000002.png"]
    sheet = Image.open(out / "samples" / "final.png")
    assert sheet.size == (3 * 32, 2 * 32)
    model = load_model(out)
    assert model.config == config and model.encoder is not None
    g_trained = result.model.generator.state_dict()
    assert all(torch.equal(v, g_trained[k]) for k, v in model.generator.state_dict().items())
    with raises_exactly(FileExistsError, f"out_dir: expected a folder without a checkpoint, got '{out}', which holds "
                        "one; pass resume=True to continue it, overwrite=True to replace it (CLI: --resume / "
                        "--overwrite), or choose another folder."):
        train_spade(tmp_path / "data", config=config, steps=1, batch_size=2, out_dir=out, vgg_encoder=None)
    # resume continues from the saved generator; the discriminator starts afresh, and it says so
    with pytest.warns(UserWarning, match="holds the generator alone; the discriminator and the optimisers start"):
        again = train_spade(tmp_path / "data", config=config, steps=1, batch_size=2, out_dir=out, resume=True,
                            vgg_encoder=None, ndf=4, n_layers_D=2, num_D=2, progress=False)
    assert len(again.history) == 1


def test_training_bad_input(tmp_path):
    config = toy_config()
    data = SyntheticLabelDataset(4, size=32, num_labels=4)
    with raises_exactly(ValueError, "batch_size: expected an integer >= 2, got 1; pass e.g. batch_size=4 (the "
                        "generator's batch norms need more than one sample)."):
        train_spade(data, config=config, steps=1, batch_size=1, vgg_encoder=None)
    with raises_exactly(ValueError, "data: expected at least batch_size=8 pairs, got 4; lower batch_size or add pairs."):
        train_spade(data, config=config, steps=1, batch_size=8, vgg_encoder=None)
    with raises_exactly(ValueError, "data: expected ids in 0 … 1 (preset 'toy', 2 classes), got 2, 3; remap them or "
                        "pick the preset the map was made for."):
        train_spade(data, config=toy_config(label_nc=2), steps=1, batch_size=2, vgg_encoder=None, progress=False)
    with raises_exactly(FileNotFoundError, f"data: expected a folder with an images/ and a labels/ subfolder (photos "
                        f"and label PNGs with matching names), got '{tmp_path}' without them; add them (SPADE's "
                        "train_img/ and train_label/ work too)."):
        train_spade(tmp_path, config=config, steps=1, vgg_encoder=None)
    with raises_exactly(FileNotFoundError, f"data: expected a folder, got '{tmp_path / 'nope'}', which does not exist; "
                        "check the path."):
        train_spade(tmp_path / "nope", config=config, steps=1, vgg_encoder=None)
    with raises_exactly(FileNotFoundError, f"resume: expected a latest_net_G.pth in out_dir to continue from, got none "
                        f"in '{tmp_path}'; point out_dir at the run to continue, or drop resume=True."):
        train_spade(data, config=config, steps=1, batch_size=2, vgg_encoder=None, resume=True, out_dir=tmp_path)


def _sizes(folder) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in folder.iterdir() if p.is_file()}


def test_checkpoint_generator_alone_by_default_full_state_on_request(tmp_path):
    config = toy_config(label_nc=3)
    data = SyntheticLabelDataset(4, size=32, num_labels=3, seed=2)
    kw = dict(config=config, batch_size=2, vgg_encoder=None, ndf=8, n_layers_D=2, num_D=2, progress=False,
              sample_every=None)
    train_spade(data, steps=2, out_dir=tmp_path / "slim", seed=3, **kw)
    full = train_spade(data, steps=2, out_dir=tmp_path / "full", seed=3, save_full_state=True, **kw)
    assert sorted(_sizes(tmp_path / "slim")) == ["latest_net_G.pth", "spade_config.json"]
    sizes = _sizes(tmp_path / "full")
    assert sorted(sizes) == ["latest_net_D.pth", "latest_net_G.pth", "latest_train_state.pth", "spade_config.json"]
    # same seed, same training: the generator files hold the same tensors
    g_slim = torch.load(tmp_path / "slim" / "latest_net_G.pth", weights_only=True)
    g_full = torch.load(tmp_path / "full" / "latest_net_G.pth", weights_only=True)
    assert g_slim.keys() == g_full.keys() and all(torch.equal(g_slim[k], g_full[k]) for k in g_slim)
    # the training state: two Adam moments per parameter of G and D, the step and D's shape
    state = read_train_state(tmp_path / "full" / "latest_train_state.pth")
    assert {k: state[k] for k in ("step", "ndf", "n_layers_D", "num_D")} == {
        "step": 2, "ndf": 8, "n_layers_D": 2, "num_D": 2}
    n_g = sum(p.numel() for p in full.model.generator.parameters())
    n_d = sum(p.numel() for p in full.discriminator.parameters())
    moments = {name: sum(s["exp_avg"].numel() + s["exp_avg_sq"].numel() for s in opt["state"].values())
               for name, opt in state["optimizers"].items()}
    assert moments == {"G": 2 * n_g, "D": 2 * n_d}
    assert sizes["latest_train_state.pth"] > 4 * (2 * n_g + 2 * n_d)  # float32 moments
    # both kinds load for rendering, to the same generator
    for folder in ("slim", "full"):
        model = load_model(tmp_path / folder)
        assert model.config == config
        loaded = model.generator.state_dict()
        assert all(torch.equal(v, g_slim[k]) for k, v in loaded.items())


def test_resume_full_state_continues_exactly(tmp_path):
    """4 steps in one run == 2 steps, save the full state, resume for 2 more (same data order)."""
    config = toy_config(label_nc=3)
    data = SyntheticLabelDataset(4, size=32, num_labels=3, seed=2)
    kw = dict(config=config, batch_size=4, vgg_encoder=None, ndf=8, n_layers_D=2, num_D=1, progress=False,
              sample_every=None, lambda_feat=0.0, seed=0)

    class Fixed(torch.utils.data.Dataset):  # batch_size == len: every step sees the same batch
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return data.labels[i], data.images[i]

    straight = train_spade(Fixed(), steps=4, out_dir=tmp_path / "straight", **kw)
    train_spade(Fixed(), steps=2, out_dir=tmp_path / "split", save_full_state=True, **kw)
    resumed = train_spade(Fixed(), steps=2, out_dir=tmp_path / "split", resume=True, **kw)
    assert [h["step"] for h in resumed.history] == [3, 4]  # numbering goes on from the saved step
    assert read_train_state(tmp_path / "split" / "latest_train_state.pth")["step"] == 4
    for a, b in zip(straight.history[2:], resumed.history):
        assert a["G_GAN"] == pytest.approx(b["G_GAN"], rel=1e-4, abs=1e-6)
        assert a["D_real"] == pytest.approx(b["D_real"], rel=1e-4, abs=1e-6)
    # the renders agree to float rounding (the batch order differs, so sums differ in the last bits)
    seg = encode_labels(data.labels, config)
    with torch.no_grad():
        out_straight, out_resumed = straight.model.generator(seg), resumed.model.generator(seg)
    assert float((out_straight - out_resumed).abs().max()) < 1e-5
    # without the optimiser states the run differs (Adam restarts): the state really is used
    train_spade(Fixed(), steps=2, out_dir=tmp_path / "split2", save_full_state=True, **kw)
    (tmp_path / "split2" / "latest_train_state.pth").unlink()
    cold = train_spade(Fixed(), steps=2, out_dir=tmp_path / "split2", resume=True, **kw)
    with torch.no_grad():
        out_cold = cold.model.generator(seg)
    assert float((out_straight - out_cold).abs().max()) > 1e-4  # measured 2.5e-4 vs 9e-7 resumed


def test_resume_refuses_a_different_discriminator(tmp_path):
    config = toy_config(label_nc=3)
    data = SyntheticLabelDataset(4, size=32, num_labels=3, seed=2)
    kw = dict(config=config, batch_size=2, vgg_encoder=None, n_layers_D=2, num_D=1, progress=False,
              sample_every=None)
    train_spade(data, steps=1, out_dir=tmp_path / "run", ndf=8, save_full_state=True, **kw)
    with pytest.raises(ValueError) as info:
        train_spade(data, steps=1, out_dir=tmp_path / "run", ndf=4, resume=True, **kw)
    assert str(info.value) == (
        f"resume: expected the discriminator settings saved in '{tmp_path / 'run'}' (ndf=8, n_layers_D=2, num_D=1), "
        "got ndf=4, n_layers_D=2, num_D=1; pass the saved values to continue it."
    )
    (tmp_path / "run" / "latest_train_state.pth").unlink()
    with raises_exactly(ValueError, f"resume: expected '{tmp_path / 'run' / 'latest_net_D.pth'}' to fit a "
                        "discriminator with ndf=4, n_layers_D=2, num_D=1, got one of other shapes; pass the values "
                        "it was trained with."):
        train_spade(data, steps=1, out_dir=tmp_path / "run", ndf=4, resume=True, **kw)
    with raises_exactly(TypeError, "save_full_state: expected True, False or None, got 'yes' (str)."):
        train_spade(data, steps=1, out_dir=tmp_path / "other", ndf=4, save_full_state="yes", **kw)


def test_read_train_state_errors(tmp_path):
    with raises_exactly(FileNotFoundError, f"training state: expected a file written with save_full_state=True, got "
                        f"'{tmp_path / 'nope.pth'}', which does not exist; train with save_full_state=True to resume "
                        "exactly."):
        read_train_state(tmp_path / "nope.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot read .* the file is truncated or not a training state"):
        read_train_state(bad)
    torch.save({"w": torch.zeros(2)}, bad)
    with raises_exactly(ValueError, "training state: expected a training state written by photostyle.spade (with an "
                        f"'optimizers' entry), got a dict without one in '{bad}'; delete it to resume from the "
                        "networks alone."):
        read_train_state(bad)
