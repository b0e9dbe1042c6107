"""Activation Beacon: condense each window's keys/values into a few beacon tokens.

Paper: Peitian Zhang, Zheng Liu, Shitao Xiao, Ninglu Shao, Qiwei Ye, Zhicheng Dou, "Soaring from 4K to 400K:
Extending LLM's Context with Activation Beacon", arXiv:2401.03462 (later versions are titled "Long Context
Compression with Activation Beacon"). Official code: github.com/FlagOpen/FlagEmbedding, Long_LLM/activation_beacon.

**The idea.** A decoder LLM with a context window of C positions reads a long input window by window (window
length w). At the end of each full window, k = w / alpha beacon tokens <bcn> are appended; alpha is the
condensing ratio. In every layer l the beacons attend to the window's raw tokens and produce their own keys and
values; after the window is done, only those beacon keys/values are kept and the raw ones are dropped. The next
window attends to the accumulated beacon activations as if they were a (short) prefix:

    memory_l  <-  [memory_l ; K_l^bcn , V_l^bcn]                                    (per layer l)
    window:   softmax(Q_raw [K_mem ; K_raw]^T / sqrt(d_h) + causal mask) [V_mem ; V_raw]

Beacons have their own attention projections MHA^b = (W_Q^b, W_K^b, W_V^b, W_O^b), initialised from the LLM's
and trained, while every LLM parameter stays frozen; the MLPs and norms are shared. With the default
"stepwise expansion" attention, beacon j (0-based) of a window sees the window's first (j+1) * alpha raw tokens,
the memory, and the beacons before it.

**Cost.** After n tokens the per-layer cache holds (n // w) * (w / alpha) + n mod w entries instead of n. With the
memory and one raw window inside C positions, the reachable length is (C - w) * alpha + w; for Llama-2-7B
(C = 4096), w = 1024 and alpha = 128 this is 3072 * 128 + 1024 = 394,240 tokens, the paper's "400K".

| paper                          | here                                        |
|--------------------------------|---------------------------------------------|
| window length w                | `Config.window`                             |
| condensing ratio alpha         | `alpha` (None: no beacons, past is dropped) |
| beacon tokens <bcn>            | rows `is_bcn` in `window_forward`           |
| MHA^b projections W_*^b        | `layer["Wq_b"]`, `["Wk_b"]`, `["Wv_b"]`, `["Wo_b"]` |
| LLM projections W_*            | `layer["Wq"]`, `["Wk"]`, `["Wv"]`, `["Wo"]` |
| beacon activations (per layer) | `memory[l] = (K, V)`, keys stored before RoPE |
| context window C               | `context_limit` in `max_context_length`     |

**Where this toy departs from the paper.** The "LLM" is a 3-layer, 4-head random transformer (RMSNorm, RoPE,
ReLU MLP) on random token embeddings, not Llama-2; its queries get a gain of 2 (`attn_scale`) so that the random
attention is not nearly uniform. Nothing is trained: MHA^b keeps its initialisation (a
copy of the LLM's projections). Because an untrained <bcn> embedding carries no content, the toy's default
beacon input (`beacon_input="copy"`) is the embedding of the last raw token the beacon covers, a hand-set
stand-in for training; `"token"` uses one shared beacon embedding as in the paper. Window stride equals window
length (the official code can also slide by a shorter stride and keep some raw activations). Memory slot i sits
at RoPE position i and beacon j of a window at the position of its last covered token; the official code has
its own position scheme. With `alpha=1`, `beacon_input="copy"` and beacons not attending to beacons, beacon j is
an exact replica of raw token j, so the streamed model equals full causal attention; that is the test of the
windowing, masking and memory plumbing, not a claim about trained beacons.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Config:
    d_model: int = 32
    n_heads: int = 4
    n_layers: int = 3
    d_ff: int = 64
    vocab: int = 128
    window: int = 32  # w: raw tokens per window (stride = window)
    beacon_input: str = "copy"  # "copy": embedding of the last covered token; "token": one shared <bcn> embedding
    beacon_attend_beacons: bool = True  # beacons also see earlier beacons of their window (official default)
    attn_scale: float = 2.0  # sharpens the random toy's attention (query gain); 1.0 = plain 1/sqrt(d_h)
    rope_base: float = 10000.0


def init_params(cfg: Config, rng: np.random.Generator) -> dict:
    """Random frozen "LLM" weights; MHA^b is initialised as a copy of the LLM's projections (as in the paper)."""
    d, s = cfg.d_model, 1.0 / np.sqrt(cfg.d_model)
    layers = []
    for _ in range(cfg.n_layers):
        layer = {n: rng.normal(0.0, s, (d, d)) for n in ("Wq", "Wk", "Wv", "Wo")}
        layer["W_in"] = rng.normal(0.0, s, (d, cfg.d_ff))
        layer["W_out"] = rng.normal(0.0, 1.0 / np.sqrt(cfg.d_ff), (cfg.d_ff, d))
        for n in ("Wq", "Wk", "Wv", "Wo"):
            layer[n + "_b"] = layer[n].copy()  # beacon projections start from the LLM's
        layers.append(layer)
    return {"embed": rng.normal(0.0, 1.0, (cfg.vocab, d)), "bcn_embed": rng.normal(0.0, 1.0, d), "layers": layers}


