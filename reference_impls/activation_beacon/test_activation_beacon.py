"""Tests of the Activation Beacon claims on the random toy LLM (one test per claim).

The random toy models come from the run's SEED, and the information-loss claim averages N_TRIALS of them, as
the demo's figure does (`claim_knobs`: the demo's defaults, or the knobs of a run from the page)."""

from dataclasses import replace

import numpy as np

from reference_impls.activation_beacon.model import (
    Config,
    beacon_forward,
    full_forward,
    info_lost,
    init_params,
    kv_cache_size,
    max_context_length,
    window_forward,
)
from reference_impls.demo_io import claim_knobs

DEMO = "reference_impls.activation_beacon.demo"


def _setup(seed: int, n_windows: int, cfg: Config = Config()):
    rng = np.random.default_rng(seed)
    params = init_params(cfg, rng)
    return params, rng.integers(0, cfg.vocab, n_windows * cfg.window)


def test_alpha_one_equals_full_attention():
    # alpha = 1 with beacons that replicate their token: the memory is exactly the full KV cache.
    cfg = replace(Config(), beacon_input="copy", beacon_attend_beacons=False)
    first = claim_knobs(DEMO).SEED
    for seed in range(first, first + 2):
        params, tokens = _setup(seed, 5, cfg)
        full = full_forward(params, cfg, tokens)
        streamed, trace = beacon_forward(params, cfg, tokens, alpha=1)
        assert np.max(np.abs(streamed - full)) < 1e-10
        assert [m for m, _, _ in trace] == [i * cfg.window for i in range(5)]
        # Control: condensing at alpha = 2 does change the later windows.
        assert np.max(np.abs(beacon_forward(params, cfg, tokens, alpha=2)[0] - full)) > 1e-3


def test_stepwise_expansion_visibility():
    # Beacon j's keys/values depend on exactly the first (j+1)*alpha raw tokens of its window.
    cfg, alpha = Config(), 4
    params, tokens = _setup(claim_knobs(DEMO).SEED + 1, 1, cfg)
    x = params["embed"][tokens]
    _, kv = window_forward(params, cfg, x, [], alpha)
    k = cfg.window // alpha
    for p in (0, 4, 7, 12, 31):  # includes the boundaries (j+1)*alpha
        x2 = x.copy()
        x2[p] += 1.0  # perturb raw token p
        _, kv2 = window_forward(params, cfg, x2, [], alpha)
        for layer in (1, cfg.n_layers - 1):
            changed = np.abs(kv2[layer][0] - kv[layer][0]).max(axis=1) > 1e-9
            np.testing.assert_array_equal(changed, p < (np.arange(k) + 1) * alpha)


def test_short_context_unchanged():
    # Raw tokens never attend to the beacons and the LLM weights are untouched: one window gives the LLM's output,
    # even when the beacon projections have drifted away from the LLM's (as after training).
    cfg, seed = Config(), claim_knobs(DEMO).SEED
    params, tokens = _setup(seed + 2, 1, cfg)
    rng = np.random.default_rng(seed + 7)
    for layer in params["layers"]:
        for name in ("Wq_b", "Wk_b", "Wv_b", "Wo_b"):
            layer[name] = layer[name] + rng.normal(0.0, 0.3, layer[name].shape)
    plain = full_forward(params, cfg, tokens)
    for alpha in (2, 8):
        out, _ = window_forward(params, cfg, params["embed"][tokens], [], alpha)
        assert np.max(np.abs(out - plain)) < 1e-12
    # ... while in a second window the (changed) beacons do matter.
    params2, tokens2 = _setup(seed + 2, 2, cfg)
    assert np.max(np.abs(beacon_forward(params2, cfg, tokens2, 2)[0] - full_forward(params2, cfg, tokens2))) > 1e-3


def test_cache_grows_as_n_over_alpha():
    cfg = replace(Config(), window=16)
    params, tokens = _setup(claim_knobs(DEMO).SEED + 3, 13, cfg)
    w = cfg.window
    for alpha in (2, 4, 16):
        _, trace = beacon_forward(params, cfg, tokens, alpha)
        for i, (m, t, k) in enumerate(trace):
            assert m == i * (w // alpha) == kv_cache_size(i * w, w, alpha)  # raw K/V of past windows dropped
            assert k == w // alpha
        n = len(tokens)
        assert kv_cache_size(n, w, alpha) == n // alpha
    assert kv_cache_size(1000, 16, 4) == 62 * 4 + 8
    assert kv_cache_size(1000, 16, None) == 1000
    # Reach: memory plus one raw window fills C positions exactly at n = (C - w) * alpha + w.
    assert max_context_length(4096, 1024, 128) == (4096 - 1024) * 128 + 1024 == 394_240
    c, alpha = 64, 4
    reach = max_context_length(c, w, alpha)
    _, trace = beacon_forward(params, cfg, np.resize(tokens, reach), alpha)
    assert max(m + t for m, t, _ in trace) == c
    _, trace = beacon_forward(params, cfg, np.resize(tokens, reach + w), alpha)
    assert max(m + t for m, t, _ in trace) > c


def test_larger_alpha_loses_more():
    cfg, alphas = Config(), [1, 2, 4, 8, 16, 32]
    lost = []
    knobs = claim_knobs(DEMO)  # the trend over alpha, averaged over N_TRIALS random toy models
    for seed in range(knobs.SEED, knobs.SEED + knobs.N_TRIALS):
        params, tokens = _setup(seed, 8, cfg)
        lost.append(info_lost(params, cfg, tokens, alphas))
    lost = np.mean(lost, axis=0)
    assert np.all(np.diff(lost) > 0), lost
    assert lost[0] < 0.1 and lost[-1] > 0.5
