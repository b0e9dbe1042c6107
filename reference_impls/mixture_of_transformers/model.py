"""Mixture-of-Transformers (MoT): one transformer, a separate set of weights per modality.

Liang et al., *Mixture-of-Transformers: A Sparse and Scalable Architecture for Multi-Modal Foundation Models*,
arXiv:2411.04996 (TMLR 2025). https://arxiv.org/abs/2411.04996

A multi-modal sequence interleaves tokens of several modalities (text, image, speech). Every token already
carries its modality $m_i$, so MoT needs no learned router: it unties *every non-embedding parameter* by
modality (attention projections, feed-forward network, layer norms) and keeps a single self-attention over
the whole mixed sequence (Sec. 2.2, Algorithm 1). For token $i$ of modality $m_i$:

    Q_i = x_i W_Q^{m_i},   K_i = x_i W_K^{m_i},   V_i = x_i W_V^{m_i}                      (Eq. 2)
    o_i = sum_j softmax_j(Q_i K_j^T / sqrt(d_h) + causal_ij) V_j      over ALL tokens j, any modality
    h_i = x_i + LayerNorm_attn^{m_i}(o_i W_O^{m_i})                                           (Eq. 3)
    y_i = h_i + LayerNorm_ffn^{m_i}(FFN^{m_i}(h_i)),   FFN^m(h) = ReLU(h W_1^m) W_2^m

The norm sits on each sub-layer's output (the Chameleon ordering that MoT builds on; the official code does the
same). A token reads exactly one copy of each weight, so the cost per token equals that of the dense model with
one copy, while the parameter count grows K-fold. With all K copies equal, MoT *is* the dense transformer.

| paper                          | code                         |
|--------------------------------|------------------------------|
| modality of token i, m_i       | `m[..., i]` (int in [0, K))  |
| K modalities                   | `Config.n_modalities`        |
| W_Q^m, W_K^m, W_V^m, W_O^m     | `p["W_Q"][m]` ...  (K, d, d) |
| LayerNorm_attn^m, _ffn^m       | `p["g_attn"][m], p["b_attn"][m]`, `p["g_ffn"][m], p["b_ffn"][m]` |
| FFN^m                          | `p["W_1"][m]`, `p["W_2"][m]` |
| d_model, heads, d_ff           | `d_model`, `n_heads`, `d_ff` |

Where this toy departs from the paper: inputs are given vectors (no tokenizer, VQ image tokens or embedding
tables, which MoT leaves shared anyway) and the loss is a regression on synthetic targets instead of
next-token or diffusion losses; FFN is ReLU (the official code uses SwiGLU) and norms are LayerNorm with bias
(the code uses RMSNorm); no QK-norm, RoPE, dropout or tensor parallelism; models have one or two layers of
width 16, trained with hand-written backprop and Adam for a few hundred steps instead of 7B models on
trillions of tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MODALITY_WEIGHTS = ("W_Q", "W_K", "W_V", "W_O", "g_attn", "b_attn", "W_1", "W_2", "g_ffn", "b_ffn")


@dataclass
class Config:
    d_model: int = 16
    n_heads: int = 2
    d_ff: int = 32
    n_layers: int = 1
    n_modalities: int = 2  # K; a dense transformer is the case K = 1
    eps: float = 1e-5


def init_params(cfg: Config, rng: np.random.Generator) -> list[dict]:
    """One dict per layer; every array has a leading modality axis of length K (one untied copy each)."""
    K, d, f = cfg.n_modalities, cfg.d_model, cfg.d_ff
    layers = []
    for _ in range(cfg.n_layers):
        p = {w: rng.normal(0, d**-0.5, (K, d, d)) for w in ("W_Q", "W_K", "W_V", "W_O")}
        p.update(W_1=rng.normal(0, d**-0.5, (K, d, f)), W_2=rng.normal(0, f**-0.5, (K, f, d)))
        for n in ("attn", "ffn"):  # small gains: the residual stream starts close to the input
            p["g_" + n], p["b_" + n] = np.full((K, d), 0.1), np.zeros((K, d))
        layers.append(p)
    return layers


def tie(dense: list[dict], K: int) -> list[dict]:
    """MoT weights whose K copies all equal the dense (K = 1) weights."""
    return [{w: np.repeat(a, K, axis=0) for w, a in p.items()} for p in dense]


def n_params(params: list[dict]) -> int:
    return sum(a.size for p in params for a in p.values())


def groups(m, K):
    """Positions of the tokens of each modality (the 'modality masks' of Algorithm 1), as index arrays."""
    return [np.flatnonzero(m == k) for k in range(K)]


def routed_linear(x, W, grp, flops):
    """Algorithm 1: gather the tokens of each modality k, multiply by W[k] only, scatter back."""
    out = np.empty((x.shape[0], W.shape[2]))
    for k, idx in enumerate(grp):
        out[idx] = x[idx] @ W[k]
        flops[0] += 2 * idx.size * W.shape[1] * W.shape[2]  # multiply-adds actually executed
    return out


def routed_linear_backward(dout, x, W, grp):
    dx, dW = np.empty_like(x), np.zeros_like(W)
    for k, idx in enumerate(grp):
        xk, dk = x[idx], dout[idx]
        dW[k], dx[idx] = xk.T @ dk, dk @ W[k].T
    return dx, dW


def layer_norm(u, g, b, m, eps):
    """LayerNorm^{m_i}: shared normalisation, then the gain and bias of the token's own modality."""
    mu, var = u.mean(-1, keepdims=True), u.var(-1, keepdims=True)
    inv = 1.0 / np.sqrt(var + eps)
    xhat = (u - mu) * inv
    return xhat * g[m] + b[m], (xhat, inv)