def rms_norm(x: np.ndarray) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + 1e-6)


def rope(x: np.ndarray, pos: np.ndarray, base: float) -> np.ndarray:
    """Rotary position embedding on x of shape (T, H, d_h) at integer positions pos (T,)."""
    half = x.shape[-1] // 2
    ang = pos[:, None] * base ** (-np.arange(half) / half)  # (T, half)
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    x1, x2 = x[..., :half], x[..., half:]
    return np.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)


def beacon_mask(m: int, t: int, k: int, alpha: int, attend_beacons: bool) -> np.ndarray:
    """Visibility (rows: t raw tokens then k beacons; columns: m memory slots, t raw, k beacons).

    Raw token i sees the memory and raw tokens <= i (causal), never the beacons of its window. Beacon j sees
    the memory and the first (j+1)*alpha raw tokens ("stepwise expansion"), and beacons <= j if enabled.
    """
    mask = np.zeros((t + k, m + t + k), dtype=bool)
    mask[:, :m] = True
    mask[:t, m:m + t] = np.tril(np.ones((t, t), dtype=bool))
    if k:
        j = np.arange(k)
        mask[t:, m:m + t] = np.arange(t)[None, :] < ((j + 1) * alpha)[:, None]
        if attend_beacons:
            mask[t:, m + t:] = np.tril(np.ones((k, k), dtype=bool))
    return mask


def _heads(x: np.ndarray, h: int) -> np.ndarray:
    return x.reshape(x.shape[0], h, -1)


