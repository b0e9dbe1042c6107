"""Tests for the Mixture-of-Transformers toy: one test per claim of the record (see record_fragment.yaml)."""

import numpy as np

from reference_impls.mixture_of_transformers.model import (
    MODALITY_WEIGHTS,
    Config,
    backward,
    forward,
    init_params,
    n_params,
    steps_to_reach,
    tie,
    toy_task,
    train,
)


def _random_norms(params, rng):
    """Give the layer norms non-trivial gains and biases so that every weight matters."""
    for p in params:
        for n in ("attn", "ffn"):
            p["g_" + n] = rng.normal(1.0, 0.3, p["g_" + n].shape)
            p["b_" + n] = rng.normal(0.0, 0.3, p["b_" + n].shape)
    return params


def _mixed(rng, cfg, B=3, T=10):
    x = rng.normal(size=(B, T, cfg.d_model))
    m = rng.integers(0, cfg.n_modalities, (B, T))
    m[:, 0], m[:, 1] = 0, 1  # both modalities present in every sequence
    return x, m


def test_tied_weights_equal_dense():
    """With every modality's copy equal to one dense transformer's weights, MoT computes exactly that transformer."""
    rng = np.random.default_rng(0)
    dense_cfg, cfg = Config(n_layers=2, n_modalities=1), Config(n_layers=2, n_modalities=3)
    dense = _random_norms(init_params(dense_cfg, rng), rng)
    x, m = _mixed(rng, cfg)
    y_dense, _, _ = forward(dense, x, np.zeros_like(m), dense_cfg)
    y_mot, _, _ = forward(tie(dense, 3), x, m, cfg)
    assert np.max(np.abs(y_mot - y_dense)) < 1e-12
    untied = tie(dense, 3)
    untied[1]["W_1"][2] += 0.1  # one modality's FFN no longer equal: the outputs must then differ
    assert np.max(np.abs(forward(untied, x, m, cfg)[0] - y_dense)) > 1e-3


def test_tokens_use_only_own_modality_weights():
    """A token is processed by its own modality's weights only; other modalities reach it through attention alone."""
    rng = np.random.default_rng(1)
    cfg = Config(n_layers=2, n_modalities=2)
    params = _random_norms(init_params(cfg, rng), rng)
    # (a) A sequence with only modality-0 tokens ignores every modality-1 weight, bit for bit.
    x = rng.normal(size=(2, 8, cfg.d_model))
    only0 = np.zeros((2, 8), dtype=int)
    y_before = forward(params, x, only0, cfg)[0]
    scrambled = [{w: a.copy() for w, a in p.items()} for p in params]
    for p in scrambled:
        for w in MODALITY_WEIGHTS:
            p[w][1] = rng.normal(size=p[w][1].shape)
    assert np.array_equal(forward(scrambled, x, only0, cfg)[0], y_before)
    only1 = np.ones_like(only0)  # the scrambling did take effect: modality-1 tokens see it
    assert not np.allclose(forward(scrambled, x, only1, cfg)[0], forward(params, x, only1, cfg)[0])
    # (b) Mixed sequence, loss on modality-0 tokens only: the last layer's modality-1 weights (they touch no
    # modality-0 token after the last attention) get exactly zero gradient, while modality-1's first-layer
    # attention weights do get gradient, because global attention carries modality-1 tokens into modality-0 ones.
    x, m = _mixed(rng, cfg)
    y, caches, _ = forward(params, x, m, cfg)
    dy = np.where((m == 0)[..., None], 2 * y, 0.0)  # d/dy of sum over modality-0 tokens of |y|^2
    _, grads = backward(params, caches, dy)
    for w in ("W_Q", "W_O", "g_attn", "b_attn", "W_1", "W_2", "g_ffn", "b_ffn"):
        assert np.all(grads[1][w][1] == 0.0), w
    for w in ("W_K", "W_V"):
        assert np.abs(grads[0][w][1]).max() > 1e-6, w


