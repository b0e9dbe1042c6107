"""Activation Beacon demo: the beacon attention mask, KV memory from 4K to 400K tokens, information lost vs alpha."""

from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from reference_impls.activation_beacon.model import (
    Config,
    beacon_forward,
    beacon_mask,
    full_forward,
    info_lost,
    init_params,
    kv_cache_size,
    max_context_length,
)
from reference_impls.demo_io import DemoResult, Figure, Metric, main, progress, save_svg

SEED = 0
ALPHAS = [1, 2, 4, 8, 16, 32]
N_TRIALS = 4
# Knobs a reader may change (digest serve's Run box, the notebook, --seed etc.): allowed ranges.
KNOBS = {
    "SEED": {"min": 0, "max": 9999, "en": "random seed", "zh": "随机种子"},
    "N_TRIALS": {"min": 1, "max": 8, "en": "random toy models averaged", "zh": "取平均的随机玩具模型数"},
}
N_WINDOWS = 8
# Llama-2-7B shapes (the paper's base model): 32 layers, hidden size 4096, fp16 keys and values, C = 4096, w = 1024.
LLAMA = {"layers": 32, "hidden": 4096, "bytes": 2, "context": 4096, "window": 1024}
MEMORY_ALPHAS = [2, 8, 32, 128]


def kv_gib(entries: int) -> float:
    """GiB of a Llama-2-7B KV cache holding `entries` positions per layer (keys and values)."""
    return entries * 2 * LLAMA["layers"] * LLAMA["hidden"] * LLAMA["bytes"] / 2**30


