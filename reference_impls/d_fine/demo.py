"""Demo: D-FINE's weighting function W(n), and layer-by-layer distribution refinement on synthetic boxes."""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from reference_impls.demo_io import DemoResult, Figure, Metric, main, progress, save_svg
from reference_impls.d_fine.model import Config, evaluate, make_boxes, softmax, train, weighting_function

SEED = 0
N_TEST = 2048
# Knobs a reader may change (digest serve's Run box, the notebook, --seed etc.): allowed ranges.
KNOBS = {
    "SEED": {"min": 0, "max": 9999, "en": "random seed", "zh": "随机种子"},
    "N_TEST": {"min": 256, "max": 4096, "en": "held-out test boxes", "zh": "留出测试框的数量"},
}


def fig_weighting_function(out_dir: Path, cfg: Config) -> Figure:
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(8, 3.3))
    n = np.arange(cfg.reg_max + 1)
    for c, style in ((cfg.reg_scale / 4, ":"), (cfg.reg_scale, "-"), (cfg.reg_scale * 4, "--")):
        W = weighting_function(cfg.reg_max, cfg.up, c) / c
        ax.plot(n, W, style, marker="o", ms=2.5, lw=1.3, label=f"c = {c:g}")
    ax.axhline(0, color="grey", lw=0.6)
    ax.axvline(cfg.reg_max / 2, color="grey", lw=0.6)
    ax.set_xlabel("bin n")
    ax.set_ylabel("W(n) / c  (box sizes)")
    ax.set_title(f"W(n), N = {cfg.reg_max}, a = {cfg.up:g}")
    ax.legend(fontsize=8)
    W = weighting_function(cfg.reg_max, cfg.up, cfg.reg_scale) / cfg.reg_scale
    mid = cfg.reg_max // 2
    ax2.semilogy(np.arange(mid + 1, cfg.reg_max + 1), np.diff(W)[mid:], "o-", ms=3, label="W(n) - W(n-1)")
    ax2.axhline(2 * cfg.up / (cfg.reg_max - 2), color="tab:red", ls="--", lw=1, label="uniform bins over [-a, a]")
    ax2.set_xticks(np.arange(mid, cfg.reg_max + 1, 4))
    ax2.set_xlabel("bin n (right half)")
    ax2.set_ylabel("bin spacing (box sizes)")
    ax2.set_title(f"spacing, c = {cfg.reg_scale:g}")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return Figure(file=save_svg(fig, out_dir, "weighting_function.svg"),
                  caption_en=(f"Left: the weighting function W(n) of the official code for N = {cfg.reg_max}, "
                              f"a = {cfg.up:g} and three curvatures c, in box sizes. It is zero at the middle bin, "
                              "odd about it, equal to -a and +a at bins 1 and N-1 and to -2a and +2a at the two end "
                              "bins; a larger c flattens it near the centre and steepens it towards the ends. Right: "
                              "the spacing between neighbouring bins grows away from the centre, so small "
                              "corrections are resolved far more finely than with uniform bins."),
                  caption_zh=(f"左:官方代码中的加权函数 W(n)(N = {cfg.reg_max},a = {cfg.up:g},"
                              "取三种曲率 c,单位为框的尺寸)。它在中间的 bin 处为零、关于该点奇对称,"
                              "在第 1 和第 N-1 个 bin 处分别为 -a 和 +a,在两端分别为 -2a 和 +2a;"
                              "c 越大,曲线在中心附近越平、向两端越陡。右:相邻 bin 的间距从中心向两端增大,"
                              "因此小幅修正的分辨率远高于均匀划分。"),
                  function="reference_impls.d_fine.demo.fig_weighting_function", seed=SEED,
                  params={"reg_max": cfg.reg_max, "up": cfg.up, "reg_scale": cfg.reg_scale})


def fig_error_per_layer(out_dir: Path, cfg: Config, ev: dict, ev_ind: dict) -> Figure:
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(8, 3.3))
    layers = np.arange(cfg.num_layers + 1)
    for e, label, style in ((ev, "FDR (residual logits)", "o-"), (ev_ind, "independent layers (ablation)", "s--")):
        ax.plot(layers, e["err"], style, label=label)
        ax2.plot(layers, e["iou"], style, label=label)
    ax.set_ylabel("mean |edge error|  (box sizes)")
    ax2.set_ylabel("mean IoU with ground truth")
    for a in (ax, ax2):
        a.set_xlabel("decoder layer (0 = initial box)")
        a.set_xticks(layers)
        a.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return Figure(file=save_svg(fig, out_dir, "error_per_layer.svg"),
                  caption_en=(f"Localisation on {N_TEST} held-out synthetic boxes after training with the FGL loss "
                              "at every layer. With residual refinement each layer adds its logits to the previous "
                              "layer's distribution, so the edge error falls and the IoU rises layer by layer; when "
                              "every layer predicts its distribution from scratch (ablation), nothing improves "
                              "after the first layer."),
                  caption_zh=(f"在 {N_TEST} 个留出的合成框上的定位结果(每一层都用 FGL 损失训练)。采用残差细化时,"
                              "每层把自己的 logits 加到上一层的分布上,边缘误差逐层下降、IoU 逐层上升;若每层都从头预测"
                              "分布(消融),第一层之后就不再改进。"),
                  function="reference_impls.d_fine.demo.fig_error_per_layer", seed=SEED,
                  params={"num_layers": cfg.num_layers, "n_train": cfg.n_boxes, "n_test": N_TEST,
                          "noise_std": cfg.noise_std, "offset_std": cfg.offset_std, "steps": cfg.steps})