def layer_norm_backward(dy, cache, g, m, grp):
    xhat, inv = cache
    dg, db = np.zeros_like(g), np.zeros_like(g)
    for k, idx in enumerate(grp):
        dg[k], db[k] = (dy[idx] * xhat[idx]).sum(0), dy[idx].sum(0)
    dxh = dy * g[m]
    dx = inv * (dxh - dxh.mean(-1, keepdims=True) - xhat * (dxh * xhat).mean(-1, keepdims=True))
    return dx, dg, db


def softmax(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def block_forward(p, x, m, cfg: Config, flops):
    """One MoT layer, Eqs. (2)-(3). x: (B, T, d) inputs, m: (B, T) modality ids. Returns y and a cache."""
    B, T, d = x.shape
    H, dh = cfg.n_heads, d // cfg.n_heads
    xf, mf = x.reshape(-1, d), m.reshape(-1)
    grp = groups(mf, cfg.n_modalities)
    heads = lambda a: a.reshape(B, T, H, dh).transpose(0, 2, 1, 3)  # noqa: E731
    Q, Kt, V = (heads(routed_linear(xf, p[w], grp, flops)) for w in ("W_Q", "W_K", "W_V"))  # Eq. (2)
    # Global attention: every query sees every earlier token, whatever its modality; only the future is masked.
    s = Q @ Kt.transpose(0, 1, 3, 2) / np.sqrt(dh) + np.triu(np.full((T, T), -np.inf), 1)
    P = softmax(s)
    o = (P @ V).transpose(0, 2, 1, 3).reshape(-1, d)
    flops[0] += 4 * B * T * T * d  # Q K^T and P V (same for dense and MoT)
    u = routed_linear(o, p["W_O"], grp, flops)
    a, ln1 = layer_norm(u, p["g_attn"], p["b_attn"], mf, cfg.eps)
    h = xf + a  # Eq. (3), attention half
    z = routed_linear(h, p["W_1"], grp, flops)
    r = np.maximum(z, 0.0)
    f = routed_linear(r, p["W_2"], grp, flops)
    c, ln2 = layer_norm(f, p["g_ffn"], p["b_ffn"], mf, cfg.eps)
    y = h + c  # Eq. (3), feed-forward half
    cache = dict(xf=xf, mf=mf, grp=grp, Q=Q, K=Kt, V=V, P=P, o=o, ln1=ln1, h=h, z=z, r=r, ln2=ln2, shape=(B, T, H, dh))
    return y.reshape(B, T, d), cache


def block_backward(p, dy, c):
    """Hand-written gradient of one layer: returns dL/dx and dL/dp (same keys and shapes as p)."""
    B, T, H, dh = c["shape"]
    mf, grp, dy = c["mf"], c["grp"], dy.reshape(B * T, -1)
    g = {}
    dc = dy  # y = h + c
    df, g["g_ffn"], g["b_ffn"] = layer_norm_backward(dc, c["ln2"], p["g_ffn"], mf, grp)
    dr, g["W_2"] = routed_linear_backward(df, c["r"], p["W_2"], grp)
    dh_, g["W_1"] = routed_linear_backward(dr * (c["z"] > 0), c["h"], p["W_1"], grp)
    dh_ = dh_ + dy
    du, g["g_attn"], g["b_attn"] = layer_norm_backward(dh_, c["ln1"], p["g_attn"], mf, grp)
    do, g["W_O"] = routed_linear_backward(du, c["o"], p["W_O"], grp)
    dO = do.reshape(B, T, H, dh).transpose(0, 2, 1, 3)
    P, V = c["P"], c["V"]
    dP, dV = dO @ V.transpose(0, 1, 3, 2), P.transpose(0, 1, 3, 2) @ dO
    ds = P * (dP - (dP * P).sum(-1, keepdims=True)) / np.sqrt(dh)  # softmax backward; masked entries stay 0
    dQ, dK = ds @ c["K"], ds.transpose(0, 1, 3, 2) @ c["Q"]
    dx = dh_.copy()
    for w, dA in (("W_Q", dQ), ("W_K", dK), ("W_V", dV)):
        dxw, g[w] = routed_linear_backward(dA.transpose(0, 2, 1, 3).reshape(B * T, -1), c["xf"], p[w], grp)
        dx += dxw
    return dx.reshape(B, T, -1), g


def forward(params, x, m, cfg: Config):
    """The stack of MoT layers. Returns the output, the caches for backprop and the FLOPs executed."""
    flops, caches = [0], []
    for p in params:
        x, cache = block_forward(p, x, m, cfg, flops)
        caches.append(cache)
    return x, caches, flops[0]


def backward(params, caches, dy):
    grads = [None] * len(params)
    for i in reversed(range(len(params))):
        dy, grads[i] = block_backward(params[i], dy, caches[i])
    return dy, grads


def toy_task(cfg: Config, rng: np.random.Generator):
    """Synthetic K-modality data: each modality wants its own (conflicting) linear map of the token content.

    x_i = e_i + E[m_i], target_i = A^{m_i} e_i + mean_{j<=i} e_j   (the second term needs attention across
    modalities). The modality embedding E[m] lets the dense model tell modalities apart; it still has to share
    one set of weights between the conflicting maps A^m, which MoT does not.
    """
    K, d = cfg.n_modalities, cfg.d_model
    A = np.stack([np.linalg.qr(rng.normal(size=(d, d)))[0] for _ in range(K)])  # random rotations, one per modality
    E = rng.normal(0, 1.0, (K, d))

    def batch(rng, B=32, T=16):
        e = rng.normal(size=(B, T, d))
        first = rng.integers(0, K, (B, 1))  # a span of one modality, then a span of another
        second = (first + rng.integers(1, K, (B, 1))) % K
        m = np.where(np.arange(T)[None, :] < rng.integers(2, T - 1, (B, 1)), first, second)
        ctx = np.cumsum(e, 1) / np.arange(1, T + 1)[None, :, None]
        y = np.einsum("btij,btj->bti", A[m], e) + ctx
        return e + E[m], m, y

    batch.n_modalities = K
    return batch


def mse(y, target, m, K):
    """Mean squared error overall and per modality, and dL/dy for the overall loss."""
    diff = y - target
    per = [float((diff[m == k] ** 2).mean()) if (m == k).any() else np.nan for k in range(K)]
    return float((diff**2).mean()), per, 2 * diff / diff.size


def train(cfg: Config, params, batch, rng, steps=300, lr=1e-2, betas=(0.9, 0.99)):
    """Adam on the toy task; returns the loss curve (total, per modality) on fresh batches."""
    mom = [{w: np.zeros_like(a) for w, a in p.items()} for p in params]
    vel = [{w: np.zeros_like(a) for w, a in p.items()} for p in params]
    hist = []
    for t in range(1, steps + 1):
        x, m, target = batch(rng)
        route = m if cfg.n_modalities > 1 else np.zeros_like(m)  # the dense model sends every token to copy 0
        y, caches, _ = forward(params, x, route, cfg)
        loss, per, dy = mse(y, target, m, batch.n_modalities)
        hist.append([loss, *per])
        _, grads = backward(params, caches, dy)
        for p, g, mo, ve in zip(params, grads, mom, vel):
            for w in p:
                mo[w] = betas[0] * mo[w] + (1 - betas[0]) * g[w]
                ve[w] = betas[1] * ve[w] + (1 - betas[1]) * g[w] ** 2
                p[w] -= lr * (mo[w] / (1 - betas[0] ** t)) / (np.sqrt(ve[w] / (1 - betas[1] ** t)) + 1e-8)
    return np.array(hist)


def steps_to_reach(curve, level, window=20):
    """First step at which the running mean (over `window` steps) of `curve` is at or below `level`."""
    smooth = np.convolve(curve, np.ones(window) / window, "valid")
    hit = np.flatnonzero(smooth <= level)
    return int(hit[0]) + window if hit.size else None