def window_forward(params: dict, cfg: Config, x_raw: np.ndarray, memory: list, alpha: int | None):
    """One window through all layers: raw tokens x_raw (t, d) plus, if alpha is set, k = t / alpha beacons.

    memory[l] = (K, V), the accumulated beacon keys (before RoPE) and values of layer l, shapes (m, d).
    Returns the raw tokens' last hidden states (t, d) and the beacons' new (K, V) per layer.
    """
    t, h, dh = x_raw.shape[0], cfg.n_heads, cfg.d_model // cfg.n_heads
    k = t // alpha if alpha else 0
    m = memory[0][0].shape[0] if memory else 0
    last = (np.arange(k) + 1) * (alpha or 1) - 1  # last raw token each beacon covers
    x_bcn = x_raw[last] if cfg.beacon_input == "copy" else np.tile(params["bcn_embed"], (k, 1))
    hid = np.concatenate([x_raw, x_bcn])
    is_bcn = np.arange(t + k) >= t
    pos_rows = np.concatenate([m + np.arange(t), m + last]).astype(float)
    pos_cols = np.concatenate([np.arange(m), pos_rows])  # memory slot i sits at position i
    mask = beacon_mask(m, t, k, alpha or 1, cfg.beacon_attend_beacons)
    new_kv = []
    for l, p in enumerate(params["layers"]):
        x = rms_norm(hid)

        def proj(name):  # raw rows use the frozen LLM projection, beacon rows use MHA^b
            return np.where(is_bcn[:, None], x @ p[name + "_b"], x @ p[name])

        q, key, val = proj("Wq"), proj("Wk"), proj("Wv")
        new_kv.append((key[t:], val[t:]))
        K = np.concatenate([memory[l][0], key]) if memory else key
        V = np.concatenate([memory[l][1], val]) if memory else val
        qh = rope(_heads(q, h), pos_rows, cfg.rope_base) * cfg.attn_scale
        kh = rope(_heads(K, h), pos_cols, cfg.rope_base)
        s = np.einsum("qhd,khd->hqk", qh, kh) / np.sqrt(dh)
        s = np.where(mask[None], s, -np.inf)
        a = np.exp(s - s.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        o = np.einsum("hqk,khd->qhd", a, _heads(V, h)).reshape(t + k, -1)
        hid = hid + np.where(is_bcn[:, None], o @ p["Wo_b"], o @ p["Wo"])
        hid = hid + np.maximum(rms_norm(hid) @ p["W_in"], 0.0) @ p["W_out"]  # shared MLP
    return hid[:t], new_kv


def full_forward(params: dict, cfg: Config, tokens: np.ndarray) -> np.ndarray:
    """Reference: the same LLM with full causal attention over the whole sequence (no windows, no beacons)."""
    return window_forward(params, cfg, params["embed"][tokens], [], None)[0]


def beacon_forward(params: dict, cfg: Config, tokens: np.ndarray, alpha: int | None):
    """Stream tokens window by window, keeping only beacon activations between windows.

    alpha=None: no beacons, so each window sees only itself (the past is dropped; a lower bound).
    Returns the last hidden states (n, d) and a trace per window: (memory slots m, raw tokens t, beacons k).
    """
    w, n = cfg.window, len(tokens)
    memory, outs, trace = [], [], []
    for s in range(0, n, w):
        x = params["embed"][tokens[s:s + w]]
        a = alpha if (alpha and len(x) == w) else None  # beacons only for a full window
        out, kv = window_forward(params, cfg, x, memory, a)
        trace.append((memory[0][0].shape[0] if memory else 0, len(x), len(x) // a if a else 0))
        outs.append(out)
        if a:  # keep beacon K/V, drop the raw ones
            memory = [(np.concatenate([M[0], K]), np.concatenate([M[1], V])) for M, (K, V) in zip(memory, kv)] \
                if memory else kv
    return np.concatenate(outs), trace


def kv_cache_size(n: int, window: int, alpha: int | None) -> int:
    """Per-layer KV entries held after reading n tokens: condensed full windows plus the current raw window."""
    if alpha is None:
        return n  # full attention keeps every token
    return (n // window) * (window // alpha) + n % window


def max_context_length(context_limit: int, window: int, alpha: int) -> int:
    """Longest input whose memory plus one raw window fits in C positions: (C - w) * alpha + w."""
    return (context_limit - window) * alpha + window


def info_lost(params: dict, cfg: Config, tokens: np.ndarray, alphas: list) -> np.ndarray:
    """Last window's output error vs full attention, relative to dropping the past (0: exact, 1: no memory).

    One value per condensing ratio in alphas; the ratio ||H_alpha - H_full|| / ||H_drop - H_full|| is the
    fraction of the past's effect on the last window that the beacons fail to carry.
    """
    w = cfg.window
    full = full_forward(params, cfg, tokens)[-w:]
    drop = beacon_forward(params, cfg, tokens, None)[0][-w:]
    lost = [np.linalg.norm(beacon_forward(params, cfg, tokens, a)[0][-w:] - full) for a in alphas]
    return np.array(lost) / np.linalg.norm(drop - full)