def fig_distribution(out_dir: Path, cfg: Config, ev: dict, target_offset: float = 0.2) -> Figure:
    phi = ev["phi"].reshape(-1)
    k = int(np.argmin(np.abs(phi - target_offset)))            # the test edge whose true offset is nearest 0.2
    W = weighting_function(cfg.reg_max, cfg.up, cfg.reg_scale) / cfg.reg_scale
    p = softmax(ev["logits"].reshape(cfg.num_layers, -1, cfg.reg_max + 1)[:, k])
    fig, ax = plt.subplots(figsize=(6, 3.3))
    shown = [0, 1, 3, cfg.num_layers - 1]
    colors = plt.cm.viridis(np.linspace(0, 0.85, len(shown)))
    for c, l in zip(colors, shown):
        ax.plot(W, p[l], "o-", ms=3, color=c, label=f"layer {l + 1}: offset {p[l] @ W:+.3f}")
    ax.axvline(phi[k], color="tab:red", ls="--", lw=1.2, label=f"true offset {phi[k]:+.3f}")
    ax.set_xlim(-0.55, 0.55)
    ax.set_xlabel("W(n) / c  (edge offset, box sizes)")
    ax.set_ylabel("Pr(n)")
    ax.legend(fontsize=8)
    return Figure(file=save_svg(fig, out_dir, "distribution_refinement.svg"),
                  caption_en=("One edge's distribution over the bins after layers 1, 2, 4 and 6, drawn at the bin "
                              "positions W(n)/c (which is why the points crowd near zero). Each layer's residual "
                              "logits sharpen the distribution around the true offset; the decoded offset "
                              "sum_n W(n) Pr(n) is given in the legend."),
                  caption_zh=("某一条边在第 1、2、4、6 层之后的 bin 分布,横轴是各 bin 的位置 W(n)/c(所以点在零附近"
                              "更密)。每层的残差 logits 使分布在真实偏移附近逐渐变尖;图例给出解码得到的偏移 "
                              "sum_n W(n) Pr(n)。"),
                  function="reference_impls.d_fine.demo.fig_distribution", seed=SEED,
                  params={"edge_index": k, "target_offset": target_offset, "layers_shown": [l + 1 for l in shown]})


def run(out_dir: Path) -> DemoResult:
    rng = np.random.default_rng(SEED)
    cfg = Config()
    progress(1, 4, "synthetic boxes and per-layer readings")
    data = make_boxes(cfg, rng)
    test = make_boxes(Config(n_boxes=N_TEST), rng)
    progress(2, 4, "training the decoder heads with FGL: residual refinement and the independent-layer ablation")
    theta, _ = train(cfg, data, residual=True)
    theta_ind, _ = train(cfg, data, residual=False)
    ev, ev_ind = evaluate(cfg, theta, test, True), evaluate(cfg, theta_ind, test, False)
    progress(3, 4, "figures: W(n) and error per layer")
    figs = [fig_weighting_function(out_dir, cfg), fig_error_per_layer(out_dir, cfg, ev, ev_ind)]
    progress(4, 4, "figure: one distribution across layers")
    figs.append(fig_distribution(out_dir, cfg, ev))
    L = cfg.num_layers
    metrics = [
        Metric("err_initial", ev["err"][0], "Mean edge error of the initial boxes", "初始框的平均边缘误差",
               unit="box sizes"),
        Metric("err_layer1", ev["err"][1], "Mean edge error after layer 1", "第 1 层之后的平均边缘误差",
               unit="box sizes"),
        Metric("err_last", ev["err"][L], f"Mean edge error after layer {L} (FDR)", f"第 {L} 层之后的平均边缘误差(FDR)",
               unit="box sizes"),
        Metric("err_last_independent", ev_ind["err"][L], f"Mean edge error after layer {L}, independent layers",
               f"各层独立预测时第 {L} 层之后的平均边缘误差", unit="box sizes"),
        Metric("iou_initial", ev["iou"][0], "Mean IoU of the initial boxes", "初始框的平均 IoU"),
        Metric("iou_last", ev["iou"][L], f"Mean IoU after layer {L} (FDR)", f"第 {L} 层之后的平均 IoU(FDR)"),
        Metric("entropy_layer1", ev["entropy"][0], "Mean entropy of the edge distributions, layer 1",
               "第 1 层边缘分布的平均熵", unit="nats"),
        Metric("entropy_last", ev["entropy"][L - 1], f"Mean entropy of the edge distributions, layer {L}",
               f"第 {L} 层边缘分布的平均熵", unit="nats"),
    ]
    return DemoResult(metrics=metrics, figures=figs)


if __name__ == "__main__":
    main(run)
