"""The `photostyle` command: exit codes 0 / 2 / 1, one-line errors, no overwriting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photostyle import __version__
from photostyle.cli import main

from ._shared import dpst_pair


@pytest.fixture()
def small_files(tmp_path):
    """A small real pair and its masks written as PNGs (64 px long side)."""
    paths = dpst_pair(9)
    out = {}
    for key, path in paths.items():
        im = Image.open(path).convert("RGB")
        im = im.resize((64, round(64 * im.height / im.width)), Image.NEAREST if "mask" in key else Image.LANCZOS)
        out[key] = tmp_path / f"{key}.png"
        im.save(out[key])
    return out


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"photostyle {__version__}"
    with pytest.raises(SystemExit) as exc:
        main(["transfer", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--content-mask", "--style-mask", "--size", "--preset", "--steps", "--device", "--weights",
                 "--seed", "--overwrite"):
        assert flag in out


def test_entry_point_runs_as_a_module():
    proc = subprocess.run([sys.executable, "-m", "photostyle.cli", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == f"photostyle {__version__}"


def test_bad_usage_is_exit_2_one_line(capsys, tmp_path):
    code, _, err = _run(["transfer", "a.png"], capsys)
    assert code == 2 and "the following arguments are required" in err and "Traceback" not in err
    code, _, err = _run(["transfer", tmp_path / "missing.png", tmp_path / "missing2.png", "-o", tmp_path / "o.png",
                         "--weights", tmp_path / "w.pth"], capsys)
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("photostyle: error:")
    assert "Traceback" not in err
    code, _, err = _run(["transfer", "a", "b", "-o", "c.png", "--steps", "x"], capsys)
    assert code == 2 and "expected a whole number" in err
    code, _, err = _run([], capsys)
    assert code == 2


def test_transfer_writes_output_and_refuses_to_overwrite(small_files, shared_weights, tmp_path, capsys):
    out = tmp_path / "result.png"
    argv = ["transfer", small_files["content"], small_files["style"], "-o", out,
            "--content-mask", small_files["content_mask"], "--style-mask", small_files["style_mask"],
            "--preset", "lite", "--size", "48", "--steps", "3,2", "--weights", shared_weights, "--quiet",
            "--device", "cpu", "--save-stages"]
    code, out_text, err = _run(argv, capsys)
    assert code == 0, err
    assert f"wrote {out}" in out_text
    img = np.asarray(Image.open(out))
    h, w = Image.open(small_files["content"]).size[::-1]
    assert img.shape == (h, w, 3)  # optimised at 48 px, delivered at the photo's own size
    assert "preset lite on the normalised VGG-19 in float32 (content 1000, style 1e+08, tv 1, photo 5000)" in out_text
    assert (tmp_path / "result_stage1.png").exists() and (tmp_path / "result_stage2.png").exists()
    before = out.read_bytes()

    code, _, err = _run(argv, capsys)
    assert code == 2
    assert "already exists; pass overwrite=True (CLI: --overwrite)" in err
    assert out.read_bytes() == before

    code, _, err = _run(argv + ["--overwrite", "--output-size", "work"], capsys)
    assert code == 0, err
    assert np.asarray(Image.open(out)).shape == (round(h * 48 / w), 48, 3)
    code, _, err = _run(argv + ["--overwrite", "--output-size", "big"], capsys)
    assert code == 2 and "--output-size: expected full, work or a whole number >= 1, got 'big'" in err


def test_save_masks_writes_the_masks_used_at_the_photos_sizes_and_they_read_back(small_files, shared_weights,
                                                                                  tmp_path, capsys):
    """--save-masks: the automatic masks as palette PNGs beside the output, which a second run takes as
    --content-mask / --style-mask (a user edits them in between)."""
    from photostyle.image import to_numpy, to_tensor
    from photostyle.segmentation import auto_segment, load_label_map

    out = tmp_path / "r.png"
    base = [small_files["content"], small_files["style"], "--preset", "lite", "--size", "48", "--steps", "2,1",
            "--weights", shared_weights, "--quiet", "--device", "cpu"]
    argv = ["transfer", *base, "-o", out, "--auto-masks", "2", "--auto-method", "cluster", "--save-masks"]
    code, text, err = _run(argv, capsys)
    assert code == 0, err
    saved = {side: tmp_path / f"r_{side}_mask.png" for side in ("content", "style")}
    assert f"wrote {saved['content']}" in text and f"wrote {saved['style']}" in text
    photos = {side: to_numpy(to_tensor(small_files[side])) for side in ("content", "style")}
    made = auto_segment(photos["content"], photos["style"], k=2, method="cluster")  # what the run made, at 64 px
    for side, path in saved.items():
        labels = load_label_map(path)
        photo = Image.open(small_files[side])
        assert labels.shape == (photo.height, photo.width)
        assert set(np.unique(labels)) == {0, 1}  # two matched regions, on both sides
        # the masks as made (not the 48-px working-size copy brought back up)
        assert np.array_equal(labels, getattr(made, f"{side}_labels"))
        assert Image.open(path).mode == "P"  # coloured with the DPST palette: any viewer shows the regions
    before = {side: path.read_bytes() for side, path in saved.items()}
    code, _, err = _run(argv, capsys)  # the output and the masks exist: refused before any work
    assert code == 2 and "already exists" in err
    assert {side: path.read_bytes() for side, path in saved.items()} == before
    again = ["transfer", *base, "-o", tmp_path / "again.png", "--content-mask", saved["content"],
             "--style-mask", saved["style"]]
    code, _, err = _run(again, capsys)
    assert code == 0, err
    assert "resizing the mask" not in err  # saved at the photos' own sizes
    code, _, err = _run(["transfer", *base, "-o", tmp_path / "none.png", "--save-masks"], capsys)
    assert code == 2
    assert err.strip() == ("photostyle: error: --save-masks writes the masks the transfer uses, but it has none: add "
                           "--auto-masks 0 (automatic masks) or --content-mask and --style-mask.")
    assert not (tmp_path / "none.png").exists()


def test_a_photo_stored_turned_with_an_exif_orientation_gives_the_upright_result(small_files, shared_weights,
                                                                                  tmp_path, capsys):
    """A phone stores a portrait photo turned, with an EXIF orientation. The transfer reads it upright: the
    masks drawn on the upright photo fit it (no aspect-ratio refusal), and the result and the saved masks
    are the upright run's, pixel for pixel."""
    upright = np.asarray(Image.open(small_files["content"]))
    turned = tmp_path / "turned.png"
    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = 6, "TestCam"  # a quarter turn clockwise to view; a camera's make
    Image.fromarray(np.ascontiguousarray(np.rot90(upright, 1))).save(turned, exif=exif)
    base = [small_files["style"], "--preset", "lite", "--size", "48", "--steps", "2,1", "--weights", shared_weights,
            "--quiet", "--device", "cpu", "--content-mask", small_files["content_mask"],
            "--style-mask", small_files["style_mask"], "--save-masks"]
    runs = {}
    for name, content in (("upright", small_files["content"]), ("turned", turned)):
        out = tmp_path / f"{name}_out.png"
        code, _, err = _run(["transfer", content, *base, "-o", out], capsys)
        assert code == 0, err
        runs[name] = [np.asarray(Image.open(p)) for p in (out, tmp_path / f"{name}_out_content_mask.png")]
    assert runs["turned"][0].shape == upright.shape
    for made, reference in zip(runs["turned"], runs["upright"]):
        assert np.array_equal(made, reference)
    with Image.open(tmp_path / "turned_out.png") as im:  # the photo's EXIF, without the orientation
        assert im.getexif()[0x010F] == "TestCam" and 0x0112 not in im.getexif()
    bare = tmp_path / "bare.png"
    code, _, err = _run(["transfer", turned, *base[:-1], "-o", bare, "--no-metadata"], capsys)
    assert code == 0, err
    with Image.open(bare) as im:
        assert not len(im.getexif())


