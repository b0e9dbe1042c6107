"""Demo: LoRA at several ranks against full fine-tuning and freeze-tuning on a task with a rank-4 true update."""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from reference_impls.demo_io import DemoResult, Figure, Metric, main, progress, save_svg
from reference_impls.llama_factory.model import (Config, count_trainable, fine_tune, forward, init_base, init_lora,
                                                  lora_scale, make_task, merge, trainable_fraction)

SEED = 0
# Knobs a reader may change (digest serve's Run box, the notebook, --seed etc.): allowed ranges.
KNOBS = {"SEED": {"min": 0, "max": 9999, "en": "random seed", "zh": "随机种子"}}
RANKS = (1, 2, 4, 8)


def experiments(cfg: Config, rng: np.random.Generator) -> dict:
    """Train every method from the same pretrained network on the same task; returns the loss curves."""
    base = init_base(cfg, rng)
    X, Y = make_task(cfg, base, rng)
    runs = {"full": fine_tune(cfg, base, X, Y, "full"), "freeze": fine_tune(cfg, base, X, Y, "freeze")}
    for r in RANKS:
        runs[f"lora_r{r}"] = fine_tune(cfg, base, X, Y, "lora", r, rng)
    return {"base": base, "X": X, "Y": Y, "runs": runs}


def fig_loss_curves(out_dir: Path, cfg: Config, res: dict) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 3.6))
    runs = res["runs"]
    ax.semilogy(runs["full"][0], color="black", lw=2, label="full fine-tuning")
    ax.semilogy(runs["freeze"][0], color="grey", ls="--", lw=1.5, label="freeze-tuning (last layer)")
    colors = plt.cm.viridis(np.linspace(0.0, 0.85, len(RANKS)))
    for c, r in zip(colors, RANKS):
        ax.semilogy(runs[f"lora_r{r}"][0], color=c, lw=1.5, label=f"LoRA r={r}")
    ax.set_xlabel("Adam step")
    ax.set_ylabel("training MSE")
    ax.set_title(f"Task update has rank {cfg.true_rank} in each layer")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=0.3, which="both")
    return Figure(file=save_svg(fig, out_dir, "loss_curves.svg"),
                  caption_en=(f"Training loss of full fine-tuning, freeze-tuning (only the last layer trained) and "
                              f"LoRA at ranks {', '.join(map(str, RANKS))}. The task is the pretrained network plus "
                              f"a hidden rank-{cfg.true_rank} change of each weight matrix: LoRA with "
                              f"r >= {cfg.true_rank} drives the loss as low as full fine-tuning, smaller ranks "
                              "level off higher."),
                  caption_zh=(f"全参数微调、冻结微调(只训练最后一层)以及秩为 {', '.join(map(str, RANKS))} 的 LoRA "
                              f"的训练损失。任务由预训练网络加上每个权重矩阵中一个秩为 {cfg.true_rank} 的隐藏改动构成:"
                              f"r >= {cfg.true_rank} 的 LoRA 能把损失降到与全参数微调同样低,秩更小时损失停在更高的平台。"),
                  function="reference_impls.llama_factory.demo.fig_loss_curves", seed=SEED,
                  params={"ranks": list(RANKS), "true_rank": cfg.true_rank, "steps": cfg.steps, "lr": cfg.lr,
                          "n_samples": cfg.n_samples})


