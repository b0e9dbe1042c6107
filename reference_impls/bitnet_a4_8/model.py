"""BitNet a4.8: 4-bit activations for 1-bit (ternary) LLMs, as a NumPy toy.

Paper: Hongyu Wang, Shuming Ma, Furu Wei, "BitNet a4.8: 4-bit Activations for 1-bit LLMs",
https://arxiv.org/abs/2411.04965

Every linear layer is a BitLinear with ternary weights. Activations are treated according to their
distribution. Inputs to attention and FFN are roughly Gaussian and get 4-bit codes. Intermediate states
(the input of the attention output projection and of the FFN down projection) are sharp and have outlier
channels, so they are sparsified and kept at 8 bits:

    RoundClip(X, a, b) = min(max(round(X), a), b)                                   Eq. (4)
    Q_w(W)    = alpha * RoundClip(W / (alpha + eps), -1, 1),     alpha = mean|W|       Eq. (2)
    Q_INT8(X) = gamma/127 * RoundClip(127 X / (gamma + eps), -128, 127), gamma = max|X|   Eq. (3)
    Q_INT4(X) = beta/sqrt7 * RoundClip(sqrt7 X / (beta + eps), -8, 7),   beta = mean|X|   Eq. (7)
    attention / FFN inputs:   Y = Q_INT4(X) . Q_w(W)^T                                  Eq. (6)
    attention output proj.:   Y = (Q_INT8(X) * M) . Q_w(W)^T,  M = Top_k(|X|), K = 50%  Eq. (1)
    FFN:   ReLU2GLU(X) = X W_up^T * ReLU(X W_gate^T)^2, its output (down-proj input) in INT8  Eq. (5)

Because ReLU^2 zeroes many gate channels, the up projection only needs the channels whose gate is
nonzero. Its sparsity is then 1 - (1 - s_in)(1 - s_gate), as in the paper's Table 2 accounting.

| paper            | code                         |
|------------------|------------------------------|
| alpha, beta, gamma | ``alpha``, ``beta``, ``gamma`` |
| eps              | ``Config.eps``               |
| Top_k, K         | ``topk_mask``, ``Config.topk`` |
| W_up, W_gate, W_down | ``p["up"]``, ``p["gate"]``, ``p["down"]`` |

Where this toy departs from the paper: no training (no STE, no two-stage 8-bit then 4-bit recipe),
random weights and synthetic activations, so sparsities from ReLU^2 (~50% here) are far below the
>80% a trained model reaches. Activation scales are per token, one row of X; the paper writes the
functions for a tensor X. A single causal head stands in for multi-head attention with RoPE. The
b-bit absmean and absmax sweeps generalise Eq. (7) and Eq. (3) (scale sqrt(Qp) or Qp, Qp = 2^(b-1) - 1);
at b = 4 and b = 8 they are the paper's functions. FP4, 3-bit KV cache and the kernels are not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Config:
    d_model: int = 256
    d_ff: int = 688             # the paper's 7B ratio 11008 / 4096 ~ 2.69
    n_tokens: int = 128
    topk: float = 0.5           # K = 50% for the attention output projection
    eps: float = 1e-5


def round_clip(x: np.ndarray, a: float, b: float) -> np.ndarray:
    """Eq. (4)."""
    return np.minimum(np.maximum(np.round(x), a), b)


def quant_weight(W: np.ndarray, eps: float = 1e-5):
    """Eq. (2): ternary codes in {-1, 0, 1} and one per-tensor scale alpha = mean|W|."""
    alpha = float(np.abs(W).mean())
    return round_clip(W / (alpha + eps), -1, 1).astype(np.int8), alpha


def quant_absmax(X: np.ndarray, bits: int = 8, eps: float = 1e-5):
    """Eq. (3) for bits = 8: per-token codes in [-2^(b-1), 2^(b-1)-1], step gamma / Qp."""
    qp = 2 ** (bits - 1) - 1
    gamma = np.abs(X).max(-1, keepdims=True)
    codes = round_clip(qp * X / (gamma + eps), -qp - 1, qp)
    return codes, gamma / qp


def quant_absmean(X: np.ndarray, bits: int = 4, eps: float = 1e-5, beta_mult: float = 1.0):
    """Eq. (7) for bits = 4: per-token codes in [-8, 7], step beta / sqrt(7), beta = mean|X|."""
    qp = 2 ** (bits - 1) - 1
    beta = beta_mult * np.abs(X).mean(-1, keepdims=True)
    codes = round_clip(np.sqrt(qp) * X / (beta + eps), -qp - 1, qp)
    return codes, beta / np.sqrt(qp)


def topk_mask(X: np.ndarray, frac: float) -> np.ndarray:
    """M = Top_k(|X|) of Eq. (1): keep the K = frac * d largest-magnitude entries of each token."""
    k = int(round(frac * X.shape[-1]))
    order = np.argsort(-np.abs(X), axis=-1, kind="stable")[..., :k]
    mask = np.zeros(X.shape, dtype=bool)
    np.put_along_axis(mask, order, True, axis=-1)
    return mask


def sparsify_int8(X: np.ndarray, frac: float, eps: float = 1e-5) -> np.ndarray:
    """Q_INT8(X) * M of Eq. (1), returned dequantised (the kept maximum keeps gamma unchanged)."""
    codes, step = quant_absmax(X, 8, eps)
    return codes * topk_mask(X, frac) * step


def dequant(codes_and_step) -> np.ndarray:
    codes, step = codes_and_step
    return codes * step


def bitlinear(Xhat: np.ndarray, W: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Y = Xhat . Q_w(W)^T for an already quantised input Xhat."""
    codes, alpha = quant_weight(W, eps)
    return Xhat @ (alpha * codes.astype(float)).T