def test_a_16bit_photo_gives_a_16bit_result_unless_asked_for_8(small_files, shared_weights, tmp_path, capsys):
    """--bits auto (default): a 16-bit colour TIFF or PNG written as TIFF or PNG keeps 16 bits: the result, a local
    affine function of the photo's own 16-bit values, has far more than 256 levels in a channel."""
    tifffile = pytest.importorskip("tifffile")
    photo = np.asarray(Image.open(small_files["content"]).convert("RGB")).astype(np.float64)
    ramp = np.linspace(0, 255, photo.shape[1])[None, :, None]  # a fine gradient across it
    deep = np.clip((0.8 * photo + 0.2 * ramp) * 257, 0, 65535).astype(np.uint16)
    content = tmp_path / "deep.tif"
    tifffile.imwrite(content, deep, photometric="rgb")
    base = [content, small_files["style"], "--preset", "lite", "--size", "48", "--steps", "2,1",
            "--weights", shared_weights, "--quiet", "--device", "cpu"]
    made = {}
    for name, extra in (("auto", []), ("eight", ["--bits", "8"])):
        out = tmp_path / f"{name}.tif"
        code, _, err = _run(["transfer", *base, "-o", out, *extra], capsys)
        assert code == 0, err
        made[name] = tifffile.imread(out)
    assert made["auto"].dtype == np.uint16 and made["auto"].shape == deep.shape
    assert len(np.unique(made["auto"][..., 1])) > 512  # 821 of 2,752 pixels when measured; 8 bits hold 256
    assert made["eight"].dtype == np.uint8
    assert np.abs(made["auto"].astype(np.float64) / 257 - made["eight"]).max() <= 1  # the same result
    # the same photo as a 16-bit PNG (photostyle._png16 reads it): the same 16-bit result, as PNG too
    from photostyle import read_image
    from photostyle._deep import write_png16

    write_png16(tmp_path / "deep.png", deep, None)
    code, _, err = _run(["transfer", tmp_path / "deep.png", *base[1:], "-o", tmp_path / "from_png.png"], capsys)
    assert code == 0, err
    assert np.array_equal(read_image(tmp_path / "from_png.png"), made["auto"])
    code, _, err = _run(["transfer", *base, "-o", tmp_path / "deep.jpg", "--bits", "16"], capsys)
    assert code == 2 and not (tmp_path / "deep.jpg").exists()
    assert err.strip() == ("photostyle: error: output '" + str(tmp_path / "deep.jpg") + "': 16 bits per channel are "
                           "written as PNG or TIFF, not '.jpg'; name it e.g. 'deep.tif', or write 8 bits.")


