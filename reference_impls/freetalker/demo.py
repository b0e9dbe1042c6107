"""FreeTalker toy: chained speech/text clips with DoubleTake transitions, and classifier-free guidance strength.

Run from the repository root: ``python -m reference_impls.freetalker.demo --out out``.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core, as the demo contract asks

from pathlib import Path  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from reference_impls.demo_io import DemoResult, Figure, Metric, main, progress, save_svg  # noqa: E402
from reference_impls.freetalker.model import (  # noqa: E402
    TEXTS, Config, chain_frames, double_take, hand_audio_corr, hard_cut, make_clips, make_dataset, sample, seam_jump,
    train)

SEED = 0
N_TRAIN = 4000                       # training clips, half speech-driven, half text-driven
N_CHAINS = 128                       # chains "walk -> speech -> wave" for the seam statistics
# Knobs a reader may change (digest serve's Run box, the notebook, --seed etc.): allowed ranges.
KNOBS = {
    "SEED": {"min": 0, "max": 9999, "en": "random seed", "zh": "随机种子"},
    "N_CHAINS": {"min": 16, "max": 256, "en": "chains for the seam statistics", "zh": "用于衔接统计的链数"},
}
WEIGHTS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)


def fig_doubletake(out_dir: Path, hard, take1, take2, audio, cfg: Config) -> Figure:
    """One chain (walk, speech gesture, wave): root and hand over time, and the per-frame velocity jump."""
    seams, radius = chain_frames(3, cfg)[0], cfg.handshake // 2 + cfg.blend
    frames = np.arange(hard.shape[0])
    fig, axes = plt.subplots(3, 1, figsize=(7.5, 6.5), sharex=True, layout="constrained")
    for ax, ch, name in ((axes[0], 0, "root position"), (axes[1], 1, "hand height")):
        ax.plot(frames, hard[:, ch], color="0.6", label="hard cut (clips sampled separately)")
        ax.plot(frames, take1[:, ch], color="tab:orange", lw=1, label="take 1 (shared handshake)")
        ax.plot(frames, take2[:, ch], color="tab:blue", label="DoubleTake (take 2)")
        ax.set_ylabel(name)
    start = seams[0] - cfg.handshake // 2                            # first frame of the speech clip
    axes[1].plot(frames[start:start + len(audio)], 0.8 * audio, ":", color="k", lw=1, label="0.8 x audio energy")
    axes[0].legend(fontsize=7, loc="upper left")
    axes[1].legend(fontsize=7, loc="upper left")
    for motion, color, label in ((hard, "0.6", "hard cut"), (take1, "tab:orange", "take 1"),
                                 (take2, "tab:blue", "DoubleTake")):
        axes[2].plot(frames[1:-1], np.linalg.norm(np.diff(motion, n=2, axis=0), axis=-1), color=color, label=label)
    axes[2].set_ylabel("||v_k - v_(k-1)||")
    axes[2].set_xlabel("frame")
    axes[2].legend(fontsize=7)
    for ax in axes:
        for s in seams:
            ax.axvspan(s - radius, s + radius, color="tab:blue", alpha=0.08)
    axes[0].set_title(f"{TEXTS[0]} -> speech gesture -> {TEXTS[1]}", fontsize=9)
    return Figure(file=save_svg(fig, out_dir, "doubletake.svg"),
                  caption_en="Three clips from one denoiser: a text-driven walk, a speech-driven gesture, a "
                             "text-driven wave. Sampled separately and cut together, the clips jump at each seam "
                             "(grey). Take 1 shares a handshake between neighbours. Take 2 re-generates the shaded "
                             "window from both neighbours by soft-mask inpainting. The bottom panel shows the "
                             "frame-to-frame velocity change, which spikes at a hard cut.",
                  caption_zh="同一个去噪器生成的三段动作:文本驱动的行走、语音驱动的手势、文本驱动的挥手。"
                             "各段单独采样后直接拼接,每个接缝处都会跳变(灰线)。第一遍让相邻片段共享握手帧;"
                             "第二遍以两侧片段为条件,用软掩码补全重新生成阴影窗口。下图为逐帧速度变化量,"
                             "硬拼接处出现尖峰。",
                  function="reference_impls.freetalker.demo.fig_doubletake", seed=SEED,
                  params={"handshake": cfg.handshake, "blend": cfg.blend, "skip_frac": cfg.skip_frac,
                          "n_steps": cfg.n_steps})


def fig_guidance(out_dir: Path, audio, hands, corr, data_corr, cfg: Config) -> Figure:
    """Left: one speech clip's hand under several guidance scales. Right: hand-audio correlation vs w."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    ax1.plot(0.8 * audio, ":", color="k", label="0.8 x audio energy (condition)")
    for w, hand in hands.items():
        ax1.plot(hand, label=f"w = {w:g}")
    ax1.set_xlabel("frame")
    ax1.set_ylabel("hand height")
    ax1.legend(fontsize=7)
    mean, std = corr.mean(1), corr.std(1)
    ax2.plot(WEIGHTS, mean, "o-", label="generated (mean over clips)")
    ax2.fill_between(WEIGHTS, mean - std, mean + std, alpha=0.2)
    ax2.axhline(data_corr, color="gray", ls=":", label="training data")
    ax2.set_xlabel("guidance scale w")
    ax2.set_ylabel("corr(hand, audio energy)")
    ax2.legend(fontsize=7, loc="lower right")
    return Figure(file=save_svg(fig, out_dir, "guidance.svg"),
                  caption_en="Classifier-free guidance on speech-driven clips: G_w = G(x_t, t, 0) + w (G(x_t, t, c) "
                             "- G(x_t, t, 0)). At w = 0 the hand ignores the audio, and at w = 1 it follows it. A "
                             "larger w tracks the audio's shape even more closely but exaggerates the movement. Left: "
                             "one clip, with the same noise for every w. Right: the mean over clips, with one "
                             "standard deviation.",
                  caption_zh="对语音驱动片段施加无分类器引导:G_w = G(x_t, t, 0) + w (G(x_t, t, c) - G(x_t, t, 0))。"
                             "w = 0 时手部动作与音频无关,w = 1 时跟随音频;w 更大时与音频起伏贴合得更紧,"
                             "但动作幅度被夸大。左:同一片段,各 w 使用相同噪声;右:全部片段的均值及一个标准差。",
                  function="reference_impls.freetalker.demo.fig_guidance", seed=SEED,
                  params={"weights": list(WEIGHTS), "n_clips": corr.shape[1]})


