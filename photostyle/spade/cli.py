"""``photostyle render`` and ``photostyle train-spade``, added to the main command by its parser.

Handlers return an exit code; bad input raises ValueError / FileNotFoundError / TypeError with a
one-line message, which ``photostyle.cli.main`` reports with exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .._cli_args import positive_int as _pos_int
from .._cli_args import steps as _steps
from .config import PRESETS

__all__ = ["add_subcommands", "run_render", "run_train"]


def add_subcommands(subparsers) -> None:
    """Add ``render`` and ``train-spade`` to an argparse subparsers object (each sets ``func=``)."""
    p = subparsers.add_parser(
        "render",
        help="render a photo from a label map with a SPADE generator (optionally restyle it)",
        description="Render a photo from a label map with a SPADE generator (NVlabs/SPADE latest_net_G.pth "
                    "or one trained with train-spade; photostyle never downloads the official files). "
                    "With --reference, restyle the render with Deep Photo Style Transfer, the label map "
                    "serving as the content mask.",
    )
    p.add_argument("labels", help="label map: PNG of class ids ('P' or grey), or colours of the preset's palette")
    p.add_argument("-o", "--output", required=True, help="output image path (.png, .jpg, .tif)")
    p.add_argument("--checkpoint", required=True,
                   help="latest_net_G.pth of a SPADE model, or the folder train-spade wrote")
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="coco, ade20k or cityscapes (default: recognised from the checkpoint)")
    p.add_argument("--instances", default=None, help="instance-id map for the edge channel (default: label edges)")
    p.add_argument("--style-image", default=None, help="example photo for the style code (VAE models only)")
    p.add_argument("--seed", type=int, default=0, help="seed of the style code of VAE models (default 0)")
    p.add_argument("--device", default="cpu", help="cpu (default), auto, cuda or cuda:N")
    p.add_argument("--reference", default=None, help="reference photo: restyle the render to its look")
    p.add_argument("--reference-mask", default=None,
                   help="label map of the reference (same ids as LABELS); without it the restyle is unmasked")
    p.add_argument("--transfer-preset", choices=["paper", "lite"], default="lite",
                   help="transfer preset for --reference (default lite)")
    p.add_argument("--size", type=_pos_int, default=None, help="long side of the restyle (default: the render's)")
    p.add_argument("--steps", type=_steps, default=None, metavar="N[,N2]",
                   help="L-BFGS iterations per restyle stage (default: the transfer preset's)")
    p.add_argument("--weights", default=None, help="VGG-19 weights for the restyle")
    p.add_argument("--save-render", default=None, help="with --reference: also write the plain render here")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_render)

    t = subparsers.add_parser(
        "train-spade",
        help="train a SPADE generator on a folder of (photo, label map) pairs",
        description="Train a SPADE generator (hinge GAN, feature matching, VGG loss, optional VAE encoder; "
                    "TTUR Adam) on DATA/images + DATA/labels (matching names). Writes latest_net_G.pth "
                    "(latest_net_E.pth with --vae), spade_config.json and samples/ into OUT; with "
                    "--save-full-state also latest_net_D.pth and latest_train_state.pth (optimisers), "
                    "which --resume needs to continue exactly. On a CPU a step takes seconds to tens of "
                    "seconds (ngf 64); train on a GPU (--device cuda).",
    )
    t.add_argument("data", help="folder with images/ and labels/ (or train_img/ and train_label/)")
    t.add_argument("-o", "--output", required=True, help="output folder for checkpoints and samples")
    t.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="start from a preset's label set and size (default: --label-nc and --size)")
    t.add_argument("--label-nc", type=_pos_int, default=None, help="number of classes (ids 0..N-1)")
    t.add_argument("--dontcare", action="store_true", help="label value 255 is 'dontcare'")
    t.add_argument("--instances", action="store_true", help="add the edge channel (instances/ or label edges)")
    t.add_argument("--size", type=_pos_int, default=None, help="output width in pixels (default 256)")
    t.add_argument("--aspect-ratio", type=float, default=None, help="width / height (default 1)")
    t.add_argument("--upsampling", choices=["normal", "more", "most"], default=None,
                   help="number of upsamplings (default normal; more for 512-wide)")
    t.add_argument("--ngf", type=_pos_int, default=64, help="generator width (default 64)")
    t.add_argument("--vae", action="store_true", help="train the image encoder for style-guided rendering")
    t.add_argument("--steps", type=_pos_int, default=10000, help="generator updates (default 10000)")
    t.add_argument("--batch-size", type=_pos_int, default=4, help="pairs per step (default 4, at least 2)")
    t.add_argument("--lr-g", type=float, default=1e-4, help="generator learning rate (default 1e-4)")
    t.add_argument("--lr-d", type=float, default=4e-4, help="discriminator learning rate (default 4e-4)")
    t.add_argument("--ndf", type=_pos_int, default=64, help="discriminator width (default 64)")
    t.add_argument("--vgg-weights", default=None,
                   help="VGG-19 weights for the perceptual loss (default: $PHOTOSTYLE_VGG_WEIGHTS or download)")
    t.add_argument("--no-vgg", action="store_true", help="train without the VGG perceptual loss")
    t.add_argument("--sample-every", type=_pos_int, default=500, help="write a sample sheet every N steps")
    t.add_argument("--save-every", type=_pos_int, default=1000, help="write checkpoints every N steps")
    t.add_argument("--resume", action="store_true", help="continue from the checkpoints in OUT")
    t.add_argument("--overwrite", action="store_true", help="start afresh, replacing checkpoints in OUT")
    t.add_argument("--save-full-state", action=argparse.BooleanOptionalAction, default=None,
                   help="also save the discriminator and optimiser states (about 3x the generator's size "
                        "again) so that --resume continues exactly; default: the generator alone, except "
                        "when resuming a folder that holds them")
    t.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    t.add_argument("--device", default="cpu", help="cpu (default), auto, cuda or cuda:N")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=run_train)


def run_render(args) -> int:
    from ..image import check_output_path, save_image
    from .checkpoint import load_model
    from .render import render, render_and_restyle, resolve_device

    out = Path(args.output)
    check_output_path(out, overwrite=args.overwrite)
    if args.save_render:
        if not args.reference:
            raise ValueError("--save-render: expected with --reference (without it the plain render is the "
                             "output), got it alone; add --reference PHOTO, or drop --save-render.")
        check_output_path(args.save_render, overwrite=args.overwrite)
    if args.reference_mask and not args.reference:
        raise ValueError("--reference-mask: expected with --reference (the photo whose look to take), got it "
                         "alone; add --reference PHOTO, or drop --reference-mask.")
    for flag, value in (("--size", args.size), ("--steps", args.steps), ("--weights", args.weights)):
        if value is not None and not args.reference:
            raise ValueError(f"{flag}: expected with --reference (it applies to the restyle), got it alone; add "
                             f"--reference PHOTO, or drop {flag}.")
    device = resolve_device(args.device)
    model = load_model(args.checkpoint, preset=args.preset, device=device)
    if args.reference:
        kwargs = {"preset": args.transfer_preset, "progress": not args.quiet}
        for key, value in (("size", args.size), ("num_steps", args.steps), ("weights", args.weights)):
            if value is not None:
                kwargs[key] = value
        if args.size is None:
            kwargs["size"] = max(model.config.image_size)
        result = render_and_restyle(args.labels, args.reference, checkpoint=model, style_mask=args.reference_mask,
                                    style_image=args.style_image, instances=args.instances, seed=args.seed,
                                    device=device, transfer_kwargs=kwargs)
        if args.save_render:
            save_image(result.rendered.image, args.save_render, overwrite=args.overwrite)
        image = result.image
    else:
        result = render(args.labels, checkpoint=model, style_image=args.style_image, instances=args.instances,
                        seed=args.seed, device=device)
        image = result.image
    save_image(image, out, overwrite=args.overwrite)
    print(f"wrote {out} ({image.width}x{image.height}, preset {model.config.preset})")
    return 0


def run_train(args) -> int:
    from .config import SPADEConfig, get_config
    from .train import train_spade

    if args.preset is not None:
        overrides = {}
        if args.label_nc is not None:
            overrides["label_nc"] = args.label_nc
        config = get_config(args.preset, **overrides)
    else:
        if args.label_nc is None:
            raise ValueError("--label-nc: expected a number of classes (or --preset), got neither; give "
                             "--label-nc N (the classes of your label maps) or --preset.")
        config = SPADEConfig(preset="custom", label_nc=args.label_nc, contain_dontcare=args.dontcare,
                             no_instance=not args.instances)
    changes = {"ngf": args.ngf, "use_vae": args.vae}
    if args.size is not None:
        changes["crop_size"] = args.size
    if args.aspect_ratio is not None:
        if not 0 < args.aspect_ratio < float("inf"):
            raise ValueError(f"--aspect-ratio: expected a finite number > 0, got {args.aspect_ratio}; pass e.g. "
                             "--aspect-ratio 2 (twice as wide as high).")
        changes["aspect_ratio"] = args.aspect_ratio
    if args.upsampling is not None:
        changes["num_upsampling_layers"] = args.upsampling
    config = config.replace(**changes)
    out = Path(args.output)
    result = train_spade(
        args.data, config=config, steps=args.steps, batch_size=args.batch_size, out_dir=out,
        lr_g=args.lr_g, lr_d=args.lr_d, vgg_encoder=None if args.no_vgg else "auto", vgg_weights=args.vgg_weights,
        ndf=args.ndf, sample_every=args.sample_every, save_every=args.save_every, resume=args.resume,
        overwrite=args.overwrite, save_full_state=args.save_full_state, seed=args.seed, device=args.device,
        progress=not args.quiet,
    )
    print(f"trained {len(result.history)} steps in {result.seconds:.1f}s; checkpoints in {out}", file=sys.stdout)
    return 0
