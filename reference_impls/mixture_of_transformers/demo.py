"""Mixture-of-Transformers demo: step matching against a dense model, FLOPs per token, global attention."""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from reference_impls.demo_io import DemoResult, Figure, Metric, main, progress, save_svg
from reference_impls.mixture_of_transformers.model import (
    Config,
    forward,
    init_params,
    n_params,
    steps_to_reach,
    tie,
    toy_task,
    train,
)

SEED = 0
STEPS = 400
# Knobs a reader may change (digest serve's Run box, the notebook, --seed etc.): allowed ranges.
KNOBS = {
    "SEED": {"min": 0, "max": 9999, "en": "random seed", "zh": "随机种子"},
    "STEPS": {"min": 100, "max": 800, "en": "training steps", "zh": "训练步数"},
}
LAYERS = 2
WINDOW = 20


def run_training(rng):
    """Dense (K = 1) and MoT (K = 2) from the same starting weights, same batches, same FLOPs per token."""
    cfg, dense_cfg = Config(n_layers=LAYERS), Config(n_layers=LAYERS, n_modalities=1)
    batch = toy_task(cfg, rng)
    start = init_params(dense_cfg, rng)
    batch_seed = int(rng.integers(2**31))
    dense = train(dense_cfg, tie(start, 1), batch, np.random.default_rng(batch_seed), STEPS)
    mot_params = tie(start, 2)
    mot = train(cfg, mot_params, batch, np.random.default_rng(batch_seed), STEPS)
    return cfg, batch, mot_params, dense, mot


def fig_step_matching(out_dir: Path, dense, mot) -> tuple[Figure, dict]:
    smooth = lambda c: np.convolve(c, np.ones(WINDOW) / WINDOW, "valid")  # noqa: E731
    steps = np.arange(WINDOW, STEPS + 1)
    dense_final = dense[-WINDOW:, 0].mean()
    reach = steps_to_reach(mot[:, 0], dense_final, WINDOW)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, smooth(dense[:, 0]), color="tab:gray", lw=2, label="dense (K = 1)")
    ax.plot(steps, smooth(mot[:, 0]), color="tab:blue", lw=2, label="MoT (K = 2)")
    ax.axhline(dense_final, color="k", lw=0.6)
    if reach is not None:
        ax.axvline(reach, color="tab:red", lw=0.8)
        ax.annotate(f"MoT reaches the dense final loss\nat step {reach} ({100 * reach / STEPS:.0f}% of {STEPS})",
                    (reach, dense_final), xytext=(reach + 15, dense_final * 2.5), fontsize=8,
                    arrowprops=dict(arrowstyle="->", lw=0.6))
    ax.set(xlabel="training step", ylabel=f"MSE (running mean of {WINDOW})", yscale="log")
    ax.legend(fontsize=8)
    info = dict(dense_final=dense_final, mot_final=mot[-WINDOW:, 0].mean(), reach=reach)
    return Figure(
        file=save_svg(fig, out_dir, "step_matching.svg"),
        caption_en="Training loss of a dense 2-layer transformer and of MoT started from the same weights, on the "
        "same batches of a synthetic two-modality task whose modalities want conflicting linear maps. Per token both "
        "execute the same FLOPs; MoT reaches the dense model's final loss in a fraction of the steps, which is the "
        "paper's 'step matching' comparison in miniature.",
        caption_zh="在一个合成的双模态任务上(两个模态需要互相冲突的线性映射),用同一组初始权重、同样的批次训练"
        "两层的稠密 transformer 和 MoT。两者每个 token 的计算量完全相同;MoT 只用一部分训练步数就达到稠密模型的"
        "最终损失,相当于论文中“按步数对齐”比较的缩小版。",
        function="reference_impls.mixture_of_transformers.demo.fig_step_matching",
        seed=SEED,
        params=dict(steps=STEPS, n_layers=LAYERS, d_model=16, d_ff=32, n_heads=2, window=WINDOW, lr=0.01),
    ), info


def fig_flops(out_dir: Path, rng) -> tuple[Figure, dict]:
    """FLOPs per token and parameters, counted from real forward passes, for K = 1..4 modalities."""
    Ks, T = np.arange(1, 5), 32
    x = rng.normal(size=(4, T, 16))
    rows = []
    for K in Ks:
        m = rng.integers(0, K, (4, T))
        mot_cfg = Config(n_layers=LAYERS, n_modalities=int(K))
        mot = init_params(mot_cfg, rng)
        wide_cfg = Config(n_layers=LAYERS, n_modalities=1, d_ff=int(K * 32 + (K - 1) * 34))  # as many params as MoT
        wide = init_params(wide_cfg, rng)
        rows.append((forward(mot, x, m, mot_cfg)[2] / x[..., 0].size, n_params(mot),
                     forward(wide, x, np.zeros_like(m), wide_cfg)[2] / x[..., 0].size, n_params(wide)))
    mot_flops, mot_par, wide_flops, wide_par = np.array(rows).T
    dense_flops, dense_par = mot_flops[0], mot_par[0]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(7.5, 3.2))
    a1.plot(Ks, mot_flops, "o-", color="tab:blue", label="MoT")
    a1.plot(Ks, wide_flops, "s--", color="tab:gray", label="dense, same parameters")
    a1.set(xlabel="number of modalities K", ylabel="FLOPs per token (counted)", xticks=Ks, ylim=(0, None))
    a2.plot(Ks, mot_par, "o-", color="tab:blue", label="MoT")
    a2.plot(Ks, np.full(len(Ks), dense_par), "s--", color="tab:gray", label="dense, same FLOPs")
    a2.set(xlabel="number of modalities K", ylabel="non-embedding parameters", xticks=Ks, ylim=(0, None))
    for a in (a1, a2):
        a.legend(fontsize=8)
    fig.tight_layout()
    info = dict(flops_ratio=mot_flops[1] / dense_flops, param_ratio=mot_par[1] / dense_par,
                wide_flops_ratio=wide_flops[1] / dense_flops)
    return Figure(
        file=save_svg(fig, out_dir, "flops_per_token.svg"),
        caption_en="Multiply-adds executed per token (counted inside the forward pass, sequence length 32) and "
        "parameter counts for K = 1 to 4 modalities. MoT's cost per token stays that of the dense model while its "
        "parameters grow K-fold; a dense model with MoT's parameter count (a wider FFN) pays for them on every token.",
        caption_zh="K = 1 到 4 个模态时,每个 token 实际执行的乘加次数(在前向计算中计数,序列长度 32)和参数量。"
        "MoT 每个 token 的计算量始终等于稠密模型,参数量则随 K 成倍增长;而参数量与 MoT 相同的稠密模型"
        "(加宽 FFN)每个 token 都要为这些参数付出计算。",
        function="reference_impls.mixture_of_transformers.demo.fig_flops",
        seed=SEED,
        params=dict(n_layers=LAYERS, d_model=16, d_ff=32, seq_len=T, modalities=Ks.tolist()),
    ), info


