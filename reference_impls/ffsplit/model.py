"""FFSplit: split the FFN at its heavy-hitter neurons and compress the rest harder.

Paper: Zirui Liu, Qingquan Song, Qiang Charles Xiao, Sathiya Keerthi Selvaraj, Rahul Mazumder, Aman Gupta, Xia Hu,
"FFSplit: Split Feed-Forward Network For Optimizing Accuracy-Efficiency Trade-off in Language Model Inference",
arXiv:2401.04044.

**The observation.** A transformer FFN with m hidden neurons is a sum of per-neuron contributions:

    FFN(x) = sigma(x W1 + b1) W2 + b2 = sum_i a_i(x) * W2[i, :] + b2,     a_i(x) = sigma(x W1[:, i] + b1[i])

so neuron i adds a vector of norm |a_i(x)| * ||W2[i, :]|| to token x. The paper observes that for any input
token only a few neurons have a large output norm, the "heavy hitters", while the others fire sparsely, each for
a few tokens. Ranking neurons by their mean output norm on calibration tokens finds them.

**The split.** With H the heavy-hitter set and R the rest, the FFN is exactly the sum of two smaller FFNs:

    FFN(x) = FFN1(x) + FFN2(x) + b2,   FFN1 = (W1[:, H], b1[H], W2[H, :]),   FFN2 = (W1[:, R], b1[R], W2[R, :])

Nothing is lost by splitting. The gain comes from compressing the two parts differently: more resources go to
FFN1 (here: kept exact) and FFN2 is compressed hard. The toy compresses with a rank-r truncated SVD of each
weight, W ~ (U_r S_r) V_r^T, which stores r (rows + cols) numbers instead of rows * cols.

| paper                        | here                                   |
|------------------------------|----------------------------------------|
| FFN weights W1, b1, W2, b2   | `ffn["W1"]`, `["b1"]`, `["W2"]`, `["b2"]` |
| neuron output norm           | `neuron_output_norms` -> (tokens, m)   |
| heavy hitters H              | `heavy_hitters(...)` indices           |
| FFN1 / FFN2                  | `split_ffn(ffn, H)` -> two sub-FFNs    |
| low-rank compression         | `low_rank(W, r)` (truncated SVD)       |

**Where this toy departs from the paper.** The FFN is synthetic, not BERT or OPT: d = 64, m = 256, GeLU, and
weights with a decaying singular spectrum. The premise is built in on purpose: a few planted neurons get a large
positive bias, so they are active for every token with a large output, while the other neurons have a negative
bias and fire sparsely. Heavy hitters are picked by mean output norm on calibration tokens; the paper's exact
selection rule, its compression settings per part, its quantisation experiments and its wall-clock speedups
(1.25-1.56x) are not reproduced. Plain weight SVD (no data-aware factorisation) is used for every method, and
accuracy is the relative output error of one FFN on held-out tokens, not a task metric.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Config:
    d_model: int = 64
    d_ff: int = 256  # m, number of FFN neurons
    n_planted: int = 8  # heavy neurons built into the synthetic FFN (about 3% of m)
    heavy_bias: float = 3.0  # b1 of the planted neurons: always active
    sparse_bias: float = -1.5  # b1 of the others: fire only for some tokens
    spectrum_decay: float = 0.6  # singular values of W1, W2 fall roughly as (j + 1) ** -decay
    n_tokens: int = 512  # calibration tokens (a second, held-out set of the same size is used for errors)


def gelu(z: np.ndarray) -> np.ndarray:
    return 0.5 * z * (1.0 + np.tanh(0.7978845608028654 * (z + 0.044715 * z * z * z)))  # tanh form, sqrt(2/pi)


def _decaying(rng: np.random.Generator, rows: int, cols: int, decay: float) -> np.ndarray:
    """Random matrix sum_j (j + 1) ** -decay * u_j v_j^T (Gaussian u_j, v_j): a roughly power-law singular
    spectrum, so that low rank is a sensible compression. Scaled to unit mean square entry."""
    r = min(rows, cols)
    w = (rng.normal(size=(rows, r)) * (np.arange(r) + 1.0) ** -decay) @ rng.normal(size=(r, cols))
    return w / np.sqrt(np.mean(w * w))


def make_ffn(cfg: Config, rng: np.random.Generator) -> tuple[dict, np.ndarray]:
    """Synthetic GeLU FFN with planted heavy hitters; returns the weights and the planted neuron indices."""
    d, m = cfg.d_model, cfg.d_ff
    planted = np.sort(rng.choice(m, cfg.n_planted, replace=False))
    b1 = np.full(m, cfg.sparse_bias)
    b1[planted] = cfg.heavy_bias
    ffn = {"W1": _decaying(rng, d, m, cfg.spectrum_decay) / np.sqrt(d), "b1": b1,
           "W2": _decaying(rng, m, d, cfg.spectrum_decay) / np.sqrt(m), "b2": rng.normal(0.0, 0.1, d)}
    return ffn, planted


def make_tokens(cfg: Config, rng: np.random.Generator) -> np.ndarray:
    """Input tokens x ~ N(0, I_d), shape (n_tokens, d)."""
    return rng.normal(size=(cfg.n_tokens, cfg.d_model))


def ffn_forward(ffn: dict, x: np.ndarray) -> np.ndarray:
    """FFN(x) = sigma(x W1 + b1) W2 + b2. A sub-FFN without "b2" adds no output bias."""
    return gelu(x @ ffn["W1"] + ffn["b1"]) @ ffn["W2"] + ffn.get("b2", 0.0)


def neuron_output_norms(ffn: dict, x: np.ndarray) -> np.ndarray:
    """||a_i(x) W2[i, :]|| = |a_i(x)| * ||W2[i, :]|| for every token and neuron, shape (tokens, m)."""
    return np.abs(gelu(x @ ffn["W1"] + ffn["b1"])) * np.linalg.norm(ffn["W2"], axis=1)


def heavy_hitters(ffn: dict, x_calib: np.ndarray, k: int) -> np.ndarray:
    """The k neurons with the largest mean output norm on calibration tokens (sorted indices)."""
    score = neuron_output_norms(ffn, x_calib).mean(axis=0)
    return np.sort(np.argsort(-score, kind="stable")[:k])


def split_ffn(ffn: dict, heavy: np.ndarray) -> tuple[dict, dict]:
    """FFN1 (heavy hitters) and FFN2 (the rest), neither with b2: FFN(x) = FFN1(x) + FFN2(x) + b2."""
    rest = np.setdiff1d(np.arange(len(ffn["b1"])), heavy)
    part = lambda idx: {"W1": ffn["W1"][:, idx], "b1": ffn["b1"][idx], "W2": ffn["W2"][idx]}  # noqa: E731
    return part(heavy), part(rest)


def split_forward(ffn1: dict, ffn2: dict, b2: np.ndarray, x: np.ndarray) -> np.ndarray:
    return ffn_forward(ffn1, x) + ffn_forward(ffn2, x) + b2


def low_rank(w: np.ndarray, ranks: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Best rank-r factors (Eckart-Young) for each r: W ~ A @ B, A = U_r S_r (rows, r), B = V_r^T (r, cols).

    One SVD serves every rank in the list.
    """
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    return [(u[:, :r] * s[:r], vt[:r]) for r in ranks]