def test_global_causal_attention_across_modalities():
    """Self-attention is global over the mixed sequence (causal): earlier tokens of any modality reach later ones."""
    rng = np.random.default_rng(2)
    cfg = Config(n_layers=2, n_modalities=2)
    params = _random_norms(init_params(cfg, rng), rng)
    T = 10
    x = rng.normal(size=(1, T, cfg.d_model))
    m = (np.arange(T) >= 5).astype(int)[None]  # five modality-0 tokens, then five modality-1 tokens
    y = forward(params, x, m, cfg)[0]
    x_early = x.copy()
    x_early[0, 2] += 1.0  # change one modality-0 token
    y_early = forward(params, x_early, m, cfg)[0]
    assert np.array_equal(y_early[0, :2], y[0, :2])  # the past does not see it
    assert np.all(np.abs(y_early[0, 5:] - y[0, 5:]).max(-1) > 1e-6)  # every later modality-1 token does
    x_late = x.copy()
    x_late[0, 7] += 1.0  # change one modality-1 token
    assert np.array_equal(forward(params, x_late, m, cfg)[0][0, :7], y[0, :7])  # causal: no peeking ahead


def test_same_flops_per_token_as_dense():
    """Per token, MoT executes exactly the dense model's FLOPs, with K times the non-embedding parameters."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 12, 16))
    dense_cfg = Config(n_layers=2, n_modalities=1)
    dense = init_params(dense_cfg, rng)
    flops_dense = forward(dense, x, np.zeros((2, 12), dtype=int), dense_cfg)[2]
    for K in (2, 3, 4):
        cfg = Config(n_layers=2, n_modalities=K)
        mot = init_params(cfg, rng)
        m = rng.integers(0, K, (2, 12))
        assert forward(mot, x, m, cfg)[2] == flops_dense
        assert n_params(mot) == K * n_params(dense)
        # A dense model with as many parameters (wider FFN) costs more per token.
        wide_cfg = Config(n_layers=2, n_modalities=1, d_ff=K * 32 + (K - 1) * (2 * 16 + 2))
        wide = init_params(wide_cfg, rng)
        assert n_params(wide) == n_params(mot)
        assert forward(wide, x, np.zeros_like(m), wide_cfg)[2] > 1.5 * flops_dense


def test_mot_reaches_dense_loss_in_fewer_steps():
    """Trained from the same start at equal FLOPs per token, MoT reaches the dense model's final loss in fewer steps."""
    cfg, dense_cfg, steps = Config(), Config(n_modalities=1), 150
    batch = toy_task(cfg, np.random.default_rng(4))
    start = init_params(dense_cfg, np.random.default_rng(5))
    dense = train(dense_cfg, tie(start, 1), batch, np.random.default_rng(6), steps)
    mot = train(cfg, tie(start, 2), batch, np.random.default_rng(6), steps)
    assert np.isclose(mot[0, 0], dense[0, 0])  # identical first step: MoT starts as the dense model
    dense_final, mot_final = dense[-20:, 0].mean(), mot[-20:, 0].mean()
    assert mot_final < 0.9 * dense_final
    reach = steps_to_reach(mot[:, 0], dense_final)
    assert reach is not None and reach < 0.75 * steps
    for k in (0, 1):  # both modalities gain
        assert mot[-20:, 1 + k].mean() < dense[-20:, 1 + k].mean()


def test_backward_matches_finite_differences():
    """Support for the training claim: the hand-written gradients agree with central differences."""
    rng = np.random.default_rng(7)
    cfg = Config(d_model=8, n_heads=2, d_ff=12, n_layers=2, n_modalities=3)
    params = _random_norms(init_params(cfg, rng), rng)
    x, m = _mixed(rng, cfg, B=2, T=6)
    target = rng.normal(size=x.shape)
    loss = lambda: ((forward(params, x, m, cfg)[0] - target) ** 2).sum()  # noqa: E731
    y, caches, _ = forward(params, x, m, cfg)
    _, grads = backward(params, caches, 2 * (y - target))
    for li, p in enumerate(params):
        for w in p:
            for _ in range(3):
                idx = tuple(int(rng.integers(0, s)) for s in p[w].shape)
                old = p[w][idx]
                p[w][idx] = old + 1e-6
                up = loss()
                p[w][idx] = old - 1e-6
                down = loss()
                p[w][idx] = old
                num, ana = (up - down) / 2e-6, grads[li][w][idx]
                assert abs(num - ana) <= 1e-5 * max(1.0, abs(num)), (li, w, idx, num, ana)