def fig_rank_tradeoff(out_dir: Path, cfg: Config, res: dict) -> Figure:
    runs = res["runs"]
    final = [runs[f"lora_r{r}"][0][-1] for r in RANKS]
    n_full = count_trainable(cfg, "full")
    frac = [count_trainable(cfg, "lora", r) / n_full for r in RANKS]
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.semilogy(RANKS, final, "o-", color="tab:blue", label="LoRA final loss")
    ax.axhline(runs["full"][0][-1], color="black", lw=1.2, label="full fine-tuning")
    ax.axhline(runs["freeze"][0][-1], color="grey", ls="--", lw=1.2, label="freeze-tuning")
    ax.axvline(cfg.true_rank, color="tab:red", ls=":", lw=1, label="true rank")
    ax.set_xscale("log", base=2)
    ax.set_xticks(RANKS, [str(r) for r in RANKS])
    ax.set_xlabel("LoRA rank r")
    ax.set_ylabel("final training MSE", color="tab:blue")
    ax2 = ax.twinx()
    ax2.plot(RANKS, np.array(frac) * 100, "s--", color="tab:orange")
    ax2.set_ylabel("trainable parameters (% of full)", color="tab:orange")
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, frameon=False)
    return Figure(file=save_svg(fig, out_dir, "rank_tradeoff.svg"),
                  caption_en=("Final loss of LoRA against its rank (left axis, log scale) and the share of "
                              "parameters it trains, r(d_in + d_out) per adapted matrix relative to all weights of "
                              "the network (right axis). The loss drops sharply once r reaches the true rank of "
                              "the update, while the trainable share grows linearly in r."),
                  caption_zh=("LoRA 最终损失随秩的变化(左轴,对数刻度),以及它训练的参数占全部参数的比例"
                              "(右轴,每个适配矩阵 r(d_in + d_out) 个参数)。一旦 r 达到更新量的真实秩,损失陡然下降;"
                              "可训练参数比例则随 r 线性增长。"),
                  function="reference_impls.llama_factory.demo.fig_rank_tradeoff", seed=SEED,
                  params={"ranks": list(RANKS), "true_rank": cfg.true_rank, "trainable_full": n_full})


def run(out_dir: Path) -> DemoResult:
    rng = np.random.default_rng(SEED)
    cfg = Config()
    progress(1, 4, "fine-tuning: full, freeze and LoRA at four ranks")
    res = experiments(cfg, rng)
    runs, base, X = res["runs"], res["base"], res["X"]
    progress(2, 4, "checking the zero-init start and the merged adapter")
    r = cfg.true_rank
    y_start = forward(base, init_lora(base, r, rng), X, lora_scale(cfg, r))[0]
    start_gap = np.max(np.abs(y_start - forward(base, {}, X)[0]))
    _, p, ad, s = runs[f"lora_r{r}"]
    merge_gap = np.max(np.abs(forward(merge(p, ad, s), {}, X)[0] - forward(p, ad, X, s)[0]))
    progress(3, 4, "loss curves")
    figs = [fig_loss_curves(out_dir, cfg, res)]
    progress(4, 4, "rank trade-off")
    figs.append(fig_rank_tradeoff(out_dir, cfg, res))
    n_full = count_trainable(cfg, "full")
    metrics = [
        Metric("loss_start", runs["full"][0][0], "Loss of the pretrained network on the task",
               "预训练网络在该任务上的损失"),
        Metric("loss_full", runs["full"][0][-1], "Final loss, full fine-tuning", "全参数微调的最终损失"),
        Metric("loss_freeze", runs["freeze"][0][-1], "Final loss, freeze-tuning (last layer)",
               "冻结微调(仅最后一层)的最终损失"),
        Metric("loss_lora_r2", runs["lora_r2"][0][-1], "Final loss, LoRA r=2 (below the true rank)",
               "LoRA r=2(低于真实秩)的最终损失"),
        Metric(f"loss_lora_r{r}", runs[f"lora_r{r}"][0][-1], f"Final loss, LoRA r={r} (equal to the true rank)",
               f"LoRA r={r}(等于真实秩)的最终损失"),
        Metric("llm_pct_r8", 100 * trainable_fraction(4096, 4096, 8),
               "Eq. (3) for one 4096x4096 projection (LLaMA-2-7B size) at r=8",
               "按式 (3) 计算:一个 4096x4096 投影矩阵(LLaMA-2-7B 规模)在 r=8 时的可训练比例", unit="%"),
        Metric("start_gap", start_gap, "Largest output change at LoRA initialisation (B = 0)",
               "LoRA 初始化时(B = 0)输出的最大变化"),
        Metric("merge_gap", merge_gap, "Largest output gap, merged vs unmerged adapter",
               "合并与未合并适配器的输出最大差异"),
    ]
    return DemoResult(metrics=metrics, figures=figs)


if __name__ == "__main__":
    main(run)
