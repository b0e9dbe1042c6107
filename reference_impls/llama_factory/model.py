"""LoRA, freeze-tuning and full fine-tuning of one small network, the way LlamaFactory offers them.

Paper: *LlamaFactory: Unified Efficient Fine-Tuning of 100+ Language Models*, Zheng et al., ACL 2024 System
Demonstrations, https://arxiv.org/abs/2403.13372 (code: github.com/hiyouga/LLaMA-Factory).

LlamaFactory is a framework: it wires one model loader, one data worker and one trainer to many efficient
fine-tuning methods. This file implements the central one of its menu, LoRA (with two baselines the framework
also offers), from scratch on a two-layer tanh network so every gradient is visible.

LoRA keeps a pretrained weight ``W`` (``d_out x d_in``) frozen and learns a low-rank change beside it:

    h = W x + (alpha / r) B A x,      A in R^{r x d_in} (random),  B in R^{d_out x r} (zeros)      (1)

Because ``B = 0`` at the start, the adapted network is the pretrained one exactly. Only ``A`` and ``B`` are
trained; with ``G = dL/dW'`` the gradient of the effective weight ``W' = W + s B A`` (``s = alpha / r``),

    dL/dB = s G A^T,     dL/dA = s B^T G                                                            (2)

(computed here from activations, without ever forming ``G``). After training the adapter can be merged,
``W_merged = W + s B A``, which gives the same outputs as Eq. (1) with no extra inference cost.
Each adapted matrix trains ``r (d_in + d_out)`` numbers instead of ``d_in d_out``:

    trainable fraction = r (d_in + d_out) / (d_in d_out)                                           (3)

Freeze-tuning, also in LlamaFactory's list, trains only the last layer(s) and freezes the rest.

| paper                     | variable              |
|---------------------------|-----------------------|
| W (frozen pretrained)     | ``base["W1"]``, ``base["W2"]`` |
| A, B                      | ``adapters["A1"]``, ``adapters["B1"]`` (and ``A2``, ``B2``) |
| r (lora_rank)             | ``rank``              |
| alpha (lora_alpha)        | ``alpha = cfg.alpha_per_rank * rank`` |
| s = alpha / r             | ``scale``             |
| Delta W (true update)     | ``make_task`` builds a rank-``true_rank`` change |

Where this toy departs from the paper: no language model, tokens or PEFT library; the "pretrained model" is a
random two-layer tanh network, and the "downstream task" is that network with a hidden rank-``true_rank``
change added to both weight matrices, so the best reachable loss of each method is known in advance.
Optimiser is plain Adam with hand-written gradients. QLoRA, DoRA, GaLore and the RLHF stages are not modelled.
LlamaFactory's default ``lora_alpha = 2 * lora_rank`` (so ``s = 2``) is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Config:
    d_in: int = 32
    d_hidden: int = 48
    d_out: int = 16
    true_rank: int = 4            # rank of the hidden change that defines the downstream task
    n_samples: int = 512
    alpha_per_rank: float = 2.0   # lora_alpha = 2 * lora_rank, LlamaFactory's default
    lr: float = 0.01              # Adam step size
    steps: int = 300


def init_base(cfg: Config, rng: np.random.Generator) -> dict:
    """The frozen 'pretrained' network: x -> W2 tanh(W1 x + b1) + b2."""
    return {"W1": rng.normal(0, 1 / np.sqrt(cfg.d_in), (cfg.d_hidden, cfg.d_in)), "b1": np.zeros(cfg.d_hidden),
            "W2": rng.normal(0, 1 / np.sqrt(cfg.d_hidden), (cfg.d_out, cfg.d_hidden)), "b2": np.zeros(cfg.d_out)}


def make_task(cfg: Config, base: dict, rng: np.random.Generator):
    """Inputs and targets of a task whose ideal weight change has rank ``cfg.true_rank`` in each layer."""
    target = dict(base)
    for name in ("W1", "W2"):
        d_o, d_i = base[name].shape
        U, V = rng.normal(size=(d_o, cfg.true_rank)), rng.normal(size=(cfg.true_rank, d_i))
        target[name] = base[name] + 0.8 * U @ V / np.sqrt(cfg.true_rank * d_i)   # Delta W, rank true_rank
    X = rng.normal(size=(cfg.n_samples, cfg.d_in))
    return X, forward(target, {}, X)[0]


def init_lora(base: dict, rank: int, rng: np.random.Generator) -> dict:
    """A ~ U(+-1/sqrt(d_in)) (PEFT's Kaiming-uniform default), B = 0, for both weight matrices (Eq. 1)."""
    ad = {}
    for k in ("1", "2"):
        d_o, d_i = base["W" + k].shape
        bound = 1 / np.sqrt(d_i)
        ad["A" + k] = rng.uniform(-bound, bound, (rank, d_i))
        ad["B" + k] = np.zeros((d_o, rank))
    return ad


def lora_scale(cfg: Config, rank: int) -> float:
    """s = alpha / r with alpha = alpha_per_rank * r."""
    alpha = cfg.alpha_per_rank * rank
    return alpha / rank


def merge(base: dict, adapters: dict, scale: float) -> dict:
    """W_merged = W + s B A: one plain network with the adapter folded in."""
    out = dict(base)
    for k in ("1", "2"):
        if "A" + k in adapters:
            out["W" + k] = base["W" + k] + scale * adapters["B" + k] @ adapters["A" + k]
    return out


def _linear(x, p, ad, k, scale):
    """Eq. (1): W x + b plus the low-rank side path when an adapter is present (never merged here)."""
    y = x @ p["W" + k].T + p["b" + k]
    if "A" + k in ad:
        y = y + scale * (x @ ad["A" + k].T) @ ad["B" + k].T
    return y


def forward(params: dict, adapters: dict, X: np.ndarray, scale: float = 1.0):
    H = np.tanh(_linear(X, params, adapters, "1", scale))
    return _linear(H, params, adapters, "2", scale), H


def mse(Y_hat, Y) -> float:
    return float(np.mean((Y_hat - Y) ** 2))


def gradients(params: dict, adapters: dict, X, Y, scale: float = 1.0):
    """Hand-written backward pass; returns (grads of base weights, grads of adapters)."""
    Y_hat, H = forward(params, adapters, X, scale)
    G2 = 2 * (Y_hat - Y) / Y_hat.size                      # dL/d(output)
    W2 = params["W2"] + (scale * adapters["B2"] @ adapters["A2"] if "A2" in adapters else 0)
    G1 = (G2 @ W2) * (1 - H ** 2)                          # dL/d(pre-activation), tanh' = 1 - tanh^2
    g_base = {"W2": G2.T @ H, "b2": G2.sum(0), "W1": G1.T @ X, "b1": G1.sum(0)}
    g_ad = {}
    for k, G, Xin in (("1", G1, X), ("2", G2, H)):
        if "A" + k in adapters:
            A, B = adapters["A" + k], adapters["B" + k]
            g_ad["B" + k] = scale * G.T @ (Xin @ A.T)      # Eq. (2): s G A^T, with G = (dL/dy)^T x
            g_ad["A" + k] = scale * (G @ B).T @ Xin        # Eq. (2): s B^T G
    return g_base, g_ad


def trainable_fraction(d_in: int, d_out: int, rank: int) -> float:
    """Eq. (3)."""
    return rank * (d_in + d_out) / (d_in * d_out)


def count_trainable(cfg: Config, method: str, rank: int = 0) -> int:
    """How many numbers the optimiser updates for each method."""
    if method == "full":
        return cfg.d_hidden * cfg.d_in + cfg.d_hidden + cfg.d_out * cfg.d_hidden + cfg.d_out
    if method == "freeze":
        return cfg.d_out * cfg.d_hidden + cfg.d_out
    return rank * (cfg.d_in + cfg.d_hidden) + rank * (cfg.d_hidden + cfg.d_out)


def fine_tune(cfg: Config, base: dict, X, Y, method: str, rank: int = 0, rng: np.random.Generator | None = None):
    """Adam on the method's trainable set: 'full' (all weights), 'freeze' (last layer only) or 'lora'.

    Returns (loss per step, final params, final adapters, scale). For 'lora' the returned params are the
    untouched base weights: only the adapters move.
    """
    params = {k: v.copy() for k, v in base.items()}
    adapters = init_lora(base, rank, rng) if method == "lora" else {}
    scale = lora_scale(cfg, rank) if method == "lora" else 1.0
    if method == "full":
        train = {k: params for k in params}
    elif method == "freeze":
        train = {"W2": params, "b2": params}
    else:
        train = {k: adapters for k in adapters}
    m = {k: 0.0 for k in train}
    v = {k: 0.0 for k in train}
    b1, b2, eps = 0.9, 0.999, 1e-8
    losses = []
    for t in range(1, cfg.steps + 1):
        losses.append(mse(forward(params, adapters, X, scale)[0], Y))
        g_base, g_ad = gradients(params, adapters, X, Y, scale)
        for k, store in train.items():
            g = g_ad[k] if store is adapters else g_base[k]
            m[k] = b1 * m[k] + (1 - b1) * g
            v[k] = b2 * v[k] + (1 - b2) * g * g
            store[k] = store[k] - cfg.lr * (m[k] / (1 - b1 ** t)) / (np.sqrt(v[k] / (1 - b2 ** t)) + eps)
    losses.append(mse(forward(params, adapters, X, scale)[0], Y))
    return np.array(losses), params, adapters, scale
