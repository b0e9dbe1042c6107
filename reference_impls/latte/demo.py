"""Latte demo: masks behind factorised attention, what one block can see, and cost versus frame count."""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from reference_impls.demo_io import DemoResult, Figure, Metric, main, progress, save_svg
from reference_impls.latte.model import (
    Config,
    backbone_attention_macs,
    block_kinds,
    condition,
    embed_patches,
    frame_mask,
    full_attention,
    init_params,
    spatial_attention,
    split_head_attention,
    temporal_attention,
    token_dependency,
)

SEED = 0
# Knobs a reader may change (digest serve's Run box, the notebook, --seed etc.): allowed ranges.
KNOBS = {"SEED": {"min": 0, "max": 9999, "en": "random seed", "zh": "随机种子"}}
# Latte-XL/2 on 256 x 256 video: the VAE gives a 32 x 32 x 4 latent, patch 2 -> 16 x 16 = 256 tokens per frame.
XL = {"t": 256, "d": 1152, "depth": 28}
FRAMES = [2, 4, 8, 16, 32, 64, 128]


def mask_equivalence(rng, n_f=4, t=9, d=16, heads=4):
    """Max |factorised - masked full attention| for spatial, temporal and split-head attention."""
    z = rng.normal(size=(n_f, t, d))
    p = {"qkv": rng.normal(0, d**-0.5, (d, 3 * d)), "o": rng.normal(0, d**-0.5, (d, d))}
    m_s, m_t = frame_mask(n_f, t, "spatial"), frame_mask(n_f, t, "temporal")
    per_head = np.stack([m_s] * (heads // 2) + [m_t] * (heads // 2))
    diffs = {"spatial": np.abs(spatial_attention(z, p, heads) - full_attention(z, p, heads, m_s)).max(),
             "temporal": np.abs(temporal_attention(z, p, heads) - full_attention(z, p, heads, m_t)).max(),
             "split": np.abs(split_head_attention(z, p, heads) - full_attention(z, p, heads, per_head)).max()}
    return diffs, m_s, m_t


def fig_masks(out_dir: Path, diffs, m_s, m_t) -> Figure:
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.3))
    panels = [(m_s, f"spatial mask M_s\nmax |diff| = {diffs['spatial']:.1e}"),
              (m_t, f"temporal mask M_t\nmax |diff| = {diffs['temporal']:.1e}"),
              (m_s | m_t, f"Variant 4 (M_s or M_t)\nmax |diff| = {diffs['split']:.1e}")]
    for ax, (m, title) in zip(axes, panels):
        ax.imshow(m, cmap="Greys", interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("key token (frame-major)")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].set_ylabel("query token")
    fig.tight_layout()
    return Figure(file=save_svg(fig, out_dir, "masks.svg"),
                  caption_en="Factorised attention is full attention under a block mask. Tokens are numbered "
                             "frame by frame (4 frames x 9 patches); black = allowed pair. The titles give the "
                             "largest difference between the factorised code path and masked full attention.",
                  caption_zh="分解注意力等价于带块状掩码的全注意力。token 按帧依次编号(4 帧 × 9 个 patch),"
                             "黑色表示允许相互注意的位置对;子图标题给出分解实现与带掩码全注意力之间的最大差值。",
                  function="reference_impls.latte.demo.fig_masks", seed=SEED,
                  params={"n_f": 4, "t": 9, "d": 16, "heads": 4})


def dependency_maps(rng):
    """Which outputs one block (or block pair) lets a single input token reach."""
    cfg = Config(frames=4, height=6, width=6, dim=16, depth=2, variant=3)  # n_f = 4, t = 9
    cases = [("spatial block", ["spatial"], 1), ("temporal block", ["temporal"], 1),
             ("Variant 4 block", ["split"], 4), ("Variant 3 block", ["factorised"], 3),
             ("Variant 1 pair", block_kinds(1, 2), 1)]
    z = rng.normal(size=(cfg.n_f, cfg.t, cfg.dim))
    maps = []
    for name, kinds, variant in cases:
        c_v = Config(frames=4, height=6, width=6, dim=16, depth=2, variant=variant)
        params = init_params(c_v, rng)
        maps.append((name, token_dependency(kinds, params, condition(3.0, 0, params, 16), z, (1, 4), c_v)))
    return maps


def fig_receptive_field(out_dir: Path, maps) -> Figure:
    fig, axes = plt.subplots(1, len(maps), figsize=(11, 2.6))
    for ax, (name, m) in zip(axes, maps):
        ax.imshow(m, cmap="Blues", vmin=0, vmax=1.3, interpolation="nearest")
        ax.scatter([4], [1], marker="x", color="crimson")
        ax.set_title(f"{name}\nreach {m.mean():.0%}", fontsize=9)
        ax.set_xlabel("patch position")
        ax.set_xticks(range(9))
        ax.set_yticks(range(4))
    axes[0].set_ylabel("frame")
    fig.tight_layout()
    return Figure(file=save_svg(fig, out_dir, "receptive_field.svg"),
                  caption_en="Outputs that change when one input token (red cross) is nudged, measured on random "
                             "weights. A spatial block stays in its frame and a temporal block at its patch "
                             "position; a Variant-4 block reaches the cross of both; a Variant-3 block, or a "
                             "Variant-1 spatial/temporal pair, reaches every token.",
                  caption_zh="扰动一个输入 token(红叉)后哪些输出发生变化(随机权重实测)。空间块只影响同一帧,"
                             "时间块只影响同一 patch 位置;变体 4 的一个块覆盖两者的“十字”区域;"
                             "变体 3 的一个块或变体 1 的一对空间/时间块则覆盖全部 token。",
                  function="reference_impls.latte.demo.fig_receptive_field", seed=SEED,
                  params={"n_f": 4, "t": 9, "d": 16, "source_token": [1, 4]})