def test_saved_masks_of_many_regions_stay_coloured_and_read_back(tmp_path, capsys):
    """Past the DPST palette's nine ids the saved masks take further well separated colours, still a
    palette PNG that reads back to the same ids."""
    from types import SimpleNamespace

    from photostyle.cli import _save_masks
    from photostyle.segmentation import DPST_PALETTE, load_label_map

    labels = np.arange(12 * 4).reshape(12, 4) // 4  # ids 0..11
    photo = tmp_path / "photo.png"
    Image.fromarray(np.zeros((24, 8, 3), np.uint8)).save(photo)  # twice the labels' size
    result = SimpleNamespace(masks_native={"content": labels, "style": labels[::-1]})
    paths = {"content": tmp_path / "c.png", "style": tmp_path / "s.png"}
    _save_masks(result, paths, {"content": photo, "style": photo}, overwrite=False)
    assert capsys.readouterr().out.splitlines() == [f"wrote {paths['content']}", f"wrote {paths['style']}"]
    back = load_label_map(paths["content"])
    assert back.shape == (24, 8) and np.array_equal(back[::2, ::2], labels)
    with Image.open(paths["content"]) as im:
        assert im.mode == "P"
        colours = np.asarray(im.getpalette()[:36]).reshape(12, 3)
    assert np.array_equal(colours[:9], DPST_PALETTE.colors) and len({tuple(c) for c in colours}) == 12


def test_unwritable_or_missing_output_directory(small_files, shared_weights, tmp_path, capsys):
    argv = ["transfer", small_files["content"], small_files["style"], "-o", tmp_path / "no" / "such" / "dir.png",
            "--preset", "lite", "--weights", shared_weights, "--quiet"]
    code, _, err = _run(argv, capsys)
    assert code == 2 and "does not exist; create it first" in err


