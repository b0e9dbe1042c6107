"""SeTformer is What You Need for Vision and Language -- Self-optimal Transport (SeT) attention in NumPy.

Paper: Pourya Shamsolmoali, Masoumeh Zareapoor, Eric Granger, Michael Felsberg, arXiv:2401.03540 (AAAI 2024).
No official code was found; the transport machinery follows the optimal-transport kernel embedding (OTKE,
Mialon et al., ICLR 2021, github.com/claying/OTK) that SeT builds on.

SeTformer replaces dot-product self-attention (DPSA) with SeT, keeping the two properties of softmax the authors
single out: attention weights are non-negative, and they re-weight tokens non-linearly so that well-matched
tokens dominate. SeT works in two steps.

**1. Kernel embedding.** Tokens x_1..x_n (unit-normalised) are mapped into the RKHS of a Gaussian kernel on the
sphere, kappa(x, x') = exp(alpha (<x, x'> - 1)), through a Nystrom map with m anchors w_1..w_m:

    phi(x) = kappa(W, W)^{-1/2} kappa(W, x)  in R^m,      <phi(x), phi(x')> ~= kappa(x, x')

(exact whenever x or x' is an anchor).

**2. Optimal transport onto a reference.** With a reference set y_1..y_p, the kernel gives the transport cost
C_ij = -<phi(x_i), phi(y_j)> (similar = cheap). Entropic OT with uniform marginals a = 1/n, b = 1/p,

    T = argmin_{T 1 = a, T^T 1 = b}  <C, T> - eps H(T),     T = diag(u) G diag(v),  G = exp(-C / eps)

is solved by Sinkhorn's alternating scaling u = a / (G v), v = b / (G^T u). The attention is A = p T^T
(p x n): rows sum to 1 like softmax, every column sums to p / n, so no token is ignored or over-used; when
p = n, A is doubly stochastic. Stopping before the first u-step (u = 1) leaves A = row-softmax(S^T / eps),
with S = -C: plain softmax attention of the references over the tokens is the zero-iteration case.
The output aggregates the embedded tokens, A_y(x) = A phi(x) (p x m).
Optional positional prior: G is multiplied by exp(-((i/n - j/p) / sigma)^2), an exponential penalty on the
distance between relative positions.

**Cost.** Every step is an n x m, n x p or m x m product, so one SeT costs O(n (m d + m^2 + p m + iters p))
-- linear in n -- against O(n^2 d) for DPSA.

| paper / OTKE           | code                          |
|------------------------|-------------------------------|
| x (n tokens, dim d)    | x (n, d)                      |
| kappa, alpha           | kernel(), cfg.alpha           |
| anchors W (m), phi     | anchors, nystrom_features()   |
| reference y (p)        | ref (p, d)                    |
| C, G, eps              | -S, G, cfg.eps                |
| T (transport plan)     | T (n, p); A = p T^T           |
| A_y(x)                 | out (p, m)                    |
| sigma (positions)      | cfg.pos_sigma                 |

**Where this toy departs from the paper.** We could read the paper's abstract and secondary summaries but not
its method section, so the normalisations (marginals 1/n and 1/p, output A phi(x) with rows summing to one) are
OTKE's choices, and the positional prior is applied once, before Sinkhorn (OTKE's code also multiplies it into
the final plan). References and anchors come from spherical k-means on the input, not from training; there is no
multi-head split, no projection layers, no hierarchical backbone, and no mapping of the p outputs back to the n
token positions, because we could not confirm how SeTformer does that. No experiment of the paper is reproduced.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Config:
    dim: int = 16  # d
    n_anchors: int = 32  # m, Nystrom anchors
    n_ref: int = 16  # p, reference size
    alpha: float = 1.0  # kernel bandwidth on the unit sphere
    eps: float = 0.1  # entropic regularisation
    n_iter: int = 20  # Sinkhorn iterations (one = one row and one column scaling)
    pos_sigma: float | None = None  # width of the positional penalty; None = no positional prior


class OpCounter:
    """Multiply-accumulate counts per kind; n-independent one-off work goes under "setup"."""

    def __init__(self):
        self.macs: dict[str, int] = {}

    def add(self, kind: str, n: int) -> None:
        self.macs[kind] = self.macs.get(kind, 0) + int(n)

    @property
    def total(self) -> int:
        return sum(self.macs.values())


def _count(counter, kind, n):
    if counter is not None:
        counter.add(kind, n)


def normalize(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def kernel(x: np.ndarray, y: np.ndarray, alpha: float, counter=None, kind="kernel") -> np.ndarray:
    """Gaussian kernel on the sphere: kappa(x, y) = exp(alpha (<x, y> - 1)) = exp(-alpha/2 ||x - y||^2)."""
    _count(counter, kind, x.shape[0] * y.shape[0] * x.shape[1])
    return np.exp(alpha * (normalize(x) @ normalize(y).T - 1.0))


def nystrom_map(anchors: np.ndarray, alpha: float, counter=None) -> np.ndarray:
    """kappa(W, W)^{-1/2} via an eigendecomposition (a small jitter keeps it invertible)."""
    K = kernel(anchors, anchors, alpha, counter, "setup")
    vals, vecs = np.linalg.eigh(K + 1e-8 * np.eye(len(K)))
    _count(counter, "setup", len(K) ** 3)
    return (vecs / np.sqrt(np.maximum(vals, 1e-12))) @ vecs.T


def nystrom_features(x, anchors, alpha, inv_sqrt, counter=None, kind="embed") -> np.ndarray:
    """phi(x) = kappa(W, W)^{-1/2} kappa(W, x), one row per token: (n, m)."""
    k = kernel(x, anchors, alpha, counter, kind)
    _count(counter, kind, k.shape[0] * k.shape[1] ** 2)
    return k @ inv_sqrt


def positional_prior(n: int, p: int, sigma: float) -> np.ndarray:
    """Exponential penalty on relative-position distance: exp(-((i/n - j/p) / sigma)^2), shape (n, p)."""
    return np.exp(-(((np.arange(n)[:, None] / n) - (np.arange(p)[None, :] / p)) / sigma) ** 2)


def sinkhorn(G: np.ndarray, n_iter: int, counter=None, history: bool = False):
    """Scale G (n x p, positive) towards marginals a = 1/n (tokens), b = 1/p (references).

    The reference-side scaling comes last, so A = p T^T always has rows summing to one; n_iter counts the
    token-side scalings. n_iter = 0 gives u = 1, i.e. A = row-softmax of S / eps (plain softmax attention of the
    references over the tokens). Returns T = diag(u) G diag(v) and, if history, the L1 token-marginal error
    |T 1 - a|_1 after 0, 1, ..., n_iter token-side scalings."""
    n, p = G.shape
    a, b = np.full(n, 1.0 / n), np.full(p, 1.0 / p)
    u = np.ones(n)
    errors = []
    for k in range(n_iter + 1):
        v = b / (G.T @ u)  # reference-side scaling: T^T 1 = b exactly
        _count(counter, "sinkhorn", n * p)
        row = u * (G @ v)  # current token marginal T 1
        _count(counter, "sinkhorn", n * p)
        if history:
            errors.append(np.abs(row - a).sum())
        if k < n_iter:
            u = u * a / row  # token-side scaling: T 1 = a exactly (until v moves again)
    T = u[:, None] * G * v[None, :]
    return (T, np.array(errors)) if history else T


def transport_attention(S: np.ndarray, cfg: Config, counter=None, history=False):
    """From similarities S_ij = <phi(x_i), phi(y_j)> (cost C = -S) to attention A = p T^T (p x n)."""
    n, p = S.shape
    G = np.exp((S - S.max()) / cfg.eps)  # Gibbs kernel exp(-C/eps); the shift is absorbed by u, v
    if cfg.pos_sigma is not None:
        G = G * positional_prior(n, p, cfg.pos_sigma)
    res = sinkhorn(G, cfg.n_iter, counter, history)
    T, errors = res if history else (res, None)
    return (p * T.T, errors) if history else p * T.T


def set_attention(x, ref, anchors, cfg: Config, counter=None):
    """SeT in its kernelised (linear-cost) form: returns the attention A (p x n) and A_y(x) = A phi(x) (p x m)."""
    inv_sqrt = nystrom_map(anchors, cfg.alpha, counter)
    phi_x = nystrom_features(x, anchors, cfg.alpha, inv_sqrt, counter)  # (n, m)
    phi_y = nystrom_features(ref, anchors, cfg.alpha, inv_sqrt, counter, "setup")  # (p, m), independent of n
    S = phi_x @ phi_y.T  # kernel cost, C = -S
    _count(counter, "cost", S.size * phi_x.shape[1])
    A = transport_attention(S, cfg, counter)
    _count(counter, "aggregate", A.size * phi_x.shape[1])
    return A, A @ phi_x


def set_attention_explicit(x, ref, cfg: Config):
    """Reference path: the same plan built from the exact kernel kappa(x_i, y_j) instead of Nystrom features."""
    return transport_attention(kernel(x, ref, cfg.alpha), cfg)


def softmax_attention(x: np.ndarray, counter=None):
    """Plain DPSA with identity projections: A = softmax(x x^T / sqrt(d)) (n x n), output A x."""
    n, d = x.shape
    s = x @ x.T / np.sqrt(d)
    A = np.exp(s - s.max(-1, keepdims=True))
    A /= A.sum(-1, keepdims=True)
    _count(counter, "scores", n * n * d)
    _count(counter, "aggregate", n * n * d)
    return A, A @ x


def spherical_kmeans(x: np.ndarray, k: int, rng: np.random.Generator, iters: int = 10) -> np.ndarray:
    """k unit-norm centroids (OTKE's unsupervised initialisation of anchors and references)."""
    xn = normalize(x)
    c = xn[rng.choice(len(xn), size=k, replace=False)]
    for _ in range(iters):
        assign = np.argmax(xn @ c.T, axis=1)
        for j in range(k):
            if np.any(assign == j):
                c[j] = xn[assign == j].sum(0)
        c = normalize(c)
    return c


def row_entropy(A: np.ndarray) -> float:
    """Mean entropy (nats) of the rows of a row-stochastic matrix; lower = more concentrated weights."""
    P = A / A.sum(-1, keepdims=True)
    return float(-(P * np.log(np.maximum(P, 1e-300))).sum(-1).mean())
