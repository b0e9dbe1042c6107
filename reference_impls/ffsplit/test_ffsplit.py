"""Tests of the FFSplit claims on synthetic FFNs with planted heavy hitters (one test per claim)."""

import numpy as np

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
    split_ffn,
    split_forward,
)


def _setup(seed: int, cfg: Config = Config()):
    rng = np.random.default_rng(seed)
    ffn, planted = make_ffn(cfg, rng)
    return ffn, planted, make_tokens(cfg, rng), make_tokens(cfg, rng)


def test_split_is_exact():
    # FFN(x) = FFN1(x) + FFN2(x) + b2 for any split of the neurons, heavy-hitter or not.
    ffn, planted, x_calib, x_test = _setup(0)
    y = ffn_forward(ffn, x_test)
    rng = np.random.default_rng(1)
    for heavy in (heavy_hitters(ffn, x_calib, 8), np.sort(rng.choice(256, 40, replace=False)), np.arange(0)):
        ffn1, ffn2 = split_ffn(ffn, heavy)
        assert np.max(np.abs(split_forward(ffn1, ffn2, ffn["b2"], x_test) - y)) < 1e-12
        assert ffn1["W1"].shape[1] + ffn2["W1"].shape[1] == 256
    # Uncompressed parts (r = None) are the same FFN.
    (ffn1, ffn2), = ffsplit_compress(ffn, planted, [None])
    assert np.max(np.abs(split_forward(ffn1, ffn2, ffn["b2"], x_test) - y)) < 1e-12
    # Control: dropping FFN2 altogether is far from exact.
    assert relative_error(ffn_forward(ffn1, x_test) + ffn["b2"], y) > 0.2


def test_heavy_hitters_found_by_output_norm():
    cfg = Config()
    for seed in range(3):
        ffn, planted, x_calib, x_test = _setup(seed, cfg)
        heavy = heavy_hitters(ffn, x_calib, cfg.n_planted)
        np.testing.assert_array_equal(heavy, planted)  # the mean output norm finds the planted neurons
        norms = neuron_output_norms(ffn, x_test)  # held-out tokens
        top_k = np.argsort(-norms, axis=1)[:, : cfg.n_planted]
        in_top = np.array([np.isin(heavy, row) for row in top_k]).mean(axis=0)
        assert np.all(in_top > 0.8)  # among the largest output norms for most tokens
        rest = np.setdiff1d(np.arange(cfg.d_ff), heavy)
        active = (gelu(x_test @ ffn["W1"] + ffn["b1"]) > 0.1).mean(axis=0)
        assert np.all(active[rest] < 0.5) and active[rest].mean() < 0.15  # the rest fire sparsely
        share = np.sort(norms.sum(axis=0))[::-1][: cfg.n_planted].sum() / norms.sum()
        assert share > 0.3  # about 3% of the neurons carry over 30% of the output norm


def test_split_beats_uniform_low_rank():
    # At every parameter budget FFSplit (heavy hitters exact, rest low-rank) has a lower output error than
    # uniform low-rank compression of the whole FFN, and than the same split around random neurons.
    cfg = Config()
    d, m, k = cfg.d_model, cfg.d_ff, cfg.n_planted
    for seed in range(3):
        ffn, _, x_calib, x_test = _setup(seed, cfg)
        y = ffn_forward(ffn, x_test)
        heavy = heavy_hitters(ffn, x_calib, k)
        random = np.sort(np.random.default_rng(100 + seed).choice(m, k, replace=False))
        fractions = (0.2, 0.35, 0.5, 0.65, 0.8)
        r_u, r_rest = zip(*(budget_ranks(d, m, k, f) for f in fractions))
        uniform = compress_many(ffn, list(r_u))
        split = ffsplit_compress(ffn, heavy, list(r_rest))
        split_random = ffsplit_compress(ffn, random, list(r_rest))
        errors = []
        for i, fraction in enumerate(fractions):
            (ffn1, ffn2) = split[i]
            assert n_params(ffn1) + n_params(ffn2) + d <= n_params(uniform[i])  # never a larger model
            e_uniform = relative_error(ffn_forward(uniform[i], x_test), y)
            e_split = relative_error(split_forward(ffn1, ffn2, ffn["b2"], x_test), y)
            e_random = relative_error(split_forward(*split_random[i], ffn["b2"], x_test), y)
            assert e_split < 0.8 * e_uniform and e_split < 0.8 * e_random, (seed, fraction)
            errors.append(e_split)
        assert np.all(np.diff(errors) < 0)  # a larger budget always helps


def test_size_reduction_arithmetic():
    cfg = Config()
    d, m, k = cfg.d_model, cfg.d_ff, cfg.n_planted
    ffn, planted, _, _ = _setup(0, cfg)
    dense = n_params(ffn)
    assert dense == 2 * d * m + m + d
    for r, (ffn1, ffn2) in zip((4, 17, 40), ffsplit_compress(ffn, planted, [4, 17, 40])):
        counted = n_params(ffn1) + n_params(ffn2) + d
        assert counted == (2 * k * d + k) + (2 * r * (d + m - k) + (m - k)) + d
        assert counted < dense
    # Rank-r factors are what is stored, and they rebuild the compressed weight ...
    (ffn1, ffn2), = ffsplit_compress(ffn, planted, [17])
    a, b = ffn2["W2_factors"]
    assert a.shape == (m - k, 17) and b.shape == (17, d) and np.allclose(a @ b, ffn2["W2"])
    # ... and they are the best rank-17 approximation (Eckart-Young: the error is the discarded spectrum).
    w2_rest = np.delete(ffn["W2"], planted, axis=0)
    s = np.linalg.svd(w2_rest, compute_uv=False)
    assert np.isclose(np.linalg.norm(w2_rest - a @ b), np.sqrt(np.sum(s[17:] ** 2)))
    # Why the FFN: in a BERT-base layer (d = 768, m = 3072) it holds 2/3 of the weights.
    d_b, m_b = 768, 3072
    assert 2 * d_b * m_b / (2 * d_b * m_b + 4 * d_b * d_b) == 2 / 3
