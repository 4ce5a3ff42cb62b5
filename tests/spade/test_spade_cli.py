"""`photostyle render` / `photostyle train-spade`, and the render → restyle pipeline."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
from PIL import Image

from _spade_helpers import toy_config
from tests._shared import raises_exactly
from photostyle.spade import SPADEGenerator, palette, render_and_restyle, save_checkpoint
from photostyle.spade.cli import add_subcommands


def _parser():
    parser = argparse.ArgumentParser(prog="photostyle")
    add_subcommands(parser.add_subparsers(dest="command"))
    return parser


def _toy_checkpoint(tmp_path, **changes):
    torch.manual_seed(0)
    g = SPADEGenerator(toy_config(**changes))
    return save_checkpoint(tmp_path / "model", generator=g), g


def _label_png(path, labels):
    Image.fromarray(labels.astype(np.uint8), mode="L").save(path)
    return path


def test_subcommands_set_handlers():
    parser = _parser()
    args = parser.parse_args(["render", "in.png", "-o", "out.png", "--checkpoint", "G.pth", "--preset", "coco"])
    assert callable(args.func) and args.preset == "coco" and args.device == "cpu"
    args = parser.parse_args(["train-spade", "data", "-o", "run", "--label-nc", "5", "--ngf", "8", "--vae"])
    assert callable(args.func) and args.label_nc == 5 and args.vae


def test_render_command(tmp_path):
    model_dir, _ = _toy_checkpoint(tmp_path)
    labels = np.zeros((32, 32), dtype=np.int64)
    labels[16:] = 3
    src = _label_png(tmp_path / "labels.png", labels)
    out = tmp_path / "out.png"
    args = _parser().parse_args(["render", str(src), "-o", str(out), "--checkpoint", str(model_dir)])
    assert args.func(args) == 0
    assert Image.open(out).size == (32, 32)
    with pytest.raises(FileExistsError, match="already exists"):
        args.func(args)
    bad = _label_png(tmp_path / "bad.png", labels + 10)
    args = _parser().parse_args(["render", str(bad), "-o", str(tmp_path / "b.png"), "--checkpoint", str(model_dir)])
    with pytest.raises(ValueError, match=r"^labels: expected ids in 0 … 3 \(preset 'toy', 4 classes\), got 10, "):
        args.func(args)
    args = _parser().parse_args(["render", str(src), "-o", str(tmp_path / "c.png"), "--checkpoint",
                                 str(model_dir), "--preset", "coco"])
    with pytest.raises(ValueError, match=r"^checkpoint: expected fc\.weight \[1024, 184, 3, 3\] for preset 'coco', "):
        args.func(args)
    args = _parser().parse_args(["render", str(src), "-o", str(tmp_path / "d.png"), "--checkpoint",
                                 str(model_dir), "--size", "64"])
    with raises_exactly(ValueError, "--size: expected with --reference (it applies to the restyle), got it alone; "
                        "add --reference PHOTO, or drop --size."):
        args.func(args)


def test_main_command_reports_bad_input_with_exit_code_2(tmp_path, capsys):
    cli = pytest.importorskip("photostyle.cli")
    junk = tmp_path / "latest_net_G.pth"
    junk.write_text("not a checkpoint")
    src = _label_png(tmp_path / "labels.png", np.zeros((8, 8)))
    code = cli.main(["render", str(src), "-o", str(tmp_path / "o.png"), "--checkpoint", str(junk)])
    assert code == 2
    assert "truncated or not a checkpoint" in capsys.readouterr().err


def test_train_command(tmp_path):
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    (data / "labels").mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(data / "images" / f"{i}.png")
        _label_png(data / "labels" / f"{i}.png", rng.integers(0, 3, (32, 32)))
    out = tmp_path / "run"
    args = _parser().parse_args(["train-spade", str(data), "-o", str(out), "--label-nc", "3", "--size", "32",
                                 "--ngf", "2", "--ndf", "4", "--steps", "2", "--batch-size", "2", "--no-vgg",
                                 "--quiet"])
    assert args.func(args) == 0
    # the generator alone by default; D and the optimisers only with --save-full-state
    assert sorted(p.name for p in out.iterdir()) == ["latest_net_G.pth", "samples", "spade_config.json"]
    with pytest.raises(FileExistsError, match="--resume / --overwrite"):
        args.func(args)
    full = _parser().parse_args(["train-spade", str(data), "-o", str(out), "--label-nc", "3", "--size", "32",
                                 "--ngf", "2", "--ndf", "4", "--steps", "2", "--batch-size", "2", "--no-vgg",
                                 "--quiet", "--overwrite", "--save-full-state"])
    assert full.save_full_state is True and args.save_full_state is None
    assert full.func(full) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "latest_net_D.pth", "latest_net_G.pth", "latest_train_state.pth", "samples", "spade_config.json"]
    # --resume of a full folder keeps the full state; --no-save-full-state drops it
    resume = _parser().parse_args(["train-spade", str(data), "-o", str(out), "--label-nc", "3", "--size", "32",
                                   "--ngf", "2", "--ndf", "4", "--steps", "1", "--batch-size", "2", "--no-vgg",
                                   "--quiet", "--resume"])
    assert resume.func(resume) == 0
    assert (out / "latest_train_state.pth").exists()
    slim = _parser().parse_args(["train-spade", str(data), "-o", str(out), "--label-nc", "3", "--size", "32",
                                 "--ngf", "2", "--ndf", "4", "--steps", "1", "--batch-size", "2", "--no-vgg",
                                 "--quiet", "--resume", "--no-save-full-state"])
    assert slim.save_full_state is False and slim.func(slim) == 0
    assert sorted(p.name for p in out.iterdir()) == ["latest_net_G.pth", "samples", "spade_config.json"]
    args = _parser().parse_args(["train-spade", str(data), "-o", str(out)])
    with raises_exactly(ValueError, "--label-nc: expected a number of classes (or --preset), got neither; give "
                        "--label-nc N (the classes of your label maps) or --preset."):
        args.func(args)


def test_render_and_restyle(tmp_path, shared_weights):
    """Label map → SPADE render → Deep Photo Style Transfer with the label map as the content mask."""
    transfer_mod = pytest.importorskip("photostyle.transfer", reason="photostyle.transfer is not there yet")
    assert callable(getattr(transfer_mod, "transfer", None))
    _, g = _toy_checkpoint(tmp_path)
    labels = np.zeros((32, 32), dtype=np.int64)
    labels[16:] = 1
    style = np.zeros((32, 32, 3), dtype=np.uint8)
    style[:16] = (200, 60, 40)
    style[16:] = (30, 90, 200)
    style_mask = labels.copy()
    result = render_and_restyle(labels, style, checkpoint=g, style_mask=style_mask, device="cpu",
                                transfer_kwargs={"preset": "lite", "size": 32, "num_steps": (3, 3),
                                                 "weights": shared_weights, "progress": False})
    assert result.image.size == (32, 32) and result.tensor.shape == (1, 3, 32, 32)
    assert result.rendered.tensor.shape == (1, 3, 32, 32)
    assert result.transfer.masks["style"].shape == (32, 32)
    assert np.array_equal(result.transfer.masks["content"], result.rendered.labels)
    with raises_exactly(ValueError, "transfer_kwargs: expected no content_mask (render_and_restyle sets the masks: "
                        "the rendered labels and its style_mask=), got one; drop it, and pass a style mask as "
                        "render_and_restyle's style_mask=."):
        render_and_restyle(labels, style, checkpoint=g, transfer_kwargs={"content_mask": labels})


def test_painted_landscape_labels_for_coco():
    labels = palette.landscape_bands((256, 256), [("sky-other", 0), ("clouds", 0.1), ("sky-other", 0.25),
                                                  ("mountain", 0.35), ("sea", 0.6), ("sand", 0.85)])
    assert set(np.unique(labels)) == {156, 105, 134, 154, 153}


def test_option_messages_name_the_option(tmp_path):
    """CLI messages name the option as typed: '--flag: expected …, got …; fix'."""
    render_args = ["render", "labels.png", "--checkpoint", "G.pth"]
    cases = [
        (render_args + ["-o", str(tmp_path / "a.png"), "--save-render", str(tmp_path / "r.png")],
         "--save-render: expected with --reference (without it the plain render is the output), got it alone; add "
         "--reference PHOTO, or drop --save-render."),
        (render_args + ["-o", str(tmp_path / "b.png"), "--reference-mask", "m.png"],
         "--reference-mask: expected with --reference (the photo whose look to take), got it alone; add --reference "
         "PHOTO, or drop --reference-mask."),
        (["train-spade", "data", "-o", str(tmp_path / "run"), "--label-nc", "3", "--aspect-ratio", "0"],
         "--aspect-ratio: expected a finite number > 0, got 0.0; pass e.g. --aspect-ratio 2 (twice as wide as high)."),
    ]
    for argv, message in cases:
        args = _parser().parse_args(argv)
        with raises_exactly(ValueError, message):
            args.func(args)
