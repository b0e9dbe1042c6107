"""From-scratch character GPT demo: train on a short text, watch the loss fall, read what it predicts and writes."""

import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from reference_impls.demo_io import DemoResult, Figure, Metric, main, progress, save_svg
from reference_impls.llm_from_scratch_middle_school_math.model import (
    Config,
    build_vocab,
    cross_entropy,
    decode,
    encode,
    forward,
    generate,
    init_params,
    loss_and_grads,
    n_params,
    softmax,
    train,
)

SEED = 0
STEPS = 700
# Knobs a reader may change (digest serve's Run box, the notebook, --seed etc.): allowed ranges.
KNOBS = {
    "SEED": {"min": 0, "max": 9999, "en": "random seed", "zh": "随机种子"},
    "STEPS": {"min": 100, "max": 1400, "en": "training steps", "zh": "训练步数"},
}
BATCH = 8  # small matrices: every product stays single-threaded in OpenBLAS, so one core is enough
# Our own short training text (a few hundred characters, written for this demo).
TEXT = (
    "every letter is a number, and every number can be a letter.\n"
    "the model adds and multiplies the numbers it is given.\n"
    "it guesses the next letter, checks the guess, and nudges each weight.\n"
    "the cat sat on the mat. the dog sat on the log. the frog sat on the dog.\n"
    "small steps downhill make every guess a little better.\n"
    "attention lets each letter look back at the letters before it.\n"
    "no letter may peek at the letters that come after it.\n"
    "the cat sat on the log. the dog sat on the mat. the frog sat on the cat.\n"
)
PROMPTS = ("the frog sat o", "attention lets each l", "every number can be a ")


def windows(data, cfg):
    """Every window of the text, for measuring the loss on the whole text at once."""
    idx = np.arange(len(data) - cfg.context)[:, None] + np.arange(cfg.context)[None, :]
    return data[idx], data[idx + 1]


def count_baselines(data, V):
    """Loss of guessing uniformly, by letter frequency, and by the previous letter only (counted bigrams)."""
    freq = np.bincount(data, minlength=V) / len(data)
    unigram = float(-np.log(freq[data[1:]]).mean())
    pairs = np.zeros((V, V))
    np.add.at(pairs, (data[:-1], data[1:]), 1.0)
    cond = pairs / pairs.sum(1, keepdims=True).clip(min=1)
    bigram = float(-np.log(cond[data[:-1], data[1:]]).mean())
    return float(np.log(V)), unigram, bigram


def grad_check(p, cfg, rng, n=40):
    """Largest relative gap between hand-written gradients and central differences over n random weights."""
    x, y = windows(encode(TEXT, build_vocab(TEXT)), cfg)
    x, y = x[:8], y[:8]
    _, grads = loss_and_grads(p, x, y, cfg)
    names = sorted(p)
    worst = 0.0
    for _ in range(n):
        name = names[int(rng.integers(len(names)))]
        idx = tuple(int(rng.integers(s)) for s in p[name].shape)
        if name == "E":
            idx = (int(x[0, 0]),) + idx[1:]
        old = p[name][idx]
        p[name][idx] = old + 1e-6
        up = cross_entropy(forward(p, x, cfg)[0], y)[0]
        p[name][idx] = old - 1e-6
        down = cross_entropy(forward(p, x, cfg)[0], y)[0]
        p[name][idx] = old
        num, ana = (up - down) / 2e-6, grads[name][idx]
        worst = max(worst, abs(num - ana) / max(abs(num) + abs(ana), 1e-6))
    return worst


def fig_loss(out_dir: Path, losses, baselines, final) -> Figure:
    uniform, unigram, bigram = baselines
    fig, ax = plt.subplots(figsize=(6, 3.5))
    steps = np.arange(1, len(losses) + 1)
    ax.plot(steps, losses, color="tab:blue", lw=0.5, alpha=0.5)
    ax.plot(steps[19:], np.convolve(losses, np.ones(20) / 20, "valid"), color="tab:blue", lw=2,
            label="training loss (batch; running mean of 20)")
    for level, text, style in ((uniform, "uniform guess, log V", ":"), (unigram, "letter frequencies", "-."),
                               (bigram, "previous letter only (bigram counts)", "--")):
        ax.axhline(level, color="k", lw=0.8, ls=style, label=f"{text}: {level:.2f}")
    ax.axhline(final, color="tab:red", lw=0.8, label=f"trained GPT on the whole text: {final:.2f}")
    ax.set(xlabel="training step", ylabel="cross-entropy (nats per character)", ylim=(0, None))
    ax.legend(fontsize=7)
    return Figure(
        file=save_svg(fig, out_dir, "loss_curve.svg"),
        caption_en="Training loss of the 2-layer character GPT, every gradient written by hand. Horizontal lines are "
        "count-based predictors on the same text: a uniform guess, letter frequencies, and the best guess from the "
        "previous letter alone. Attention over 16 characters of context takes the model well below all three.",
        caption_zh="两层字符级 GPT 的训练损失,所有梯度都是手写的。水平线是在同一段文本上靠计数得到的预测:"
        "均匀猜测、字母频率,以及只看前一个字母时的最佳猜测。借助对 16 个字符上下文的注意力,模型的损失"
        "明显低于这三条线。",
        function="reference_impls.llm_from_scratch_middle_school_math.demo.fig_loss",
        seed=SEED,
        params=dict(steps=STEPS, batch=BATCH, lr=0.003, context=16, d_model=32, n_heads=4, n_layers=2, d_ff=64),
    )


