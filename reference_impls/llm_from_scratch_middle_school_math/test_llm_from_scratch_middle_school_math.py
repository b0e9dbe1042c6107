"""Tests for the from-scratch character GPT: one test per claim of the record (see record_fragment.yaml)."""

import numpy as np

from reference_impls.llm_from_scratch_middle_school_math.model import (
    Config,
    build_vocab,
    cross_entropy,
    decode,
    encode,
    forward,
    init_params,
    loss_and_grads,
    softmax,
    train,
)

TEXT = "the cat sat on the mat. the dog sat on the log. the cat sat on the dog. the dog sat on the cat.\n" * 2


def _shaken(p, rng):
    """Non-trivial layer-norm scales and biases, so that every parameter's gradient is exercised."""
    for k in p:
        if k.endswith("_g"):
            p[k] = rng.normal(1.0, 0.3, p[k].shape)
        elif k.endswith(("_b", "b_1", "b_2", "b_out")):
            p[k] = rng.normal(0.0, 0.3, p[k].shape)
    return p


def test_softmax_turns_scores_into_probabilities():
    """Softmax makes positive numbers that sum to 1, keeps the order of the scores, and ignores a shared offset."""
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, (50, 9))
    p = softmax(z)
    assert np.all(p > 0) and np.allclose(p.sum(-1), 1.0, atol=1e-12)
    assert np.array_equal(np.argsort(p, -1), np.argsort(z, -1))
    assert np.allclose(softmax(z + 7.5), p, atol=1e-12)
    assert np.allclose(softmax(z + 1000.0), p, atol=1e-12)  # large scores do not overflow
    assert np.allclose(softmax(np.array([np.log(1.0), np.log(3.0)])), [0.25, 0.75])
    assert not np.allclose(softmax(2 * z), p)  # scaling (unlike shifting) does change the result


def test_causal_mask_hides_later_characters():
    """With the mask, changing a character changes no prediction made before it; without the mask it would."""
    vocab = build_vocab(TEXT)
    cfg = Config(vocab_size=len(vocab), context=12, d_model=16, n_heads=2)
    rng = np.random.default_rng(1)
    p = _shaken(init_params(cfg, rng), rng)
    ids = encode("the cat sat ", vocab)[None]
    changed = ids.copy()
    changed[0, 8] = vocab.index("d")  # "the cat dat "
    before, after = forward(p, ids, cfg)[0], forward(p, changed, cfg)[0]
    assert np.array_equal(before[0, :8], after[0, :8])
    assert np.all(np.abs(before[0, 8:] - after[0, 8:]).max(-1) > 1e-6)
    open_cfg = Config(vocab_size=len(vocab), context=12, d_model=16, n_heads=2, causal=False)
    leaky = forward(p, ids, open_cfg)[0], forward(p, changed, open_cfg)[0]
    assert np.abs(leaky[0][0, :8] - leaky[1][0, :8]).max() > 1e-6


def test_positional_embeddings_give_order():
    """Attention is a weighted sum, blind to order; adding positional embeddings makes the order matter.

    With one block, the last position sees the characters before it only as a set of (key, value) pairs, so
    without positional embeddings reordering them cannot change its prediction.
    """
    vocab = build_vocab(TEXT)
    rng = np.random.default_rng(2)
    ids = encode("cat dog mat ", vocab)[None]
    swapped = encode("dog cat mat ", vocab)[None]  # same characters before the last one, other order
    for positions in (False, True):
        cfg = Config(vocab_size=len(vocab), context=12, d_model=16, n_heads=2, n_layers=1, positions=positions)
        p = _shaken(init_params(cfg, np.random.default_rng(3)), rng)
        last = forward(p, ids, cfg)[0][0, -1], forward(p, swapped, cfg)[0][0, -1]
        if positions:
            assert np.abs(last[0] - last[1]).max() > 1e-4
        else:
            assert np.allclose(last[0], last[1], atol=1e-12)


def test_backprop_matches_finite_differences():
    """The hand-written chain rule gives the same slope as nudging one weight and measuring the loss change."""
    rng = np.random.default_rng(4)
    cfg = Config(vocab_size=7, context=6, d_model=8, n_heads=2, n_layers=2, d_ff=12)
    p = _shaken(init_params(cfg, rng), rng)
    x, y = rng.integers(0, 7, (3, 6)), rng.integers(0, 7, (3, 6))
    _, grads = loss_and_grads(p, x, y, cfg)
    loss = lambda: cross_entropy(forward(p, x, cfg)[0], y)[0]  # noqa: E731
    for name in p:
        for _ in range(4):
            idx = tuple(int(rng.integers(0, s)) for s in p[name].shape)
            if name == "E":
                idx = (int(x[0, 0]),) + idx[1:]  # a row that is actually used
            old = p[name][idx]
            p[name][idx] = old + 1e-6
            up = loss()
            p[name][idx] = old - 1e-6
            down = loss()
            p[name][idx] = old
            numeric = (up - down) / 2e-6
            assert abs(numeric - grads[name][idx]) <= 1e-6 + 1e-4 * abs(numeric), (name, idx)


def test_training_lowers_the_loss():
    """Gradient steps make the next-character guesses better than uniform and than letter frequencies alone."""
    vocab = build_vocab(TEXT)
    data = encode(TEXT, vocab)
    cfg = Config(vocab_size=len(vocab), context=12, d_model=24, n_heads=2, n_layers=1, d_ff=48)
    rng = np.random.default_rng(5)
    p = init_params(cfg, rng)
    losses = train(p, data, cfg, rng, steps=150, batch=16, lr=5e-3)
    freq = np.bincount(data, minlength=len(vocab)) / len(data)
    unigram = -(freq[freq > 0] * np.log(freq[freq > 0])).sum()
    assert abs(losses[0] - np.log(len(vocab))) < 0.1  # starts at a uniform guess
    assert losses[-20:].mean() < 0.5 * unigram
    prompt = encode("the cat sat ", vocab)
    logits = forward(p, prompt[None], cfg)[0]
    assert decode([logits[0, -1].argmax()], vocab) == "o"  # "the cat sat " -> "on"
