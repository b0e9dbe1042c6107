"""FlightLLM demo: sparse DSP-chain utilisation per pattern, and modelled decode traffic per mode."""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from reference_impls.demo_io import DemoResult, Figure, Metric, main, progress, save_svg
from reference_impls.flightllm.model import (
    Config, block_mask, block_sparse_matmul, chain_schedule, compress_nm, decode_ops,
    decode_time_ns, dram_traffic, int8_datapath_matvec, nm_mask, nm_sparse_matmul,
    quantise_act_int8, quantise_groups,
)

SEED = 0
# Knobs a reader may change (digest serve's Run box, the notebook, --seed etc.): allowed ranges.
KNOBS = {"SEED": {"min": 0, "max": 9999, "en": "random seed", "zh": "随机种子"}}
ROWS, COLS = 128, 512
MIXED_BITS = {"qkv": 4, "o": 4, "gate_up": 3, "down": 4}   # toy mixed-precision assignment


def sparsity_sweep(rng, cfg: Config) -> dict:
    """Cycles and utilisation of a fixed chain and a CSD-chain for several sparsity patterns."""
    W = rng.standard_normal((ROWS, COLS))
    L = cfg.chain_len
    patterns = {"dense": (np.ones_like(W, dtype=bool), 4)}
    for N, M in [(2, 4), (1, 4), (4, 8), (4, 16)]:
        patterns[f"{N}:{M}"] = (nm_mask(W, N, M), M)
    patterns["block 50%"] = (block_mask(W, 8, L, 0.5), 4)
    patterns["unstr. 50%"] = (rng.random(W.shape) < 0.5, 4)
    dense = chain_schedule(patterns["dense"][0], 4, L, "dense")
    out = {}
    for name, (mask, M) in patterns.items():
        fixed, csd = chain_schedule(mask, M, L, "fixed"), chain_schedule(mask, M, L, "csd")
        out[name] = {"fixed": fixed, "csd": csd, "density": float(mask.mean()),
                     "cycles_fixed": fixed["cycles"] / dense["cycles"],
                     "cycles_csd": csd["cycles"] / dense["cycles"]}
    X = rng.standard_normal((4, COLS))
    m24 = patterns["2:4"][0]
    vals, idx = compress_nm(W, m24, 2, 4)
    err_nm = np.abs(nm_sparse_matmul(vals, idx, X, 4) - X @ (W * m24).T).max()
    bm = patterns["block 50%"][0]
    err_blk = np.abs(block_sparse_matmul(W, bm, X, 8, L) - X @ (W * bm).T).max()
    return {"patterns": out, "kernel_err": float(max(err_nm, err_blk)), "W": W}


