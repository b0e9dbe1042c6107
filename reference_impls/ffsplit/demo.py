"""FFSplit demo: heavy-hitter neurons of a synthetic FFN, and output error vs size for three compressions."""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from reference_impls.demo_io import DemoResult, Figure, Metric, main, progress, save_svg
from reference_impls.ffsplit.model import (
    Config,
    budget_ranks,
    compress_many,
    ffn_forward,
    ffsplit_compress,
    gelu,
    heavy_hitters,
    make_ffn,
    make_tokens,
    n_params,
    neuron_output_norms,
    relative_error,
    split_forward,
)

SEED = 0
# Knobs a reader may change (digest serve's Run box, the notebook, --seed etc.): allowed ranges.
KNOBS = {"SEED": {"min": 0, "max": 9999, "en": "random seed", "zh": "随机种子"}}
FRACTIONS = np.round(np.arange(0.1, 0.91, 0.05), 2)  # parameter budgets, as a fraction of the dense W1 + W2
MATCH_FRACTION = 0.8  # uniform low-rank at this budget is the error FFSplit has to match
ACTIVE = 0.1  # a neuron counts as active on a token when its GeLU output exceeds this


def fig_output_norms(out_dir: Path, norms: np.ndarray, active: np.ndarray, heavy: np.ndarray) -> Figure:
    mean = norms.mean(axis=0)
    order = np.argsort(-mean, kind="stable")
    is_heavy = np.isin(np.arange(len(mean)), heavy)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3.4))
    rank = np.arange(len(mean))
    ax1.plot(rank, mean[order], color="C0", lw=1.5, label="all neurons")
    ax1.plot(rank[is_heavy[order]], mean[order][is_heavy[order]], "o", color="C3", ms=4, label="heavy hitters")
    ax1.legend(fontsize=7)
    ax1.set_yscale("log")
    ax1.set_xlabel("neuron (sorted by mean output norm)")
    ax1.set_ylabel("mean ||a_i(x) W2[i]|| over tokens")
    ax2.scatter(active[~is_heavy], mean[~is_heavy], s=8, color="C0", label="other neurons")
    ax2.scatter(active[is_heavy], mean[is_heavy], s=18, color="C3", label=f"heavy hitters (top {len(heavy)})")
    ax2.set_yscale("log")
    ax2.set_xlabel(f"fraction of tokens with a_i(x) > {ACTIVE}")
    ax2.set_ylabel("mean output norm")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return Figure(file=save_svg(fig, out_dir, "output_norms.svg"),
                  caption_en=f"Per-neuron output norm of a synthetic GeLU FFN on {norms.shape[0]} held-out tokens. "
                             f"Left: sorted mean norms; the {len(heavy)} heavy hitters picked on calibration tokens "
                             f"(red) stand far above the rest. Right: the heavy hitters fire on almost every token, "
                             f"the others on few. The FFN is built with a few always-on neurons so that this "
                             f"premise of the paper holds.",
                  caption_zh=f"合成 GeLU 前馈网络在 {norms.shape[0]} 个留出 token 上每个神经元的输出范数。左：按平均"
                             f"范数排序，在校准 token 上选出的 {len(heavy)} 个 heavy hitter（红色）远高于其余神经元。"
                             f"右：heavy hitter 几乎对每个 token 都激活，其余神经元只被少数 token 触发。该网络特意植入"
                             f"了几个常开的神经元，使论文的这一前提成立。",
                  function="reference_impls.ffsplit.demo.fig_output_norms", seed=SEED,
                  params={"d_model": Config().d_model, "d_ff": Config().d_ff, "k": len(heavy), "active": ACTIVE})


def fig_error_vs_size(out_dir: Path, sizes: dict, errors: dict, k: int) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 3.6))
    styles = {"uniform low-rank": "s--", f"split at {k} random neurons": "^:", "FFSplit (heavy hitters exact)": "o-"}
    for name, style in styles.items():
        ax.plot(100 * sizes[name], errors[name], style, label=name, ms=4)
    ax.set_xlabel("FFN size (% of dense parameters)")
    ax.set_ylabel("relative output error on held-out tokens")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    return Figure(file=save_svg(fig, out_dir, "error_vs_size.svg"),
                  caption_en=f"Output error against FFN size. All three use truncated SVD of the weights. Uniform "
                             f"low-rank compresses the whole FFN; the split methods keep {k} neurons exact and give "
                             f"the remaining neurons the largest rank that fits the same budget. Keeping the heavy "
                             f"hitters exact beats both, while a split at random neurons gains nothing.",
                  caption_zh=f"输出误差与前馈网络大小的关系。三种方法都对权重做截断 SVD。均匀低秩压缩整个网络；两种"
                             f"拆分方法保留 {k} 个神经元不压缩，其余神经元取同一预算下能容纳的最大秩。保留 heavy "
                             f"hitter 的 FFSplit 误差明显低于另外两种，而按随机神经元拆分几乎没有收益。",
                  function="reference_impls.ffsplit.demo.fig_error_vs_size", seed=SEED,
                  params={"fractions": FRACTIONS.tolist(), "k": k})