def fig_mask(out_dir: Path, rng) -> Figure:
    m, t, alpha = 6, 12, 3
    mask = beacon_mask(m, t, t // alpha, alpha, Config().beacon_attend_beacons)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.imshow(mask, cmap="Blues", vmin=0, vmax=1.4, interpolation="nearest")
    for x in (m - 0.5, m + t - 0.5):
        ax.axvline(x, color="k", lw=0.8)
    ax.axhline(t - 0.5, color="k", lw=0.8)
    ax.set_xticks([m / 2 - 0.5, m + t / 2 - 0.5, m + t + t / alpha / 2 - 0.5])
    ax.set_xticklabels(["beacon memory\n(past windows)", "raw tokens", "beacons"])
    ax.set_yticks([t / 2 - 0.5, t + t / alpha / 2 - 0.5])
    ax.set_yticklabels(["raw", "beacons"])
    ax.set_title(f"Who attends to whom in one window (w={t}, alpha={alpha}, {m} memory slots)", fontsize=9)
    return Figure(file=save_svg(fig, out_dir, "beacon_mask.svg"),
                  caption_en=f"Attention mask of one window (dark = visible). Raw tokens see the beacon memory of "
                             f"past windows and earlier raw tokens, never the beacons; beacon j sees the memory, the "
                             f"first (j+1)*{alpha} raw tokens and the beacons before it (stepwise expansion).",
                  caption_zh=f"单个窗口的注意力掩码（深色表示可见）。原始 token 可以看到此前窗口留下的 beacon 记忆和前面的"
                             f"原始 token，但看不到本窗口的 beacon；第 j 个 beacon 能看到记忆、本窗口前 (j+1)×{alpha} 个"
                             f"原始 token 以及它之前的 beacon（逐步扩展式注意力）。",
                  function="reference_impls.activation_beacon.demo.fig_mask", seed=SEED,
                  params={"memory_slots": m, "window": t, "alpha": alpha})


def fig_kv_memory(out_dir: Path, rng) -> Figure:
    c, w = LLAMA["context"], LLAMA["window"]
    n_grid = np.unique(np.geomspace(c, 400_000, 60).astype(int) // w * w)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(n_grid, [kv_gib(kv_cache_size(n, w, None)) for n in n_grid], "k--", label="full attention (no limit)")
    for alpha in MEMORY_ALPHAS:
        reach = max_context_length(c, w, alpha)
        ns = np.append(n_grid[n_grid < reach], reach)
        gib = [kv_gib(kv_cache_size(n, w, alpha)) for n in ns]
        line, = ax.plot(ns, gib, label=f"beacon, alpha={alpha} (reach {reach:,})")
        ax.plot(ns[-1], gib[-1], "o", color=line.get_color())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("context length n (tokens)")
    ax.set_ylabel("KV cache (GiB, Llama-2-7B, fp16)")
    ax.legend(fontsize=7)
    top = max_context_length(c, w, MEMORY_ALPHAS[-1])
    return Figure(file=save_svg(fig, out_dir, "kv_memory.svg"),
                  caption_en=f"KV cache of Llama-2-7B shapes from 4K to 400K tokens. Full attention keeps every "
                             f"token (dashed; the real model stops at {c:,} positions); with beacons the cache grows "
                             f"as n/alpha, and each line ends (dot) where the memory plus a {w:,}-token window fills "
                             f"the {c:,} positions: ({c}-{w})*alpha+{w}, which is {top:,} for "
                             f"alpha={MEMORY_ALPHAS[-1]}.",
                  caption_zh=f"按 Llama-2-7B 的形状计算的 KV 缓存，上下文从 4K 到 400K。全注意力保存每个 token（虚线；"
                             f"真实模型在 {c:,} 个位置处就到头了）；使用 beacon 后缓存按 n/alpha 增长。每条曲线的终点"
                             f"（圆点）是记忆加上一个 {w:,} token 窗口正好占满 {c:,} 个位置的长度 ({c}-{w})×alpha+{w}，"
                             f"alpha={MEMORY_ALPHAS[-1]} 时为 {top:,}。",
                  function="reference_impls.activation_beacon.demo.fig_kv_memory", seed=SEED,
                  params={**LLAMA, "alphas": MEMORY_ALPHAS})


def fig_info_lost(out_dir: Path, rng, lost_copy: np.ndarray, lost_token: np.ndarray) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for lost, label, mk in ((lost_copy, "beacons initialised as their last token (toy default)", "o-"),
                            (lost_token, "untrained shared <bcn> embedding", "s--")):
        mean = lost.mean(axis=0)
        ax.plot(ALPHAS, mean, mk, label=label)
        ax.fill_between(ALPHAS, lost.min(axis=0), lost.max(axis=0), alpha=0.2)
    ax.axhline(1.0, color="gray", lw=0.8, ls=":", label="past dropped (no memory)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ALPHAS)
    ax.set_xticklabels([str(a) for a in ALPHAS])
    ax.set_xlabel("condensing ratio alpha (raw tokens per beacon)")
    ax.set_ylabel("information lost\n||H_beacon - H_full|| / ||H_drop - H_full||")
    ax.legend(fontsize=7)
    return Figure(file=save_svg(fig, out_dir, "info_lost.svg"),
                  caption_en=f"Error of the last window's outputs against full attention, as a fraction of the error "
                             f"when the past is simply dropped (mean and range over {N_TRIALS} random toy LLMs, "
                             f"{N_WINDOWS} windows of {Config().window} tokens). Beacons that start as copies of "
                             f"their last token lose almost nothing at alpha=1 (exactly nothing if beacons do not "
                             f"attend to each other) and more as alpha grows. An untrained shared beacon embedding is "
                             f"worse than no memory at all: the condensing has to be learned, which is what the paper "
                             f"trains MHA^b for.",
                  caption_zh=f"最后一个窗口的输出相对全注意力的误差，以直接丢弃历史时的误差为 1 作归一化（{N_TRIALS} 个"
                             f"随机玩具模型的均值与范围，{N_WINDOWS} 个 {Config().window} token 的窗口）。以所覆盖的"
                             f"最后一个 token 初始化的 beacon 在 alpha=1 时几乎没有损失（若 beacon 之间互不可见则完全无损），alpha "
                             f"越大损失越多。未经训练的共享 beacon 嵌入反而比不保留记忆更差：压缩必须靠学习得到，"
                             f"论文训练 MHA^b 正是为此。",
                  function="reference_impls.activation_beacon.demo.fig_info_lost", seed=SEED,
                  params={"alphas": ALPHAS, "trials": N_TRIALS, "windows": N_WINDOWS, "window": Config().window})


def run(out_dir: Path) -> DemoResult:
    rng = np.random.default_rng(SEED)
    cfg = Config()
    progress(1, 4, "alpha = 1 beacons vs full causal attention")
    exact_cfg = replace(cfg, beacon_attend_beacons=False)
    params = init_params(cfg, rng)
    tokens = rng.integers(0, cfg.vocab, N_WINDOWS * cfg.window)
    diff = np.max(np.abs(beacon_forward(params, exact_cfg, tokens, 1)[0] - full_forward(params, cfg, tokens)))

    progress(2, 4, f"information lost vs alpha ({N_TRIALS} toy models)")
    lost_copy, lost_token = [], []
    for _ in range(N_TRIALS):
        params = init_params(cfg, rng)
        tokens = rng.integers(0, cfg.vocab, N_WINDOWS * cfg.window)
        lost_copy.append(info_lost(params, cfg, tokens, ALPHAS))
        lost_token.append(info_lost(params, replace(cfg, beacon_input="token"), tokens, ALPHAS))
    lost_copy, lost_token = np.array(lost_copy), np.array(lost_token)
    mean = dict(zip(ALPHAS, lost_copy.mean(axis=0)))

    progress(3, 4, "KV memory from 4K to 400K tokens")
    c, w = LLAMA["context"], LLAMA["window"]
    reach = max_context_length(c, w, 128)
    full_gib, beacon_gib = kv_gib(kv_cache_size(reach, w, None)), kv_gib(kv_cache_size(reach, w, 128))

    progress(4, 4, "figures")
    figures = [fig_mask(out_dir, rng), fig_kv_memory(out_dir, rng), fig_info_lost(out_dir, rng, lost_copy, lost_token)]
    metrics = [
        Metric("alpha1_max_abs_diff", float(diff), "alpha=1 beacons vs full attention, max |difference|",
               "alpha=1 的 beacon 与全注意力的最大绝对差"),
        Metric("reach_alpha128", reach, "Reachable context, C=4096, w=1024, alpha=128",
               "可处理的上下文长度（C=4096，w=1024，alpha=128）", unit="tokens"),
        Metric("kv_full_at_reach", round(full_gib, 2), f"Full-attention KV cache at {reach:,} tokens (Llama-2-7B)",
               f"{reach:,} 个 token 时全注意力的 KV 缓存（Llama-2-7B）", unit="GiB"),
        Metric("kv_beacon_at_reach", round(beacon_gib, 2), f"Beacon KV cache at {reach:,} tokens, alpha=128",
               f"{reach:,} 个 token 时 beacon 的 KV 缓存（alpha=128）", unit="GiB"),
        Metric("info_lost_alpha1", round(float(mean[1]), 3), "Information lost, alpha=1 (toy)",
               "信息损失，alpha=1（玩具模型）"),
        Metric("info_lost_alpha2", round(float(mean[2]), 3), "Information lost, alpha=2 (toy)",
               "信息损失，alpha=2（玩具模型）"),
        Metric("info_lost_alpha8", round(float(mean[8]), 3), "Information lost, alpha=8 (toy)",
               "信息损失，alpha=8（玩具模型）"),
        Metric("info_lost_alpha32", round(float(mean[32]), 3), "Information lost, alpha=32 (toy)",
               "信息损失，alpha=32（玩具模型）"),
    ]
    return DemoResult(metrics=metrics, figures=figures)


if __name__ == "__main__":
    main(run)