def fig_chain_utilisation(out_dir: Path, sweep: dict, cfg: Config) -> Figure:
    names = list(sweep["patterns"])
    pos = np.arange(len(names))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, key, title in [(axes[0], "cycles", "Chain cycles (dense = 1)"),
                           (axes[1], "utilisation", "DSP lane utilisation")]:
        for k, (mode, color) in enumerate([("fixed", "#bbbbbb"), ("csd", "#1f77b4")]):
            if key == "cycles":
                vals = [sweep["patterns"][n][f"cycles_{mode}"] for n in names]
            else:
                vals = [sweep["patterns"][n][mode]["utilisation"] for n in names]
            label = "fixed chain + sparse MUX" if mode == "fixed" else "CSD-chain (+ reduction nodes)"
            ax.bar(pos + (k - 0.5) * 0.38, vals, 0.38, color=color, label=label)
        if key == "cycles":
            dens = [sweep["patterns"][n]["density"] for n in names]
            ax.plot(pos, dens, "k_", markersize=18, mew=2, label="weight density (ideal)")
        ax.set_xticks(pos, names, rotation=30)
        ax.set_ylim(0, 1.4)
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.set_title(title)
    axes[0].legend(fontsize=7, loc="upper center", ncol=2)
    fig.tight_layout()
    return Figure(
        file=save_svg(fig, out_dir, "chain_utilisation.svg"),
        caption_en=(f"Cycle-count model of one chain of {cfg.chain_len} DSP lanes computing a "
                    f"{ROWS}x{COLS} matrix-vector product. With N:M weights the reduction nodes let the "
                    "chain serve M/N rows per cycle, so cycles fall to the weight density at full "
                    "utilisation; a chain that cannot break keeps dense cycles. Block sparsity is "
                    "handled by skipping empty tiles. Unstructured pruning at 50% density needs room "
                    "for the densest block and gains almost nothing."),
        caption_zh=(f"一条含 {cfg.chain_len} 个 DSP 通道的链计算 {ROWS}x{COLS} 矩阵-向量乘时的周期计数模型。"
                    "对 N:M 权重，归约节点让链每周期服务 M/N 行，周期数降到权重密度且利用率保持满载；"
                    "不能断开的固定链周期数与稠密相同。块稀疏靠跳过全零分块来处理。"
                    "同为 50% 密度的非结构化剪枝必须按最密的块分配通道，几乎得不到加速。"),
        function="reference_impls.flightllm.demo.fig_chain_utilisation", seed=SEED,
        params={"rows": ROWS, "cols": COLS, "chain_len": cfg.chain_len},
    )


def fig_decode_traffic(out_dir: Path, cfg: Config) -> tuple[Figure, dict]:
    cases = {}
    for wname, bits in [("INT8 W", None), ("mixed W", MIXED_BITS)]:
        for mode, on in [("off-chip", False), ("on-chip", True)]:
            cases[f"{mode}\n{wname}"] = dram_traffic(cfg, on, bits)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    names = list(cases)
    bottom = np.zeros(len(names))
    for part, color in [("weight", "#1f77b4"), ("kv", "#ff7f0e"), ("act", "#d62728")]:
        vals = np.array([cases[n][part] for n in names]) / 1e9
        axes[0].bar(names, vals, bottom=bottom, color=color, label=part)
        bottom += vals
    for i, n in enumerate(names):
        axes[0].text(i, bottom[i], f"{cases[n]['transfers']:.0f} transfers", ha="center",
                     va="bottom", fontsize=7)
    axes[0].set_ylabel("DRAM bytes per token (GB)")
    axes[0].set_ylim(0, bottom.max() * 1.15)
    axes[0].legend(fontsize=7)
    axes[0].set_title("Counted DRAM traffic, one decode step")
    t0s = np.geomspace(10, 1e5, 40)
    for name, ls in [("off-chip\nmixed W", "--"), ("on-chip\nmixed W", "-")]:
        u = [decode_time_ns(cases[name], cfg, t0)[1] for t0 in t0s]
        axes[1].semilogx(t0s, u, ls, label=name.replace("\n", ", "))
    axes[1].axvline(cfg.t0_ns, color="gray", lw=0.8)
    axes[1].set_xlabel("assumed fixed cost per DRAM transfer t0 (ns)")
    axes[1].set_ylabel("modelled bandwidth utilisation")
    axes[1].legend(fontsize=7)
    axes[1].set_title("Utilisation under the s/BW + t0 model")
    fig.tight_layout()
    mean_bits = sum(o["w"] * o["w_bits"] for o in decode_ops(cfg, MIXED_BITS)) / sum(
        o["w"] for o in decode_ops(cfg))
    figure = Figure(
        file=save_svg(fig, out_dir, "decode_traffic.svg"),
        caption_en=("Counted per-token DRAM traffic of a LLaMA2-7B-shaped decoder (32 layers, "
                    f"context {cfg.context}) with INT8 weights or a toy mixed-precision assignment "
                    f"(mean {mean_bits:.2f} bits). Off-chip decode adds few bytes but many small "
                    "transfers; under the assumed cost s/BW + t0 per transfer this lowers bandwidth "
                    "utilisation as t0 grows. These are model counts, not hardware measurements."),
        caption_zh=("按 LLaMA2-7B 形状（32 层，上下文 "
                    f"{cfg.context}）逐 token 统计的 DRAM 访存量，权重为 INT8 或一个玩具混合精度方案"
                    f"（平均 {mean_bits:.2f} 比特）。片外解码增加的字节很少，但增加了大量小粒度传输；"
                    "在每次传输代价为 s/BW + t0 的假设下，t0 越大带宽利用率越低。"
                    "图中数字来自模型计数，不是硬件实测。"),
        function="reference_impls.flightllm.demo.fig_decode_traffic", seed=SEED,
        params={"context": cfg.context, "act_bits": cfg.act_bits, "bw_bytes_per_ns": cfg.bw_bytes_per_ns,
                "mixed_bits": MIXED_BITS},
    )
    return figure, cases