def run(out_dir: Path) -> DemoResult:
    rng = np.random.default_rng(SEED)
    cfg = Config()
    progress(1, 4, f"closed-form training of the denoiser on {N_TRAIN} mixed speech/text clips")
    model = train(*make_dataset(rng, N_TRAIN, cfg), cfg, rng)
    progress(2, 4, f"{N_CHAINS} chains walk -> speech -> wave: hard cut vs DoubleTake")
    conds = np.stack([make_clips(rng, N_CHAINS, cfg, "text", 0)[1], make_clips(rng, N_CHAINS, cfg, "speech")[1],
                      make_clips(rng, N_CHAINS, cfg, "text", 1)[1]], axis=1)
    take1, take2 = double_take(model, conds, 1.0, cfg, rng)
    hard = hard_cut(model, conds, 1.0, cfg, rng)
    (seams, middles), radius = chain_frames(3, cfg), cfg.handshake // 2 + cfg.blend
    jump = {name: float(seam_jump(m, seams, radius).mean()) for name, m in
            (("hard", hard), ("take1", take1), ("take2", take2))}
    in_clip = float(seam_jump(hard, middles, radius).mean())
    progress(3, 4, "guidance scale sweep on speech-driven clips")
    x_speech, c_speech = make_clips(rng, 256, cfg, "speech")
    audio = c_speech[:, :cfg.n_frames]
    seed = int(rng.integers(2**32))                                     # same noise for every w
    samples = {w: sample(model, c_speech, w, cfg, np.random.default_rng(seed)) for w in WEIGHTS}
    corr = np.stack([hand_audio_corr(samples[w], audio) for w in WEIGHTS])
    data_corr = float(hand_audio_corr(x_speech, audio).mean())
    x_walk, c_walk = make_clips(rng, 256, cfg, "text", 0)
    walk = sample(model, c_walk, 1.0, cfg, rng).reshape(256, -1, 2)
    data_walk = float((x_walk.reshape(256, -1, 2)[:, -1, 0] - x_walk.reshape(256, -1, 2)[:, 0, 0]).mean())
    progress(4, 4, "figures")
    hands = {w: samples[w][0].reshape(-1, 2)[:, 1] for w in (0.0, 1.0, 3.0)}
    figures = [fig_doubletake(out_dir, hard[0], take1[0], take2[0], conds[0, 1, :cfg.n_frames], cfg),
               fig_guidance(out_dir, audio[0], hands, corr, data_corr, cfg)]
    c = dict(zip(WEIGHTS, corr.mean(1)))
    metrics = [
        Metric("seam_jump_hard_cut", jump["hard"], "Largest velocity jump near a seam, hard cut",
               "接缝附近最大速度跳变(硬拼接)"),
        Metric("seam_jump_take1", jump["take1"], "Largest velocity jump near a seam, take 1 (handshake only)",
               "接缝附近最大速度跳变(仅第一遍,共享握手帧)"),
        Metric("seam_jump_doubletake", jump["take2"], "Largest velocity jump near a seam, DoubleTake",
               "接缝附近最大速度跳变(DoubleTake)"),
        Metric("in_clip_jump", in_clip, "Same statistic in the middle of clips (reference)",
               "片段中部的同一统计量(参照)"),
        Metric("corr_w0", c[0.0], "corr(hand, audio) of speech clips, w = 0", "语音片段手部与音频的相关系数,w = 0"),
        Metric("corr_w1", c[1.0], "corr(hand, audio) of speech clips, w = 1", "语音片段手部与音频的相关系数,w = 1"),
        Metric("corr_w3", c[3.0], "corr(hand, audio) of speech clips, w = 3", "语音片段手部与音频的相关系数,w = 3"),
        Metric("walk_root_displacement", float((walk[:, -1, 0] - walk[:, 0, 0]).mean()),
               f"Root displacement of generated '{TEXTS[0]}' clips (data: {data_walk:.2f})",
               f"生成的“{TEXTS[0]}”片段的根节点位移(数据中为 {data_walk:.2f})"),
    ]
    return DemoResult(metrics=metrics, figures=figures)


if __name__ == "__main__":
    main(run)