def fig_attention(out_dir: Path, cfg, params, batch, rng) -> tuple[Figure, float]:
    """Attention of the trained MoT over one mixed sequence: one softmax over all tokens, whatever their modality."""
    x, m, _ = batch(rng, B=64)
    _, caches, _ = forward(params, x, m, cfg)
    P = caches[0]["P"].mean(1)  # (B, T, T), heads averaged
    other = m[:, None, :] != m[:, :, None]  # query and key of different modalities
    frac = float((P * other).sum() / P[other.any(-1)].sum())  # weight on the other modality, queries that can see one
    switch = np.abs(np.diff(m, axis=1)).argmax(1) + 1  # first token of the second modality, per sequence
    i = int(np.argmin(np.abs(switch - m.shape[1] // 2)))  # a sequence that switches near the middle
    fig, ax = plt.subplots(figsize=(4.6, 4))
    ax.imshow(P[i], cmap="Blues", vmin=0)
    for axis_set in (ax.set_xticks, ax.set_yticks):
        axis_set(np.arange(m.shape[1]))
    ax.set_xticklabels(["AB"[k] for k in m[i]], fontsize=7)
    ax.set_yticklabels(["AB"[k] for k in m[i]], fontsize=7)
    ax.axvline(switch[i] - 0.5, color="tab:red", lw=0.8)
    ax.axhline(switch[i] - 0.5, color="tab:red", lw=0.8)
    ax.set(xlabel="key token (modality)", ylabel="query token (modality)", title="layer 1, heads averaged")
    return Figure(
        file=save_svg(fig, out_dir, "global_attention.svg"),
        caption_en="Attention weights of the trained MoT's first layer on one mixed sequence. Each modality has its "
        "own Q/K/V/O weights, yet the softmax runs over the whole causal prefix, so tokens of one modality read "
        "the other modality's tokens.",
        caption_zh="训练后的 MoT 第一层在一条混合序列上的注意力权重。每个模态有各自的 Q/K/V/O 权重,但 softmax "
        "覆盖整个因果前缀,因此一个模态的 token 可以读取另一个模态的 token。",
        function="reference_impls.mixture_of_transformers.demo.fig_attention",
        seed=SEED,
        params=dict(sequences=64, layer=1),
    ), frac


def run(out_dir: Path) -> DemoResult:
    rng = np.random.default_rng(SEED)
    progress(1, 4, f"training dense and MoT for {STEPS} steps")
    cfg, batch, mot_params, dense, mot = run_training(rng)
    progress(2, 4, "step matching figure")
    f1, train_info = fig_step_matching(out_dir, dense, mot)
    progress(3, 4, "counting FLOPs per token")
    f2, flop_info = fig_flops(out_dir, rng)
    progress(4, 4, "attention map")
    f3, frac = fig_attention(out_dir, cfg, mot_params, batch, rng)
    reach = train_info["reach"]
    metrics = [
        Metric("dense_final_loss", train_info["dense_final"], "Dense final training loss (MSE)",
               "稠密模型最终训练损失(MSE)"),
        Metric("mot_final_loss", train_info["mot_final"], "MoT final training loss (MSE)", "MoT 最终训练损失(MSE)"),
        Metric("steps_to_match_dense", 100 * reach / STEPS if reach else "never",
               "Steps MoT needs to reach the dense final loss", "MoT 达到稠密模型最终损失所需步数", unit="%"),
        Metric("flops_per_token_ratio", flop_info["flops_ratio"], "FLOPs per token, MoT / dense (K = 2)",
               "每 token 计算量之比,MoT / 稠密(K = 2)", unit="x"),
        Metric("param_ratio", flop_info["param_ratio"], "Non-embedding parameters, MoT / dense (K = 2)",
               "非嵌入参数量之比,MoT / 稠密(K = 2)", unit="x"),
        Metric("same_param_dense_flops_ratio", flop_info["wide_flops_ratio"],
               "FLOPs per token of a dense model with MoT's parameter count, relative to MoT (K = 2)",
               "参数量与 MoT 相同的稠密模型每 token 计算量,相对 MoT(K = 2)", unit="x"),
        Metric("cross_modal_attention", 100 * frac, "Attention weight on the other modality's tokens (layer 1)",
               "第一层注意力落在另一模态 token 上的权重", unit="%"),
    ]
    return DemoResult(metrics=metrics, figures=[f1, f2, f3])


if __name__ == "__main__":
    main(run)
