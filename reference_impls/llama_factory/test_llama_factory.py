"""Tests of the LoRA mechanism LlamaFactory trains with (one test per claim of record_fragment.yaml)."""

import numpy as np

from reference_impls.llama_factory.model import (Config, count_trainable, fine_tune, forward, gradients, init_base,
                                                  init_lora, lora_scale, make_task, merge, mse, trainable_fraction)


def _setup(seed=0, **kw):
    cfg = Config(**kw)
    rng = np.random.default_rng(seed)
    base = init_base(cfg, rng)
    X, Y = make_task(cfg, base, rng)
    return cfg, rng, base, X, Y


def test_lora_starts_at_base_model():
    cfg, rng, base, X, Y = _setup()
    r = 4
    ad = init_lora(base, r, rng)
    s = lora_scale(cfg, r)
    # B = 0, A random: the adapted network is the pretrained one, bit for bit.
    assert np.array_equal(forward(base, ad, X, s)[0], forward(base, {}, X)[0])
    assert all(np.abs(ad[k]).max() > 0 for k in ("A1", "A2"))
    # The first step moves only B (dL/dA = s B^T G = 0), so the output starts to change smoothly.
    _, g = gradients(base, ad, X, Y, s)
    assert np.abs(g["A1"]).max() == 0 and np.abs(g["A2"]).max() == 0
    assert np.abs(g["B1"]).max() > 1e-4 and np.abs(g["B2"]).max() > 1e-4


def test_merged_adapter_equals_unmerged():
    cfg, rng, base, X, Y = _setup(steps=60)
    _, params, ad, s = fine_tune(cfg, base, X, Y, "lora", 4, rng)
    merged = merge(params, ad, s)
    y_side = forward(params, ad, X, s)[0]
    y_merged = forward(merged, {}, X)[0]
    assert np.max(np.abs(y_merged - y_side)) < 1e-12
    # ...and the adapter did change the function (otherwise the check above would be vacuous).
    assert np.max(np.abs(y_merged - forward(base, {}, X)[0])) > 1e-2
    # The folded-in update has rank at most r.
    for k in ("1", "2"):
        sv = np.linalg.svd(merged["W" + k] - base["W" + k], compute_uv=False)
        assert sv[4] < 1e-10 * sv[0]


def test_only_adapters_train():
    cfg, rng, base, X, Y = _setup(steps=40)
    r = 2
    _, params, ad, s = fine_tune(cfg, base, X, Y, "lora", r, rng)
    for k in base:                                    # pretrained weights untouched, bit for bit
        assert np.array_equal(params[k], base[k])
    n_adapter = sum(v.size for v in ad.values())
    assert n_adapter == count_trainable(cfg, "lora", r)
    assert n_adapter == round(trainable_fraction(cfg.d_in, cfg.d_hidden, r) * cfg.d_in * cfg.d_hidden
                              + trainable_fraction(cfg.d_hidden, cfg.d_out, r) * cfg.d_hidden * cfg.d_out)
    # Eq. (2): the adapter gradients are the full-weight gradient projected through A and B.
    g_full, _ = gradients(merge(params, ad, s), {}, X, Y)
    _, g_ad = gradients(params, ad, X, Y, s)
    for k in ("1", "2"):
        G = g_full["W" + k]
        assert np.allclose(g_ad["B" + k], s * G @ ad["A" + k].T, atol=1e-12)
        assert np.allclose(g_ad["A" + k], s * ad["B" + k].T @ G, atol=1e-12)
    # Finite-difference check of one adapter entry.
    eps, (i, j) = 1e-6, (0, 3)
    plus = {k: v.copy() for k, v in ad.items()}
    minus = {k: v.copy() for k, v in ad.items()}
    plus["A1"][i, j] += eps
    minus["A1"][i, j] -= eps
    num = (mse(forward(params, plus, X, s)[0], Y) - mse(forward(params, minus, X, s)[0], Y)) / (2 * eps)
    assert abs(num - g_ad["A1"][i, j]) < 1e-7


def test_rank_at_least_true_rank_matches_full():
    cfg, rng, base, X, Y = _setup()
    start = mse(forward(base, {}, X)[0], Y)
    full = fine_tune(cfg, base, X, Y, "full")[0][-1]
    lora = {r: fine_tune(cfg, base, X, Y, "lora", r, rng)[0][-1] for r in (1, 2, 4, 8)}
    assert full < 0.01 * start
    for r in (4, 8):                                  # r >= true rank: as low as full fine-tuning
        assert lora[r] <= full
    for r in (1, 2):                                  # r < true rank: stuck on a much higher plateau
        assert lora[r] > 0.1 * start
    assert lora[1] > lora[2] > lora[4]