def run(out_dir: Path) -> DemoResult:
    rng = np.random.default_rng(SEED)
    cfg = Config()
    progress(1, 3, "sparse kernels and chain schedules")
    sweep = sparsity_sweep(rng, cfg)
    fig1 = fig_chain_utilisation(out_dir, sweep, cfg)
    progress(2, 3, "mixed-precision INT8 datapath")
    W, x = sweep["W"], rng.standard_normal(COLS)
    qx, sx = quantise_act_int8(x)
    q, s = quantise_groups(W, 3, 32)
    ref = (q * s).reshape(W.shape) @ (qx * sx)
    int8_err = float(np.abs(int8_datapath_matvec(q, s, qx, sx) - ref).max() / np.abs(ref).max())
    progress(3, 3, "decode traffic model")
    fig2, cases = fig_decode_traffic(out_dir, cfg)
    off, on = cases["off-chip\nmixed W"], cases["on-chip\nmixed W"]
    p = sweep["patterns"]
    metrics = [
        Metric("mac_ratio_2_4", p["2:4"]["csd"]["useful_macs"] / p["2:4"]["csd"]["dense_macs"],
               "Issued MACs with 2:4 weights / dense MACs", "2:4 权重下发出的乘加数 / 稠密乘加数"),
        Metric("csd_utilisation_2_4", p["2:4"]["csd"]["utilisation"],
               "CSD-chain lane utilisation, 2:4", "CSD 链通道利用率（2:4）"),
        Metric("unstructured_utilisation_50", p["unstr. 50%"]["csd"]["utilisation"],
               "CSD-chain utilisation, unstructured 50%", "CSD 链利用率（50% 非结构化稀疏）"),
        Metric("sparse_kernel_max_abs_err", sweep["kernel_err"],
               "Max |sparse kernel - masked dense|", "稀疏核与掩码稠密乘的最大绝对误差"),
        Metric("int8_datapath_rel_err", int8_err, "3-bit weights on INT8 datapath: relative error "
               "vs dequantised product", "3 比特权重走 INT8 数据通路相对反量化乘积的误差"),
        Metric("act_share_off_chip", off["act"] / off["total"], "Activation share of off-chip "
               "decode DRAM bytes (model)", "片外解码 DRAM 字节中激活所占比例（模型）"),
        Metric("bw_util_off_chip", decode_time_ns(off, cfg)[1],
               f"Modelled BW utilisation, off-chip decode (t0 = {cfg.t0_ns:.0f} ns)",
               f"模型带宽利用率，片外解码（t0 = {cfg.t0_ns:.0f} ns）"),
        Metric("bw_util_on_chip", decode_time_ns(on, cfg)[1],
               f"Modelled BW utilisation, always-on-chip decode (t0 = {cfg.t0_ns:.0f} ns)",
               f"模型带宽利用率，全片上解码（t0 = {cfg.t0_ns:.0f} ns）"),
    ]
    return DemoResult(metrics=metrics, figures=[fig1, fig2])


if __name__ == "__main__":
    main(run)