def run(out_dir: Path) -> DemoResult:
    rng = np.random.default_rng(SEED)
    cfg = Config()
    d, m, k = cfg.d_model, cfg.d_ff, cfg.n_planted
    progress(1, 3, "synthetic FFN, heavy hitters from calibration tokens")
    ffn, planted = make_ffn(cfg, rng)
    x_calib, x_test = make_tokens(cfg, rng), make_tokens(cfg, rng)
    heavy = heavy_hitters(ffn, x_calib, k)
    norms = neuron_output_norms(ffn, x_test)
    active = (gelu(x_test @ ffn["W1"] + ffn["b1"]) > ACTIVE).mean(axis=0)
    share = norms[:, heavy].sum() / norms.sum()

    progress(2, 3, "uniform low-rank vs random split vs FFSplit at equal budgets")
    y = ffn_forward(ffn, x_test)
    dense = n_params(ffn)
    r_u, r_rest = (list(r) for r in zip(*(budget_ranks(d, m, k, f) for f in FRACTIONS)))
    random = np.sort(rng.choice(m, k, replace=False))
    uniform = compress_many(ffn, r_u)
    sizes, errors = {}, {}
    sizes["uniform low-rank"] = np.array([n_params(u) for u in uniform]) / dense
    errors["uniform low-rank"] = np.array([relative_error(ffn_forward(u, x_test), y) for u in uniform])
    for name, idx in ((f"split at {k} random neurons", random), ("FFSplit (heavy hitters exact)", heavy)):
        parts = ffsplit_compress(ffn, idx, r_rest)
        sizes[name] = np.array([(n_params(a) + n_params(b) + d) for a, b in parts]) / dense
        errors[name] = np.array([relative_error(split_forward(a, b, ffn["b2"], x_test), y) for a, b in parts])
    half = int(np.argmin(np.abs(FRACTIONS - 0.5)))
    target = errors["uniform low-rank"][int(np.argmin(np.abs(FRACTIONS - MATCH_FRACTION)))]
    ok = errors["FFSplit (heavy hitters exact)"] <= target
    match_size = float(sizes["FFSplit (heavy hitters exact)"][np.argmax(ok)]) if ok.any() else float("nan")

    progress(3, 3, "figures")
    figures = [fig_output_norms(out_dir, norms, active, heavy), fig_error_vs_size(out_dir, sizes, errors, k)]
    bert_d, bert_m = 768, 3072  # BERT-base shapes: FFN weights vs attention Q, K, V, O weights of one layer
    metrics = [
        Metric("heavy_hitters_recovered", int(np.isin(heavy, planted).sum()),
               f"Planted heavy neurons (of {k}) found by mean output norm",
               f"按平均输出范数找回的植入 heavy 神经元数（共 {k} 个）"),
        Metric("heavy_norm_share", round(100 * float(share), 1),
               f"Output norm carried by the {k} heavy hitters (of {m} neurons)",
               f"{k} 个 heavy hitter（共 {m} 个神经元）所占的输出范数比例", unit="%"),
        Metric("error_uniform_50", round(float(errors["uniform low-rank"][half]), 3),
               "Relative output error, uniform low-rank, 50% size", "相对输出误差：均匀低秩，50% 大小"),
        Metric("error_random_split_50", round(float(errors[f"split at {k} random neurons"][half]), 3),
               "Relative output error, random split, 50% size", "相对输出误差：随机拆分，50% 大小"),
        Metric("error_ffsplit_50", round(float(errors["FFSplit (heavy hitters exact)"][half]), 3),
               "Relative output error, FFSplit, 50% size", "相对输出误差：FFSplit，50% 大小"),
        Metric("ffsplit_size_matching_uniform80", round(100 * match_size, 1),
               "FFSplit size reaching the error of uniform low-rank at 80% size",
               "FFSplit 达到均匀低秩在 80% 大小时误差所需的大小", unit="% of dense"),
        Metric("ffn_share_bert_base_layer", round(100 * 2 * bert_d * bert_m / (2 * bert_d * bert_m + 4 * bert_d**2), 1),
               "FFN share of a BERT-base layer's weight matrices", "BERT-base 单层权重矩阵中前馈网络所占比例", unit="%"),
    ]
    return DemoResult(metrics=metrics, figures=figures)


if __name__ == "__main__":
    main(run)