def cost_curves():
    """Token counts and attention-mixing MACs (QK^T + AV) at Latte-XL/2 scale, versus frame count."""
    tokens = {"uniform": [], "compression": []}
    for F in FRAMES:  # count tokens by actually embedding a zero latent of the right shape
        for name, s in (("uniform", 1), ("compression", 2)):
            cfg = Config(frames=F, height=32, width=32, channels=4, patch=2, tubelet=s, dim=4)
            tokens[name].append(embed_patches(np.zeros((F, 32, 32, 4)), np.zeros((s * 16, 4)), cfg).size // 4)
    mix = {v: [backbone_attention_macs(v, F, XL["t"], XL["d"], XL["depth"])["attn_mix"] for F in FRAMES]
           for v in range(5)}
    mix["1+compression"] = [backbone_attention_macs(1, F // 2, XL["t"], XL["d"], XL["depth"])["attn_mix"]
                            for F in FRAMES]
    return tokens, mix


def fig_cost(out_dir: Path, tokens, mix) -> Figure:
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.6))
    a1.plot(FRAMES, tokens["uniform"], "o-", label="uniform frame patch")
    a1.plot(FRAMES, tokens["compression"], "s--", label="compression frame patch (s = 2)")
    a1.set_xscale("log", base=2)
    a1.set_yscale("log", base=2)
    a1.set_xlabel("frames F")
    a1.set_ylabel("tokens")
    a1.legend(fontsize=8)
    a1.set_title("token count", fontsize=10)
    g = lambda v: np.array(mix[v]) / 1e9  # noqa: E731
    a2.plot(FRAMES, g(0), "k-", label="full joint attention (not Latte)")
    a2.plot(FRAMES, g(3), "o-", label="Variant 3")
    a2.plot(FRAMES, g(1), "s-", label="Variants 1, 2, 4 (equal)")
    a2.plot(FRAMES, g("1+compression"), "^--", label="Variant 1 + compression patch")
    a2.set_xscale("log", base=2)
    a2.set_yscale("log")
    a2.set_xlabel("frames F")
    a2.set_ylabel("attention GMACs (QK^T + AV)")
    a2.legend(fontsize=8)
    a2.set_title("attention mixing cost, 28 blocks", fontsize=10)
    fig.tight_layout()
    return Figure(file=save_svg(fig, out_dir, "cost_vs_frames.svg"),
                  caption_en="Left: token count versus frames for a 256x256 video (32x32 latent, patch 2); tubelets "
                             "of 2 frames halve it. Right: multiply-accumulates of QK^T and AV summed over 28 blocks "
                             "(d = 1152), from the closed-form count that the tests check against the code. Full "
                             "joint attention grows with F squared; the factorised variants nearly linearly.",
                  caption_zh="左:256×256 视频(32×32 潜变量,patch 为 2)的 token 数随帧数的变化,2 帧的 tubelet "
                             "使其减半。右:28 个块(d = 1152)中 QK^T 与 AV 的乘加次数,来自经测试与代码实测计数"
                             "核对过的闭式公式。全时空联合注意力随帧数平方增长,分解变体近似线性增长。",
                  function="reference_impls.latte.demo.fig_cost", seed=SEED,
                  params={"frames": FRAMES, **XL, "tubelet": 2})


def run(out_dir: Path) -> DemoResult:
    rng = np.random.default_rng(SEED)
    progress(1, 3, "factorised attention versus masked full attention")
    diffs, m_s, m_t = mask_equivalence(rng)
    f1 = fig_masks(out_dir, diffs, m_s, m_t)
    progress(2, 3, "receptive field of one block per variant")
    maps = dependency_maps(rng)
    f2 = fig_receptive_field(out_dir, maps)
    progress(3, 3, "token counts and attention cost versus frames (Latte-XL/2 scale)")
    tokens, mix = cost_curves()
    f3 = fig_cost(out_dir, tokens, mix)
    i16, i32 = FRAMES.index(16), FRAMES.index(32)
    reach_v4 = dict(maps)["Variant 4 block"].mean()
    metrics = [
        Metric("masked_full_max_abs_diff", float(max(diffs.values())), "Max |factorised - masked full attention|",
               "分解注意力与带掩码全注意力的最大差值"),
        Metric("tokens_16f_uniform", tokens["uniform"][i16], "Tokens, 16 frames, uniform frame patch",
               "16 帧、均匀帧 patch 的 token 数"),
        Metric("tokens_16f_compression", tokens["compression"][i16], "Tokens, 16 frames, compression patch (s = 2)",
               "16 帧、压缩帧 patch(s = 2)的 token 数"),
        Metric("full_over_v1_attn_16f", mix[0][i16] / mix[1][i16], "Full joint / Variant 1 attention MACs (16 frames)",
               "16 帧时全联合注意力与变体 1 的注意力乘加次数之比", unit="x"),
        Metric("v1_attn_growth_16_to_32f", mix[1][i32] / mix[1][i16], "Variant 1 attention MACs, 32 vs 16 frames",
               "变体 1 注意力乘加次数:32 帧相对 16 帧", unit="x"),
        Metric("full_attn_growth_16_to_32f", mix[0][i32] / mix[0][i16], "Full joint attention MACs, 32 vs 16 frames",
               "全联合注意力乘加次数:32 帧相对 16 帧", unit="x"),
        Metric("v4_block_reach", float(reach_v4), "Share of tokens one Variant-4 block reaches (4 x 9 toy)",
               "变体 4 单个块能影响的 token 比例(4×9 玩具设置)"),
    ]
    return DemoResult(metrics=metrics, figures=[f1, f2, f3])


if __name__ == "__main__":
    main(run)
