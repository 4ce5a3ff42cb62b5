"""Helpers for the SPADE tests: the official checkpoint layout, written out from the published facts
(independently of photostyle.spade's modules), and tiny configurations."""

from __future__ import annotations

from photostyle.spade import SPADEConfig

# Input channels of the official generators (classes + dontcare + instance edges).
OFFICIAL_SEMANTIC_NC = {"coco": 182 + 1 + 1, "ade20k": 150 + 1, "cityscapes": 35 + 1}
OFFICIAL_PARAMS = {"coco": 97_480_899, "ade20k": 96_492_483, "cityscapes": 93_048_003}


def _spade_norm(prefix: str, c: int, snc: int, hidden: int = 128) -> dict[str, tuple[int, ...]]:
    return {
        f"{prefix}.param_free_norm.running_mean": (c,),
        f"{prefix}.param_free_norm.running_var": (c,),
        f"{prefix}.param_free_norm.num_batches_tracked": (),
        f"{prefix}.mlp_shared.0.weight": (hidden, snc, 3, 3),
        f"{prefix}.mlp_shared.0.bias": (hidden,),
        f"{prefix}.mlp_gamma.weight": (c, hidden, 3, 3),
        f"{prefix}.mlp_gamma.bias": (c,),
        f"{prefix}.mlp_beta.weight": (c, hidden, 3, 3),
        f"{prefix}.mlp_beta.bias": (c,),
    }


def _sn_conv(prefix: str, cout: int, cin: int, k: int, bias: bool = True) -> dict[str, tuple[int, ...]]:
    out = {f"{prefix}.weight_orig": (cout, cin, k, k), f"{prefix}.weight_u": (cout,),
           f"{prefix}.weight_v": (cin * k * k,)}
    if bias:
        out[f"{prefix}.bias"] = (cout,)
    return out


def official_layout(semantic_nc: int, *, ngf: int = 64, most: bool = False) -> dict[str, tuple[int, ...]]:
    """{key: shape} of an NVlabs/SPADE latest_net_G.pth (no VAE)."""
    nf = ngf
    layout: dict[str, tuple[int, ...]] = {"fc.weight": (16 * nf, semantic_nc, 3, 3), "fc.bias": (16 * nf,)}
    blocks = [("head_0", 16 * nf, 16 * nf), ("G_middle_0", 16 * nf, 16 * nf), ("G_middle_1", 16 * nf, 16 * nf),
              ("up_0", 16 * nf, 8 * nf), ("up_1", 8 * nf, 4 * nf), ("up_2", 4 * nf, 2 * nf), ("up_3", 2 * nf, nf)]
    if most:
        blocks.append(("up_4", nf, nf // 2))
    for name, fin, fout in blocks:
        mid = min(fin, fout)
        layout.update(_sn_conv(f"{name}.conv_0", mid, fin, 3))
        layout.update(_sn_conv(f"{name}.conv_1", fout, mid, 3))
        layout.update(_spade_norm(f"{name}.norm_0", fin, semantic_nc))
        layout.update(_spade_norm(f"{name}.norm_1", mid, semantic_nc))
        if fin != fout:
            layout.update(_sn_conv(f"{name}.conv_s", fout, fin, 1, bias=False))
            layout.update(_spade_norm(f"{name}.norm_s", fin, semantic_nc))
    final = nf // 2 if most else nf
    layout["conv_img.weight"] = (3, final, 3, 3)
    layout["conv_img.bias"] = (3,)
    return layout


def toy_config(**changes) -> SPADEConfig:
    """A tiny 32x32 model: 4 labels, no dontcare, no instances, ngf 4."""
    base = SPADEConfig(preset="toy", label_nc=4, contain_dontcare=False, no_instance=True, crop_size=32,
                       ngf=4, spade_hidden=16)
    return base.replace(**changes) if changes else base
