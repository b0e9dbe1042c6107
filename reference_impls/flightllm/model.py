"""FlightLLM: sparse DSP chains, mixed precision and always-on-chip decode, as a NumPy toy.

Paper: Zeng, Liu, Dai et al., "FlightLLM: Efficient Large Language Model Inference with a Complete
Mapping Flow on FPGAs", FPGA 2024, https://arxiv.org/abs/2401.03868

**Sparse kernel.** Weights pruned to N:M (here: at most N nonzeros in every M consecutive inputs of a
row) are stored as values plus in-block indices. A DSP lane multiplies one stored value by the
activation its *sparse MUX* picks out of the M inputs of its block:

    y_r = sum_b sum_{n<N} v[r, b, n] * x[b*M + idx[r, b, n]]   ==   (W * mask) @ x

**Configurable sparse DSP chain (CSD-chain).** A chain of L cascaded DSP48 lanes sees one activation
tile of L inputs per cycle. Dense: one row's partial sum per cycle. A *fixed* chain with sparse MUXes
still yields one row per cycle, so with N:M weights only N/M of its lanes do useful work. The CSD-chain
adds *reduction nodes* that break the chain, so it serves M/g rows per cycle, g = the largest nonzero
count of any M-block in the tile: g = N for N:M, usually close to M for unstructured sparsity. Tiles
whose weights are all zero (block sparsity) are skipped by the schedule.

    cycles_tile = ceil(rows_nonempty / (M // g)),   utilisation = useful MACs / (cycles * L)

**Mixed precision.** Weights are stored at b in {2, 3, 4, 8} bits with one scale per group; the
dequantisation unit sign-extends the b-bit codes to INT8, so one INT8 MAC array serves every width:
    y = sum_groups s_g * s_x * sum_k q_w[k] * q_x[k]     (integer inner sums, exact)

**Always-on-chip decode (paper Fig. 1/2).** In decode every operator works on one token, so the
activations are small enough to stay in on-chip buffers. Off-chip mode writes each operator's output to
DRAM and reads it back for the next operator. We count DRAM bytes and transfers by walking a LLaMA-style
layer, and use the cost model of a transfer T(s) = s / BW + t0 (the paper's Eq. 3 is the same idea,
T_mem = bytes / BW, without t0). Bandwidth utilisation = bytes / (sum_T * BW).

| paper                  | code                          |
|------------------------|-------------------------------|
| N:M sparse pattern     | ``N``, ``M``, ``nm_mask``     |
| sparse index / values  | ``idx``, ``vals``             |
| CSD-chain length       | ``Config.chain_len`` (L)      |
| BW (Eq. 3)             | ``Config.bw_bytes_per_ns``    |
| decode token, N = 1    | ``decode_ops``                |

Where this toy departs from the paper: the chain is a cycle *count*, not an RTL model (no DSP48
packing of two INT8 MACs, no overflow adjust unit, no SFU or instruction scheduler); a chain's
configuration is assumed fixed per activation tile; the memory model has one fixed overhead t0 per
transfer and no HBM channel layout; the model numbers are assumptions, not U280 measurements;
length-adaptive compilation is left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Config:
    chain_len: int = 16         # L: DSP lanes in one CSD-chain (one VPU)
    d_model: int = 4096         # LLaMA2-7B shape, used only for counting traffic
    d_ff: int = 11008
    n_layers: int = 32
    n_heads: int = 32
    context: int = 512          # tokens already in the KV cache
    act_bits: int = 8           # INT8 activations between operators
    kv_bits: int = 8
    bw_bytes_per_ns: float = 460.0   # assumed peak bandwidth (bytes per ns = GB/s)
    t0_ns: float = 500.0             # assumed fixed cost of one DRAM transfer


# ---------------------------------------------------------------- sparse patterns and kernels
def nm_mask(W: np.ndarray, N: int, M: int) -> np.ndarray:
    """Keep the N largest |w| in every M consecutive inputs of each row (magnitude N:M pruning)."""
    R, K = W.shape
    blocks = np.abs(W).reshape(R, K // M, M)
    order = np.argsort(-blocks, axis=-1, kind="stable")[..., :N]
    mask = np.zeros_like(blocks, dtype=bool)
    np.put_along_axis(mask, order, True, axis=-1)
    return mask.reshape(R, K)


def block_mask(W: np.ndarray, br: int, bc: int, density: float) -> np.ndarray:
    """Block sparsity: keep the fraction ``density`` of (br x bc) tiles with the largest L2 norm."""
    R, K = W.shape
    norms = np.linalg.norm(W.reshape(R // br, br, K // bc, bc), axis=(1, 3))
    keep = max(1, int(round(density * norms.size)))
    thr = np.sort(norms.ravel())[::-1][keep - 1]
    return np.repeat(np.repeat(norms >= thr, br, axis=0), bc, axis=1)


def compress_nm(W: np.ndarray, mask: np.ndarray, N: int, M: int):
    """Values and in-block indices of an N:M matrix: the format the sparse MUXes consume."""
    R, K = W.shape
    m = mask.reshape(R, K // M, M)
    idx = np.argsort(~m, axis=-1, kind="stable")[..., :N]          # positions of the kept weights
    vals = np.take_along_axis(W.reshape(R, K // M, M), idx, axis=-1)
    vals = np.where(np.take_along_axis(m, idx, axis=-1), vals, 0.0)  # rows with < N nonzeros pad 0
    return vals, idx


def nm_sparse_matmul(vals: np.ndarray, idx: np.ndarray, X: np.ndarray, M: int) -> np.ndarray:
    """Y = X @ W_sparse^T from values + indices only: each lane gathers x[b*M + idx] (sparse MUX)."""
    R, B, N = vals.shape
    base = (np.arange(B) * M)[None, :, None]
    gathered = X[:, base + idx]                       # (tokens, R, B, N): the MUX outputs
    return np.einsum("rbn,trbn->tr", vals, gathered)  # the cascade accumulates the products


def block_sparse_matmul(W: np.ndarray, mask: np.ndarray, X: np.ndarray, br: int, bc: int):
    """Block-sparse product that visits only the nonzero (br x bc) tiles."""
    R, K = W.shape
    Y = np.zeros((X.shape[0], R))
    tile_on = mask.reshape(R // br, br, K // bc, bc).any(axis=(1, 3))
    for i, j in zip(*np.nonzero(tile_on)):
        rs, cs = slice(i * br, (i + 1) * br), slice(j * bc, (j + 1) * bc)
        Y[:, rs] += X[:, cs] @ W[rs, cs].T
    return Y


# ---------------------------------------------------------------- CSD-chain cycle model
def chain_schedule(mask: np.ndarray, M: int, L: int, mode: str) -> dict:
    """Cycles, issued MACs and utilisation of one chain of L lanes running Y = W x.

    mode "dense": no sparsity support, every row x tile costs a cycle.
    mode "fixed": sparse MUX + empty-tile skipping, but the chain cannot break: 1 row per cycle.
    mode "csd":   reduction nodes split the chain: M // g rows per cycle (g = widest M-block).
    """
    R, K = mask.shape
    T = K // L
    nnz_blk = mask.reshape(R, T, L // M, M).sum(-1)        # (rows, tiles, blocks per tile)
    nonempty = nnz_blk.sum(-1) > 0                          # (rows, tiles)
    if mode == "dense":
        cycles = R * T
    else:
        rows = nonempty.sum(0)                              # nonempty rows in each tile
        if mode == "fixed":
            per_cycle = np.ones(T, dtype=int)
        else:
            g = np.maximum(nnz_blk.max(axis=(0, 2)), 1)     # lanes a block needs, per tile
            per_cycle = M // g
        cycles = int(np.sum(-(-rows // per_cycle)))        # ceil division
    useful = int(mask.sum())
    return {"cycles": int(cycles), "useful_macs": useful, "dense_macs": R * K,
            "utilisation": useful / (cycles * L) if cycles else 0.0}


# ---------------------------------------------------------------- mixed precision, INT8 datapath
def quantise_groups(W: np.ndarray, bits: int, group: int):
    """Symmetric per-group weight codes in [-2^(b-1), 2^(b-1)-1] (fit in INT8) and scales."""
    qmax = 2 ** (bits - 1) - 1
    Wg = W.reshape(W.shape[0], -1, group)
    s = np.maximum(np.abs(Wg).max(-1, keepdims=True), 1e-12) / qmax
    q = np.clip(np.round(Wg / s), -qmax - 1, qmax).astype(np.int8)
    return q, s


def quantise_act_int8(x: np.ndarray):
    """Absmax INT8 activation codes and scale for one token vector."""
    s = max(float(np.abs(x).max()), 1e-12) / 127
    return np.clip(np.round(x / s), -128, 127).astype(np.int8), s


def int8_datapath_matvec(q: np.ndarray, s: np.ndarray, qx: np.ndarray, sx: float) -> np.ndarray:
    """Dequant unit + INT8 MACs: integer sums per group (int64 accumulators), then one rescale."""
    qxg = qx.astype(np.int64).reshape(1, q.shape[1], q.shape[2])
    acc = (q.astype(np.int64) * qxg).sum(-1)           # exact integer partial sums
    return (acc * s[..., 0]).sum(-1) * sx


# ---------------------------------------------------------------- decode traffic model
def decode_ops(cfg: Config, weight_bits: dict | None = None) -> list[dict]:
    """One decode step (one token) of a LLaMA-style layer as operators with their tensor sizes.

    Sizes are element counts; ``w`` = weight parameters, ``kv_r``/``kv_w`` = KV-cache elements read
    and written, ``a_in``/``a_out`` = activation elements consumed and produced.
    """
    d, f, h, c = cfg.d_model, cfg.d_ff, cfg.n_heads, cfg.context
    wb = {"qkv": 8, "o": 8, "gate_up": 8, "down": 8, **(weight_bits or {})}
    ops = [("rmsnorm_1", 0, 0, 0, d, d), ("qkv", 3 * d * d, 0, 0, d, 3 * d),
           ("rope", 0, 0, 0, 2 * d, 2 * d), ("kv_append", 0, 0, 2 * d, 2 * d, 0),
           ("score", 0, c * d, 0, d, h * (c + 1)), ("softmax", 0, 0, 0, h * (c + 1), h * (c + 1)),
           ("context", 0, c * d, 0, h * (c + 1), d), ("o", d * d, 0, 0, d, d),
           ("residual_1", 0, 0, 0, 2 * d, d), ("rmsnorm_2", 0, 0, 0, d, d),
           ("gate_up", 2 * d * f, 0, 0, d, 2 * f), ("silu_mul", 0, 0, 0, 2 * f, f),
           ("down", f * d, 0, 0, f, d), ("residual_2", 0, 0, 0, 2 * d, d)]
    return [{"name": n, "w": w, "w_bits": wb.get(n, 8), "kv_r": kr, "kv_w": kw, "a_in": ai, "a_out": ao}
            for n, w, kr, kw, ai, ao in ops]


def dram_traffic(cfg: Config, on_chip: bool, weight_bits: dict | None = None) -> dict:
    """Count DRAM bytes and transfers for one decoded token over all layers.

    Assumptions: weights and the KV cache always live in DRAM (one transfer per tensor per operator);
    on-chip mode keeps every activation in on-chip buffers; off-chip mode writes each operator output
    and reads each operator input from DRAM (one transfer each).
    """
    out = {"weight": 0.0, "kv": 0.0, "act": 0.0, "transfers": 0}
    for op in decode_ops(cfg, weight_bits):
        out["weight"] += op["w"] * op["w_bits"] / 8
        out["kv"] += (op["kv_r"] + op["kv_w"]) * cfg.kv_bits / 8
        out["transfers"] += (op["w"] > 0) + (op["kv_r"] > 0) + (op["kv_w"] > 0)
        if not on_chip:
            out["act"] += (op["a_in"] + op["a_out"]) * cfg.act_bits / 8
            out["transfers"] += (op["a_in"] > 0) + (op["a_out"] > 0)
    out = {k: v * cfg.n_layers for k, v in out.items()}
    out["total"] = out["weight"] + out["kv"] + out["act"]
    return out


def decode_time_ns(traffic: dict, cfg: Config, t0_ns: float | None = None) -> tuple[float, float]:
    """Modelled DRAM time per token, sum of s / BW + t0 over transfers, and bandwidth utilisation."""
    t0 = cfg.t0_ns if t0_ns is None else t0_ns
    t = traffic["total"] / cfg.bw_bytes_per_ns + traffic["transfers"] * t0
    return t, traffic["total"] / (t * cfg.bw_bytes_per_ns)
