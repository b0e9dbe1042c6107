"""A character-level GPT built from additions and multiplications, trained with hand-written backpropagation.

Rohit Patel, *Understanding LLMs from Scratch Using Middle School Math*, Towards Data Science (October 2024).
https://towardsdatascience.com/understanding-llms-from-scratch-using-middle-school-math-e602d27ec876

The article builds a language model from one idea: a neural network only ever turns numbers into numbers.
Text becomes numbers (each character gets an index), the network predicts a score for every possible next
character, and training nudges each weight a little downhill on the error. Then, section by section, it adds
what makes modern LLMs work. Its sections in order (sub-word tokenizers and dropout are left out here), with
our own equations and the code's names:

    characters as numbers     ids = [vocab.index(c) for c in text]
    embeddings                e_t = E[id_t]                              (a learned vector per character)
    self-attention            A = softmax(Q K^T / sqrt(d_h) + M),  Q = a W_Q, K = a W_K, V = a W_V,  out = A V
                              M_ts = 0 if s <= t else -inf          (a position never looks at later characters)
    softmax                   softmax(z)_j = exp(z_j) / sum_k exp(z_k)  (scores -> probabilities; same for z + c)
    residual connections      h <- h + attention(LN_1(h));  h <- h + FFN(LN_2(h)),  FFN(x) = ReLU(x W_1 + b_1) W_2 + b_2
    layer normalisation       LN(x) = g * (x - mean(x)) / sqrt(var(x) + eps) + b
    multi-head attention      H heads of width d_h = d / H side by side, then W_O mixes them
    positional embeddings     h_t = E[id_t] + P[t]                       (a learned vector per position)
    GPT architecture          p(next | prefix) = softmax(LN_f(h_t) W_out + b_out);  loss = -mean_t log p(c_{t+1})

Training is gradient descent: every backward function below is the chain rule written out by hand, and the
test compares it with finite differences (nudge one weight, watch the loss).

| article                              | code                                   |
|--------------------------------------|----------------------------------------|
| vocabulary / character numbers       | `vocab`, `encode`, `decode`            |
| context length                       | `Config.context`                       |
| embedding size, heads, layers        | `d_model`, `n_heads`, `n_layers`       |
| embedding table, positional table    | `p["E"]` (V, d), `p["P"]` (context, d) |
| query/key/value/output weights       | `p["{l}.W_Q"]`, ..., `p["{l}.W_O"]`    |
| layer-norm scale and shift           | `p["{l}.ln1_g"]`, `p["{l}.ln1_b"]` ... |
| output layer                         | `p["W_out"]`, `p["b_out"]`             |

Where this toy departs from the article: characters instead of a sub-word tokenizer; no dropout; pre-norm blocks
(GPT-2 placement) with a final layer norm; Adam instead of plain gradient descent so that training fits in a few
seconds; a tiny model (2 layers, width 32) trained on a few hundred characters, so it memorises rather than
generalises. The article explains these pieces in prose and pictures; the equations above are our own write-up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def build_vocab(text: str) -> list[str]:
    return sorted(set(text))


def encode(text: str, vocab: list[str]) -> np.ndarray:
    """Characters as numbers: each character becomes its index in the vocabulary."""
    index = {c: i for i, c in enumerate(vocab)}
    return np.array([index[c] for c in text], dtype=np.int64)


def decode(ids, vocab: list[str]) -> str:
    return "".join(vocab[int(i)] for i in ids)


def softmax(z, axis=-1):
    """exp(z_j) / sum_k exp(z_k); subtracting the max changes nothing mathematically and avoids overflow."""
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@dataclass
class Config:
    vocab_size: int
    context: int = 16
    d_model: int = 32
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 64
    eps: float = 1e-5
    causal: bool = True  # the mask M; switched off only to show what it prevents
    positions: bool = True  # add the positional embedding P; switched off only to show what it adds


def init_params(cfg: Config, rng: np.random.Generator) -> dict:
    d, f, V = cfg.d_model, cfg.d_ff, cfg.vocab_size
    p = {"E": rng.normal(0, 0.1, (V, d)), "P": rng.normal(0, 0.1, (cfg.context, d))}
    for l in range(cfg.n_layers):
        for w in ("W_Q", "W_K", "W_V", "W_O"):
            p[f"{l}.{w}"] = rng.normal(0, d**-0.5, (d, d))
        p[f"{l}.W_1"], p[f"{l}.b_1"] = rng.normal(0, d**-0.5, (d, f)), np.zeros(f)
        p[f"{l}.W_2"], p[f"{l}.b_2"] = rng.normal(0, f**-0.5 / cfg.n_layers, (f, d)), np.zeros(d)
        for n in ("ln1", "ln2"):
            p[f"{l}.{n}_g"], p[f"{l}.{n}_b"] = np.ones(d), np.zeros(d)
    p["lnf_g"], p["lnf_b"] = np.ones(d), np.zeros(d)
    p["W_out"], p["b_out"] = rng.normal(0, 0.02, (d, V)), np.zeros(V)  # small: the first guess is near uniform
    return p


def n_params(p: dict) -> int:
    return sum(a.size for a in p.values())


# ----------------------------------------------------------------------------------------------- layer norm
def layer_norm(x, g, b, eps):
    """Shift each vector to mean 0 and scale it to variance 1, then apply the learned scale g and shift b."""
    inv = 1.0 / np.sqrt(x.var(-1, keepdims=True) + eps)
    xhat = (x - x.mean(-1, keepdims=True)) * inv
    return xhat * g + b, (xhat, inv)


def layer_norm_backward(dy, cache, g):
    xhat, inv = cache
    dxh = dy * g
    dx = inv * (dxh - dxh.mean(-1, keepdims=True) - xhat * (dxh * xhat).mean(-1, keepdims=True))
    return dx, (dy * xhat).reshape(-1, g.size).sum(0), dy.reshape(-1, g.size).sum(0)


# ---------------------------------------------------------------------------------------- multi-head attention
def attention(a, p, l, cfg: Config):
    """Each position takes a weighted average of the value vectors at or before it (weights from softmax)."""
    B, T, d = a.shape
    H, dh = cfg.n_heads, d // cfg.n_heads
    heads = lambda x: x.reshape(B, T, H, dh).transpose(0, 2, 1, 3)  # noqa: E731  (B, H, T, dh)
    q, k, v = (heads(a @ p[f"{l}.{w}"]) for w in ("W_Q", "W_K", "W_V"))
    s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(dh)  # how well each query matches each key
    if cfg.causal:
        s = s + np.triu(np.full((T, T), -np.inf), 1)  # M: exp(-inf) = 0, so later characters get no weight
    A = softmax(s)
    o = (A @ v).transpose(0, 2, 1, 3).reshape(B, T, d)  # heads side by side
    return o @ p[f"{l}.W_O"], dict(a=a, q=q, k=k, v=v, A=A, o=o)


def attention_backward(dout, c, p, l, g):
    B, T, d = dout.shape
    g[f"{l}.W_O"] = c["o"].reshape(-1, d).T @ dout.reshape(-1, d)
    dO = (dout @ p[f"{l}.W_O"].T).reshape(B, T, *c["q"].shape[1::2]).transpose(0, 2, 1, 3)
    A = c["A"]
    dA, dv = dO @ c["v"].transpose(0, 1, 3, 2), A.transpose(0, 1, 3, 2) @ dO
    ds = A * (dA - (dA * A).sum(-1, keepdims=True)) / np.sqrt(c["q"].shape[-1])  # softmax backward
    dq, dk = ds @ c["k"], ds.transpose(0, 1, 3, 2) @ c["q"]
    da = np.zeros_like(c["a"])
    for w, dx in (("W_Q", dq), ("W_K", dk), ("W_V", dv)):
        dx = dx.transpose(0, 2, 1, 3).reshape(B, T, d)
        g[f"{l}.{w}"] = c["a"].reshape(-1, d).T @ dx.reshape(-1, d)
        da += dx @ p[f"{l}.{w}"].T
    return da


# ------------------------------------------------------------------------------------------------ the GPT
def forward(p, ids, cfg: Config):
    """ids: (B, T) character numbers -> logits (B, T, V): scores for the character after each position."""
    T = ids.shape[1]
    h = p["E"][ids] + (p["P"][:T] if cfg.positions else 0.0)
    caches = []
    for l in range(cfg.n_layers):
        a, ln1 = layer_norm(h, p[f"{l}.ln1_g"], p[f"{l}.ln1_b"], cfg.eps)
        att, ac = attention(a, p, l, cfg)
        h = h + att  # residual connection
        b, ln2 = layer_norm(h, p[f"{l}.ln2_g"], p[f"{l}.ln2_b"], cfg.eps)
        z = b @ p[f"{l}.W_1"] + p[f"{l}.b_1"]
        r = np.maximum(z, 0.0)
        h = h + r @ p[f"{l}.W_2"] + p[f"{l}.b_2"]  # residual connection
        caches.append(dict(ln1=ln1, ac=ac, ln2=ln2, b=b, z=z, r=r))
    hf, lnf = layer_norm(h, p["lnf_g"], p["lnf_b"], cfg.eps)
    logits = hf @ p["W_out"] + p["b_out"]
    return logits, dict(ids=ids, layers=caches, lnf=lnf, hf=hf)


def cross_entropy(logits, targets):
    """Mean of -log p(correct next character), and its gradient with respect to the logits."""
    probs = softmax(logits)
    B, T, V = logits.shape
    picked = probs.reshape(-1, V)[np.arange(B * T), targets.reshape(-1)]
    dlogits = probs.copy()
    dlogits.reshape(-1, V)[np.arange(B * T), targets.reshape(-1)] -= 1.0
    return float(-np.log(picked).mean()), dlogits / (B * T)


def backward(p, cache, dlogits, cfg: Config) -> dict:
    """The chain rule, layer by layer from the output back to the embeddings. Returns dLoss/dp for every p."""
    g = {}
    d = cfg.d_model
    g["W_out"] = cache["hf"].reshape(-1, d).T @ dlogits.reshape(-1, cfg.vocab_size)
    g["b_out"] = dlogits.reshape(-1, cfg.vocab_size).sum(0)
    dh, g["lnf_g"], g["lnf_b"] = layer_norm_backward(dlogits @ p["W_out"].T, cache["lnf"], p["lnf_g"])
    for l in reversed(range(cfg.n_layers)):
        c = cache["layers"][l]
        # FFN half: h_out = h_mid + ReLU(LN_2(h_mid) W_1 + b_1) W_2 + b_2
        g[f"{l}.W_2"], g[f"{l}.b_2"] = c["r"].reshape(-1, cfg.d_ff).T @ dh.reshape(-1, d), dh.reshape(-1, d).sum(0)
        dz = (dh @ p[f"{l}.W_2"].T) * (c["z"] > 0)
        dz2 = dz.reshape(-1, cfg.d_ff)
        g[f"{l}.W_1"], g[f"{l}.b_1"] = c["b"].reshape(-1, d).T @ dz2, dz2.sum(0)
        db, g[f"{l}.ln2_g"], g[f"{l}.ln2_b"] = layer_norm_backward(dz @ p[f"{l}.W_1"].T, c["ln2"], p[f"{l}.ln2_g"])
        dh = dh + db  # the residual path passes the gradient straight through
        # attention half: h_mid = h_in + attention(LN_1(h_in))
        da = attention_backward(dh, c["ac"], p, l, g)
        dx, g[f"{l}.ln1_g"], g[f"{l}.ln1_b"] = layer_norm_backward(da, c["ln1"], p[f"{l}.ln1_g"])
        dh = dh + dx
    g["E"] = np.zeros_like(p["E"])
    np.add.at(g["E"], cache["ids"], dh)  # each embedding row collects the gradient of every place it was used
    g["P"] = np.zeros_like(p["P"])
    if cfg.positions:
        g["P"][: dh.shape[1]] = dh.sum(0)
    return g


def loss_and_grads(p, ids, targets, cfg: Config):
    logits, cache = forward(p, ids, cfg)
    loss, dlogits = cross_entropy(logits, targets)
    return loss, backward(p, cache, dlogits, cfg)


# ------------------------------------------------------------------------------------------ training, sampling
def random_windows(data: np.ndarray, cfg: Config, batch: int, rng: np.random.Generator):
    """Inputs are `context` consecutive characters; targets are the same window shifted by one."""
    start = rng.integers(0, len(data) - cfg.context, batch)
    idx = start[:, None] + np.arange(cfg.context)[None, :]
    return data[idx], data[idx + 1]


def train(p, data, cfg: Config, rng, steps=500, batch=16, lr=3e-3, betas=(0.9, 0.99)):
    """Adam: each step nudges every weight against its (smoothed, rescaled) gradient. Returns the loss curve."""
    m = {k: np.zeros_like(v) for k, v in p.items()}
    s = {k: np.zeros_like(v) for k, v in p.items()}
    losses = []
    for t in range(1, steps + 1):
        x, y = random_windows(data, cfg, batch, rng)
        loss, g = loss_and_grads(p, x, y, cfg)
        losses.append(loss)
        for k in p:
            m[k] = betas[0] * m[k] + (1 - betas[0]) * g[k]
            s[k] = betas[1] * s[k] + (1 - betas[1]) * g[k] ** 2
            p[k] -= lr * (m[k] / (1 - betas[0] ** t)) / (np.sqrt(s[k] / (1 - betas[1] ** t)) + 1e-8)
    return np.array(losses)


def generate(p, prompt_ids, n: int, cfg: Config, rng: np.random.Generator, temperature: float = 0.5):
    """Predict a distribution for the next character, draw one, append it, repeat."""
    ids = list(prompt_ids)
    for _ in range(n):
        logits, _ = forward(p, np.array([ids[-cfg.context :]]), cfg)
        probs = softmax(logits[0, -1] / temperature)
        ids.append(int(rng.choice(cfg.vocab_size, p=probs)))
    return np.array(ids)