def compress_many(part: dict, ranks: list[int | None]) -> list[dict]:
    """The (sub-)FFN with both weights replaced by rank-r factors, for each r; r=None keeps it exact.

    The factors are what a compressed model stores ("W1_factors", "W2_factors"); "W1"/"W2" hold their product
    so that `ffn_forward` applies unchanged (x @ A @ B would give the same output with fewer operations).
    """
    lr = [r for r in ranks if r is not None]
    f1, f2 = low_rank(part["W1"], lr), low_rank(part["W2"], lr)
    out = []
    for r in ranks:
        if r is None:
            out.append(dict(part))
            continue
        c = {k: v for k, v in part.items() if k not in ("W1", "W2")}
        c["W1_factors"], c["W2_factors"] = f1[lr.index(r)], f2[lr.index(r)]
        c["W1"], c["W2"] = (a @ b for a, b in (c["W1_factors"], c["W2_factors"]))
        out.append(c)
    return out


def compress(part: dict, r: int | None) -> dict:
    """Uniform low-rank compression of a whole (sub-)FFN at rank r (None: exact)."""
    return compress_many(part, [r])[0]


def n_params(part: dict) -> int:
    """Stored numbers of a (possibly compressed) FFN: the factors if present, else the dense weights, plus biases."""
    count = 0
    for name in ("W1", "W2"):
        count += sum(f.size for f in part[name + "_factors"]) if name + "_factors" in part else part[name].size
    return count + part["b1"].size + (part["b2"].size if "b2" in part else 0)


def low_rank_params(rows: int, cols: int, r: int) -> int:
    """Size of rank-r factors of a rows x cols weight: r (rows + cols)."""
    return r * (rows + cols)


def ffsplit_compress(ffn: dict, heavy: np.ndarray, r_rest: list, r_heavy: int | None = None) -> list:
    """FFSplit for each rank in r_rest: FFN1 (heavy hitters) exact or at rank r_heavy, FFN2 at that rank.

    Returns a list of (FFN1, FFN2) pairs; the output is FFN1(x) + FFN2(x) + b2 (`split_forward`).
    """
    ffn1, ffn2 = split_ffn(ffn, heavy)
    ffn1 = compress(ffn1, r_heavy)
    return [(ffn1, part) for part in compress_many(ffn2, r_rest)]


def budget_ranks(d: int, m: int, k: int, fraction: float) -> tuple[int, int]:
    """Ranks at a parameter budget (a fraction of the dense W1 + W2 size).

    Uniform low-rank gets r_u = floor(budget / (2 (d + m))). FFSplit keeps 2 k d heavy weights and gets the
    largest r_rest whose total is not above the uniform model's, so the comparison never favours FFSplit.
    """
    r_u = int(fraction * 2 * d * m // (2 * (d + m)))
    uniform = 2 * low_rank_params(d, m, r_u) + m
    r_rest = (uniform - 2 * k * d - m) // (2 * (d + m - k))
    return r_u, int(r_rest)


def relative_error(y_hat: np.ndarray, y: np.ndarray) -> float:
    return float(np.linalg.norm(y_hat - y) / np.linalg.norm(y))