def fig_predictions(out_dir: Path, p, cfg, vocab, sample) -> Figure:
    fig = plt.figure(figsize=(8, 4.2))
    grid = fig.add_gridspec(2, len(PROMPTS), height_ratios=(1.4, 1))
    for j, prompt in enumerate(PROMPTS):
        probs = softmax(forward(p, encode(prompt, vocab)[None, -cfg.context :], cfg)[0][0, -1])
        top = np.argsort(-probs, kind="stable")[:6]
        ax = fig.add_subplot(grid[0, j])
        ax.bar(np.arange(6), probs[top], color="tab:blue")
        ax.set_xticks(np.arange(6), [repr(vocab[i])[1:-1].replace(" ", "␣") for i in top])
        ax.set(ylim=(0, 1), title=f"“{prompt}” → ?")
        ax.title.set_fontsize(8)
        if j == 0:
            ax.set_ylabel("p(next character)")
    ax = fig.add_subplot(grid[1, :])
    ax.axis("off")
    wrapped = "\n".join(textwrap.fill(line, 80) for line in sample.split("\n"))
    ax.text(0, 1, "sampled (temperature 0.8), prompt “the ”:\n\n" + wrapped, va="top", family="DejaVu Sans Mono",
            fontsize=8)
    return Figure(
        file=save_svg(fig, out_dir, "predictions.svg"),
        caption_en="Top: the softmax over the next character after three prompts, the model's numbers turned into "
        "probabilities. Bottom: text generated by repeatedly drawing a character from that distribution and "
        "appending it; with a few hundred characters of training text the model mostly recombines phrases it has seen.",
        caption_zh="上:三个提示之后下一个字符的 softmax 分布,即把模型输出的数字变成概率。下:反复从这个分布中"
        "抽取一个字符并接到末尾生成的文本;训练文本只有几百个字符,模型生成的内容大多是见过的短语的重新组合。",
        function="reference_impls.llm_from_scratch_middle_school_math.demo.fig_predictions",
        seed=SEED,
        params=dict(prompts=list(PROMPTS), temperature=0.8, generated_chars=160),
    )


def fig_attention(out_dir: Path, p, cfg, vocab) -> Figure:
    sentence = "the dog sat on t"
    _, cache = forward(p, encode(sentence, vocab)[None], cfg)
    A = cache["layers"][0]["ac"]["A"][0, :2]  # (heads, T, T); the first two heads
    fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.3))
    labels = [c.replace(" ", "␣") for c in sentence]
    for h, ax in enumerate(axes):
        ax.imshow(A[h], cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(sentence)), labels, fontsize=6)
        ax.set_yticks(range(len(sentence)), labels, fontsize=6)
        ax.set_title(f"layer 1, head {h + 1}", fontsize=8)
    axes[0].set_ylabel("position (query)")
    axes[0].set_xlabel("attends to (key)")
    fig.tight_layout()
    return Figure(
        file=save_svg(fig, out_dir, "attention.svg"),
        caption_en="Attention weights of two heads of the first block on one line. Every row is a softmax, so "
        "it sums to 1; the causal mask leaves the upper triangle at exactly zero, so no position reads a later "
        "character. Different heads learn to look at different earlier positions.",
        caption_zh="第一个模块中两个注意力头在一句话上的注意力权重。每一行都是一次 softmax,和为 1;因果掩码让"
        "上三角恰好为零,任何位置都读不到后面的字符。不同的头学会关注不同的前文位置。",
        function="reference_impls.llm_from_scratch_middle_school_math.demo.fig_attention",
        seed=SEED,
        params=dict(sentence=sentence, layer=1, heads=[1, 2]),
    )


def run(out_dir: Path) -> DemoResult:
    rng = np.random.default_rng(SEED)
    vocab = build_vocab(TEXT)
    data = encode(TEXT, vocab)
    cfg = Config(vocab_size=len(vocab))
    p = init_params(cfg, rng)
    progress(1, 4, f"training a {n_params(p)}-parameter GPT for {STEPS} steps")
    losses = train(p, data, cfg, rng, steps=STEPS, batch=BATCH, lr=3e-3)
    x, y = windows(data, cfg)
    logits = forward(p, x, cfg)[0]
    final = cross_entropy(logits, y)[0]
    accuracy = float((logits.argmax(-1) == y).mean())
    baselines = count_baselines(data, len(vocab))
    progress(2, 4, "checking gradients against finite differences")
    worst = grad_check(p, cfg, rng)
    progress(3, 4, "generating text")
    sample = decode(generate(p, encode("the ", vocab), 160, cfg, rng, temperature=0.8), vocab)
    progress(4, 4, "figures")
    figures = [fig_loss(out_dir, losses, baselines, final), fig_predictions(out_dir, p, cfg, vocab, sample),
               fig_attention(out_dir, p, cfg, vocab)]
    metrics = [
        Metric("final_loss", final, "Loss on the whole training text after training", "训练后在全部训练文本上的损失",
               unit="nats/char"),
        Metric("first_step_loss", losses[0], "Loss at the first step", "第一步的损失", unit="nats/char"),
        Metric("bigram_loss", baselines[2], "Loss of counting letter pairs (previous letter only)",
               "只看前一个字母的计数模型(二元组)损失", unit="nats/char"),
        Metric("uniform_loss", baselines[0], "Loss of a uniform guess, log V", "均匀猜测的损失 log V", unit="nats/char"),
        Metric("next_char_accuracy", 100 * accuracy, "Next character guessed right (most probable)",
               "最可能的下一个字符猜对的比例", unit="%"),
        Metric("grad_check_max_rel_error", worst, "Largest gap, hand-written vs numerical gradient (40 weights)",
               "手写梯度与数值梯度的最大相对误差(40 个权重)"),
        Metric("parameters", n_params(p), "Parameters", "参数量"),
        Metric("sample", sample, "Generated text", "生成的文本"),
    ]
    return DemoResult(metrics=metrics, figures=figures)


if __name__ == "__main__":
    main(run)
