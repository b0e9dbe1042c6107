"""Claims of FlightLLM (arXiv 2401.03868) checked on the NumPy toy; one test per claim."""

import numpy as np

from reference_impls.flightllm.model import (
    Config, block_mask, block_sparse_matmul, chain_schedule, compress_nm, decode_ops,
    decode_time_ns, dram_traffic, int8_datapath_matvec, nm_mask, nm_sparse_matmul,
    quantise_act_int8, quantise_groups,
)

PATTERNS = [(1, 4), (2, 4), (2, 8), (4, 8), (4, 16), (8, 16)]


def test_csd_chain_equals_masked_dense():
    """Values + indices through the sparse MUX give exactly (W * mask) @ x; so does block sparsity."""
    rng = np.random.default_rng(1)
    W, X = rng.standard_normal((48, 64)), rng.standard_normal((5, 64))
    for N, M in PATTERNS:
        mask = nm_mask(W, N, M)
        assert np.all(mask.reshape(48, -1, M).sum(-1) == N)           # exactly N per block
        vals, idx = compress_nm(W, mask, N, M)
        assert vals.shape == (48, 64 // M, N) and idx.max() < M
        np.testing.assert_allclose(nm_sparse_matmul(vals, idx, X, M), X @ (W * mask).T, atol=1e-12)
        # a wrong index (MUX selects the neighbour) must break the equality
        wrong = nm_sparse_matmul(vals, (idx + 1) % M, X, M)
        assert np.abs(wrong - X @ (W * mask).T).max() > 1e-3
    bmask = block_mask(W, 8, 16, 0.375)
    assert abs(bmask.mean() - 0.375) < 1e-9
    np.testing.assert_allclose(block_sparse_matmul(W, bmask, X, 8, 16), X @ (W * bmask).T, atol=1e-12)


def test_nm_sparsity_cuts_macs_by_n_over_m():
    """With N:M weights the CSD-chain issues N/M of the dense MACs in N/M of the cycles, at full
    utilisation; a fixed chain (no reduction nodes) keeps dense cycles, so only N/M of its lanes work;
    unstructured pruning at the same density loses most of the gain."""
    rng = np.random.default_rng(2)
    W, L = rng.standard_normal((64, 256)), 16
    dense = chain_schedule(np.ones_like(W, dtype=bool), 4, L, "dense")
    for N, M in PATTERNS:
        mask = nm_mask(W, N, M)
        csd, fixed = chain_schedule(mask, M, L, "csd"), chain_schedule(mask, M, L, "fixed")
        assert csd["useful_macs"] * M == dense["dense_macs"] * N
        assert csd["cycles"] * M == dense["cycles"] * N
        assert csd["utilisation"] == 1.0
        assert fixed["cycles"] == dense["cycles"] and fixed["utilisation"] == N / M
        unstructured = rng.random(W.shape) < N / M
        u = chain_schedule(unstructured, M, L, "csd")
        assert u["utilisation"] < 0.8 * csd["utilisation"] and u["cycles"] > csd["cycles"]


def test_on_chip_decode_removes_activation_traffic():
    """Counted per-token DRAM traffic: on-chip decode moves only weights and KV cache; off-chip adds
    exactly each operator's activation reads and writes, plus one transfer each, which lowers the
    modelled bandwidth utilisation and raises the modelled decode time for any t0 > 0."""
    cfg = Config()
    on, off = dram_traffic(cfg, on_chip=True), dram_traffic(cfg, on_chip=False)
    ops = decode_ops(cfg)
    weights = sum(o["w"] for o in ops) * cfg.n_layers          # INT8 weights: one byte each
    d, f = cfg.d_model, cfg.d_ff
    assert weights == cfg.n_layers * (4 * d * d + 3 * d * f)  # LLaMA-style layer: 4d^2 + 3 d f
    assert on["act"] == 0 and on["weight"] == off["weight"] == weights
    act = sum(o["a_in"] + o["a_out"] for o in ops) * cfg.n_layers * cfg.act_bits / 8
    assert off["total"] - on["total"] == act > 0
    assert off["transfers"] > 3 * on["transfers"]
    for t0 in (1.0, 100.0, 5000.0):
        (t_on, u_on), (t_off, u_off) = decode_time_ns(on, cfg, t0), decode_time_ns(off, cfg, t0)
        assert t_off > t_on and u_off < u_on <= 1.0
    assert decode_time_ns(off, cfg, 0.0)[1] == 1.0           # without t0 both modes saturate BW


def test_mixed_precision_int8_datapath_is_exact():
    """Weights at 2/3/4/8 bits are sign-extended to INT8 and multiplied on one INT8 datapath; the
    integer result equals the float product of the dequantised operands, and weight bytes scale with
    the bit-width."""
    rng = np.random.default_rng(3)
    W, x = rng.standard_normal((32, 128)), rng.standard_normal(128)
    qx, sx = quantise_act_int8(x)
    errs = []
    for bits in (2, 3, 4, 8):
        q, s = quantise_groups(W, bits, group=32)
        assert q.dtype == np.int8 and q.min() >= -(2 ** (bits - 1)) and q.max() <= 2 ** (bits - 1) - 1
        W_hat = (q * s).reshape(W.shape)
        ref = W_hat @ (qx.astype(float) * sx)
        np.testing.assert_allclose(int8_datapath_matvec(q, s, qx, sx), ref, rtol=1e-12, atol=1e-12)
        errs.append(np.linalg.norm(W_hat @ x - W @ x) / np.linalg.norm(W @ x))
    assert all(a > b for a, b in zip(errs, errs[1:]))          # fewer bits, larger error
    cfg = Config()
    w8 = dram_traffic(cfg, True)["weight"]
    w4 = dram_traffic(cfg, True, {k: 4 for k in ("qkv", "o", "gate_up", "down")})["weight"]
    assert w4 * 2 == w8