def test_absent_device_exit_2(small_files, shared_weights, tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    argv = ["transfer", small_files["content"], small_files["style"], "-o", tmp_path / "o.png",
            "--preset", "lite", "--size", "32", "--steps", "1", "--weights", shared_weights, "--device", "cuda",
            "--quiet"]
    code, _, err = _run(argv, capsys)
    assert code == 2 and "'cuda' was requested but no CUDA device is available" in err
    assert not (tmp_path / "o.png").exists()


def test_unexpected_failure_is_exit_1(small_files, shared_weights, tmp_path, capsys, monkeypatch):
    transfer_module = sys.modules["photostyle.transfer"]  # the module, not the function of that name

    def boom(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(transfer_module, "transfer", boom)
    argv = ["transfer", small_files["content"], small_files["style"], "-o", tmp_path / "o.png", "--quiet"]
    code, _, err = _run(argv, capsys)
    assert code == 1 and err.strip() == "photostyle: failed: RuntimeError: out of memory"


def test_auto_masks_flag(small_files, shared_weights, tmp_path, capsys):
    out = tmp_path / "auto.png"
    base = ["transfer", small_files["content"], small_files["style"], "-o", out, "--preset", "lite",
            "--size", "40", "--steps", "2,1", "--weights", shared_weights, "--quiet"]
    code, _, err = _run(base + ["--auto-masks", "2"], capsys)
    assert code == 0, err
    assert out.exists()
    code, _, err = _run(base + ["--auto-masks", "2", "--content-mask", small_files["content_mask"], "--overwrite"], capsys)
    assert code == 2 and "--auto-masks replaces --content-mask/--style-mask" in err


@pytest.mark.parametrize("name", ["result", "out.xyz"])
def test_a_bad_output_suffix_is_refused_before_any_work(small_files, tmp_path, capsys, name):
    # the weights file does not exist: had any work started, that would be the error
    argv = ["transfer", small_files["content"], small_files["style"], "-o", tmp_path / name,
            "--weights", tmp_path / "absent.pth", "--quiet"]
    code, _, err = _run(argv, capsys)
    assert code == 2
    assert ("unknown image suffix" in err) or ("got no suffix; add one" in err), err
    assert ".png" in err and "absent.pth" not in err
    assert not (tmp_path / name).exists()


def test_one_bound_per_option(small_files, tmp_path, capsys):
    messages = set()
    for value in ("0", "-5"):
        code, _, err = _run(["transfer", small_files["content"], small_files["style"], "-o", tmp_path / "o.png",
                             "--work-size", value], capsys)
        assert code == 2
        messages.add(err.strip().splitlines()[-1].split(", got")[0])
    assert messages == {"photostyle: error: argument --work-size/--size: expected a whole number >= 1"}


@pytest.mark.parametrize("kind", ["photo", "random bytes", "truncated"])
def test_weights_that_are_not_weights_exit_2_without_cache_advice(small_files, tmp_path, capsys, kind):
    bad = tmp_path / "w.pth"
    if kind == "photo":
        bad.write_bytes(Path(small_files["content"]).read_bytes())
    elif kind == "random bytes":
        bad.write_bytes(bytes(range(256)) * 8)
    else:
        import torch

        torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, bad)
        bad.write_bytes(bad.read_bytes()[:200])
    code, _, err = _run(["transfer", small_files["content"], small_files["style"], "-o", tmp_path / "o.png",
                         "--weights", bad, "--quiet", "--work-size", "32"], capsys)
    assert code == 2, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("photostyle: error:") and str(bad) in line
    assert "cached" not in line and "Pass a VGG-19 weights file (.pth)" in line


def test_messages_speak_cli(tmp_path, capsys):
    rng = np.random.default_rng(0)
    photo = tmp_path / "p.png"
    Image.fromarray((rng.random((40, 40, 3)) * 255).astype(np.uint8)).save(photo)
    mask = np.zeros((40, 40, 3), np.uint8)
    mask[:, :20] = (0, 0, 255)
    mask[:, 20:] = (30, 200, 90)  # not a palette colour
    Image.fromarray(mask).save(tmp_path / "m.png")
    code, _, err = _run(["transfer", photo, photo, "-o", tmp_path / "o.png", "--content-mask", tmp_path / "m.png",
                         "--style-mask", tmp_path / "m.png", "--quiet", "--work-size", "32"], capsys)
    assert code == 2 and "From the command line: paint the mask with the nine DPST colours" in err
    assert "Palette.from_dict" not in err
    code, out, err = _run(["transfer", photo, photo, "-o", tmp_path / "o.png", "--quiet", "--steps", "0",
                           "--work-size", "32"], capsys)
    assert code == 0
    assert "no optimisation ran, the result is the content photo (post-processed); give --steps N with N > 0" in err
    assert "no optimisation, total" in out
