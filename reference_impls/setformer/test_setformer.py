"""Tests for the SeTformer reference implementation: one test per claim in record_fragment.yaml."""

import numpy as np

from reference_impls.setformer.model import (
    Config,
    OpCounter,
    kernel,
    normalize,
    nystrom_features,
    nystrom_map,
    row_entropy,
    set_attention,
    set_attention_explicit,
    softmax_attention,
    spherical_kmeans,
    transport_attention,
)


def _tokens(rng, n=64, d=16, clusters=4, noise=0.3):
    centers = normalize(rng.normal(size=(clusters, d)))
    return centers[np.arange(n) * clusters // n] + noise * rng.normal(size=(n, d))


def _similarities(x, ref, anchors, alpha=1.0):
    inv = nystrom_map(anchors, alpha)
    return nystrom_features(x, anchors, alpha, inv) @ nystrom_features(ref, anchors, alpha, inv).T


def test_set_attention_nonnegative_doubly_stochastic():
    rng = np.random.default_rng(0)
    x = _tokens(rng)
    anchors, ref = spherical_kmeans(x, 32, rng), spherical_kmeans(x, 16, rng)
    S = _similarities(x, ref, anchors)
    cfg = Config(eps=0.1, n_iter=100)
    A, err = transport_attention(S, cfg, history=True)
    n, p = len(x), len(ref)
    assert A.shape == (p, n) and A.min() > 0  # non-negative (strictly positive) weights
    assert np.allclose(A.sum(1), 1.0, atol=1e-12)  # each reference row is a distribution, like softmax
    # Zero token-side steps is exactly softmax attention of the references over the tokens ...
    A0 = transport_attention(S, Config(eps=0.1, n_iter=0))
    soft = np.exp((S.T - S.T.max(1, keepdims=True)) / 0.1)
    assert np.allclose(A0, soft / soft.sum(1, keepdims=True), atol=1e-12)
    # ... whose token marginals are unbalanced; Sinkhorn removes the imbalance monotonically.
    assert err[0] > 0.1
    assert np.all(np.diff(err) <= 1e-15)
    assert err[10] < 1e-2 * err[0] and err[-1] < 1e-10
    assert np.allclose(A.sum(0), p / n, atol=1e-10)  # every token gives out the same total weight
    # With as many references as tokens the attention matrix is doubly stochastic.
    ref_n = normalize(x[rng.permutation(n)] + 0.1 * rng.normal(size=x.shape))
    A_sq = transport_attention(_similarities(x, ref_n, anchors), Config(eps=0.1, n_iter=300))
    assert np.allclose(A_sq.sum(1), 1.0, atol=1e-12) and np.allclose(A_sq.sum(0), 1.0, atol=1e-6)


def test_set_reweighting_sharpens_with_eps():
    rng = np.random.default_rng(1)
    x = _tokens(rng)
    anchors, ref = spherical_kmeans(x, 32, rng), spherical_kmeans(x, 16, rng)
    S = _similarities(x, ref, anchors)
    entropies = [row_entropy(transport_attention(S, Config(eps=e, n_iter=200))) for e in (3.0, 1.0, 0.3, 0.1, 0.03)]
    assert np.all(np.diff(entropies) < 0)  # smaller eps -> weights concentrate on the best-matched tokens
    assert entropies[0] > 0.97 * np.log(len(x))  # large eps -> almost uniform
    # The exponential (non-linear) re-weighting is far more selective than normalising the kernel linearly.
    K = kernel(x, ref, 1.0).T
    assert entropies[3] < row_entropy(K / K.sum(1, keepdims=True)) - 0.5


def test_set_cost_linear_in_length():
    rng = np.random.default_rng(2)
    cfg = Config(dim=16, n_anchors=32, n_ref=16, n_iter=10)
    anchors = normalize(rng.normal(size=(32, 16)))
    ref = normalize(rng.normal(size=(16, 16)))
    lengths = [256, 512, 1024, 2048]
    set_macs, dpsa_macs = [], []
    for n in lengths:
        x = rng.normal(size=(n, 16))
        c_set, c_dpsa = OpCounter(), OpCounter()
        A, out = set_attention(x, ref, anchors, cfg, c_set)
        assert A.shape == (16, n) and out.shape == (16, 32)
        softmax_attention(x, c_dpsa)
        set_macs.append(c_set.total)
        dpsa_macs.append(c_dpsa.total)
    d_set, d_dpsa = np.diff(set_macs), np.diff(dpsa_macs)
    # Counted multiply-accumulates: doubling n adds exactly twice the previous increment for SeT (affine in n)
    assert list(d_set[1:]) == [2 * v for v in d_set[:-1]]
    # ... and four times for softmax attention (quadratic in n).
    assert list(d_dpsa[1:]) == [4 * v for v in d_dpsa[:-1]]
    assert dpsa_macs[-1] > 5 * set_macs[-1]


def test_kernelised_cost_matches_explicit():
    rng = np.random.default_rng(3)
    x = _tokens(rng, n=48)
    ref = spherical_kmeans(x, 12, rng)
    cfg = Config(eps=0.1, n_iter=50)
    # With the references as Nystrom anchors, <phi(x), phi(y)> is the exact kernel and the plans agree.
    A_kernelised, _ = set_attention(x, ref, ref, cfg)
    A_explicit = set_attention_explicit(x, ref, cfg)
    assert np.abs(A_kernelised - A_explicit).max() < 1e-5
    # With generic anchors the kernel is approximated, and the approximation improves with more anchors.
    K = kernel(x, x, 1.0)
    errs = []
    for m in (4, 16, 48):
        anchors = x[rng.choice(len(x), m, replace=False)] if m < len(x) else x
        inv = nystrom_map(anchors, 1.0)
        phi = nystrom_features(x, anchors, 1.0, inv)
        errs.append(np.abs(phi @ phi.T - K).max())
    assert errs[0] > errs[1] > errs[2] and errs[2] < 1e-5