def relu2_glu(X: np.ndarray, W_up: np.ndarray, W_gate: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Eq. (5) with ternary weights, dense: X W_up^T * ReLU(X W_gate^T)^2."""
    return bitlinear(X, W_up, eps) * np.maximum(bitlinear(X, W_gate, eps), 0.0) ** 2


def relu2_glu_gate_first(X, W_up, W_gate, eps: float = 1e-5):
    """Eq. (5) computed gate first: the up projection runs only on channels with a nonzero gate.

    Returns the output and the multiply-accumulates spent on the up projection, counted as
    (nonzero input entries) x (nonzero gate channels) per token.
    """
    g = np.maximum(bitlinear(X, W_gate, eps), 0.0) ** 2
    codes, alpha = quant_weight(W_up, eps)
    out, macs = np.zeros_like(g), 0
    for t in range(X.shape[0]):
        on, nz = np.nonzero(g[t])[0], np.nonzero(X[t])[0]
        out[t, on] = alpha * (codes[np.ix_(on, nz)] @ X[t, nz]) * g[t, on]
        macs += len(on) * len(nz)
    return out, macs


def rmsnorm(x: np.ndarray) -> np.ndarray:
    return x / np.sqrt((x ** 2).mean(-1, keepdims=True) + 1e-6)


def init_params(cfg: Config, rng: np.random.Generator) -> dict:
    d, f = cfg.d_model, cfg.d_ff
    shapes = {"qkv": (3 * d, d), "out": (d, d), "up": (f, d), "gate": (f, d), "down": (d, f)}
    return {k: rng.standard_normal(s) / np.sqrt(s[1]) for k, s in shapes.items()}


def block_forward(x: np.ndarray, p: dict, cfg: Config):
    """One BitNet a4.8 block (pre-norm, residual) and the sparsity of each projection's input.

    Sparsity = share of zero entries in the quantised input, i.e. of weight columns a token skips.
    """
    eps, d = cfg.eps, cfg.d_model
    a_in = dequant(quant_absmean(rmsnorm(x), 4, eps))                   # INT4, Eq. (6)-(7)
    q, k, v = np.split(bitlinear(a_in, p["qkv"], eps), 3, axis=-1)
    s = q @ k.T / np.sqrt(d) + np.triu(np.full((len(x), len(x)), -np.inf), 1)
    attn = np.exp(s - s.max(-1, keepdims=True))
    ctx = (attn / attn.sum(-1, keepdims=True)) @ v
    o_in = sparsify_int8(ctx, cfg.topk, eps)                            # top-K + INT8, Eq. (1)
    h = x + bitlinear(o_in, p["out"], eps)
    f_in = dequant(quant_absmean(rmsnorm(h), 4, eps))                   # INT4
    gate = np.maximum(bitlinear(f_in, p["gate"], eps), 0.0) ** 2
    d_in_fp = bitlinear(f_in, p["up"], eps) * gate                      # ReLU2GLU, Eq. (5)
    d_in = dequant(quant_absmax(d_in_fp, 8, eps))                       # INT8 down-proj input
    y = h + bitlinear(d_in, p["down"], eps)
    zero = lambda z: float(np.mean(z == 0))
    sp = {"qkv": zero(a_in), "out": zero(o_in), "gate": zero(f_in), "down": zero(d_in)}
    sp["up"] = up_sparsity(zero(f_in), zero(gate))
    states = {"attn_in": rmsnorm(x), "out_in": ctx, "ffn_in": rmsnorm(h), "down_in": d_in_fp}
    return y, sp, states


def up_sparsity(s_in: float, s_gate: float) -> float:
    """Up projection skips zero inputs and zero gate channels: 1 - (1 - s_in)(1 - s_gate)."""
    return 1.0 - (1.0 - s_in) * (1.0 - s_gate)


def overall_sparsity(sp: dict, d: int, f: int) -> float:
    """Parameter-weighted sparsity of one block (non-embedding); active share = 1 - this."""
    n = {"qkv": 3 * d * d, "out": d * d, "up": d * f, "gate": d * f, "down": d * f}
    return sum(n[k] * sp[k] for k in n) / sum(n.values())


def ternary(W: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Q_w(W) of Eq. (2) as a dequantised matrix alpha * codes."""
    codes, alpha = quant_weight(W, eps)
    return alpha * codes.astype(float)


def rel_error(Xhat: np.ndarray, X: np.ndarray, Wq: np.ndarray) -> float:
    """Relative Frobenius error of the output X . Wq^T caused by quantising the input X to Xhat."""
    return float(np.linalg.norm((Xhat - X) @ Wq.T) / np.linalg.norm(X @ Wq.T))


def outlier_states(rng: np.random.Generator, n: int, d: int, n_outliers: int = 4,
                   scale: float = 30.0) -> np.ndarray:
    """Synthetic intermediate states: sharp Laplace bulk plus a few large outlier channels."""
    X = rng.laplace(size=(n, d))
    X[:, rng.choice(d, n_outliers, replace=False)] *= scale
    return X
