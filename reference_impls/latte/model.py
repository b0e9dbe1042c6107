"""Latte: Latent Diffusion Transformer for Video Generation -- the spatio-temporal backbone in NumPy.

Paper: Xin Ma, Yaohui Wang, Gengyun Jia, Xinyuan Chen, Ziwei Liu, Yuan-Fang Li, Cunjian Chen, Yu Qiao,
arXiv:2401.03048 (TMLR 2025); code: github.com/Vchitect/Latte.

Latte denoises a video *latent* V_L of shape F x H x W x C (from a frozen image VAE) with a Transformer.
The latent is cut into tokens, and the backbone must mix information across space and time without
paying for full attention over all F*H*W/(h*w) tokens.

**Patch embedding.** A *uniform frame patch* cuts every frame into h x w patches (as in ViT), giving
n_f = F, n_h = H/h, n_w = W/w. A *compression frame patch* cuts tubelets of s x h x w (as in ViViT), so
n_f = F/s: the token count drops by exactly s. Either way each patch is flattened and mapped linearly,

    z_hat = Linear(patch)  in R^{n_f x n_h x n_w x d},    z = z_hat + p            (positional embedding)

and the output head inverts the map (for s > 1 the paper uses a 3-D transposed convolution; with
stride = kernel that is again one linear map per token).

**Spatial and temporal attention.** With t = n_h * n_w, spatial attention works on z_s in R^{n_f x t x d}
(tokens of one frame attend to each other) and temporal attention on z_t in R^{t x n_f x d} (tokens at one
patch position attend across frames). On the flattened sequence of N = n_f * t tokens these are just full
attention with block masks M_s[i, j] = [frame(i) = frame(j)] and M_t[i, j] = [pos(i) = pos(j)].

**Four variants** (Fig. 2 of the paper): (1) spatial and temporal blocks interleaved; (2) all spatial blocks,
then all temporal blocks ("late fusion"); (3) each block runs spatial then temporal attention; (4) each
block splits its heads: half attend spatially, half temporally, and the two parts are summed (here:
concatenated before the shared output projection, which is the same sum).

**S-AdaLN.** The condition c = embed(timestep) + embed(class) regresses shift, scale and gate per sub-layer:

    h <- h + alpha_c * Op( gamma_c * LN(h) + beta_c ),   (gamma_c written as 1 + scale, as in the code)

The alternative studied in the paper feeds c as extra tokens ("timestep-class as tokens").

| paper                | code                              |
|----------------------|-----------------------------------|
| F, H, W, C           | cfg.frames, cfg.height, cfg.width, cfg.channels |
| h = w (patch), s     | cfg.patch, cfg.tubelet            |
| n_f, n_h, n_w, t     | cfg.n_f, cfg.n_h, cfg.n_w, cfg.t  |
| d, heads, depth      | cfg.dim, cfg.heads, cfg.depth     |
| z_s, z_t             | z (n_f, t, d), z.transpose(1, 0, 2) |
| M_s, M_t             | frame_mask(..., "spatial" / "temporal") |
| gamma_c, beta_c, alpha_c | scale, shift, gate            |

**Where this toy departs from the paper.** No VAE, no diffusion training or sampling: the backbone runs on
random latents with random weights, because the claims checked here (mask equivalence, receptive field,
token counts, operation counts) are properties of the architecture, not of trained weights. The modulation
layers are initialised randomly (the official code zero-initialises them, which would make every block the
identity at start). The temporal sin-cos embedding is added just before the first block that mixes frames
(the official code does this after the first spatial block of Variant 1). The "as tokens" conditioning is
modelled as one extra key/value per attention sequence; learned sigma, class dropout and image-video joint
training are omitted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = {1: "interleaved", 2: "late fusion", 3: "factorised attention", 4: "split heads"}


@dataclass
class Config:
    frames: int = 8  # F
    height: int = 8  # H (latent)
    width: int = 8  # W (latent)
    channels: int = 4  # C
    patch: int = 2  # h = w
    tubelet: int = 1  # s: 1 = uniform frame patch, > 1 = compression frame patch
    dim: int = 32  # d
    heads: int = 4
    depth: int = 4  # number of Transformer blocks
    mlp_ratio: int = 4
    variant: int = 1  # 1..4 as in the paper; 0 = full joint attention (baseline, not in Latte)
    n_classes: int = 3
    conditioning: str = "adaln"  # "adaln" (S-AdaLN) or "token"

    @property
    def n_f(self) -> int:
        return self.frames // self.tubelet

    @property
    def n_h(self) -> int:
        return self.height // self.patch

    @property
    def n_w(self) -> int:
        return self.width // self.patch

    @property
    def t(self) -> int:
        return self.n_h * self.n_w


class OpCounter:
    """Multiply-accumulate counts per kind ("attn_mix" = QK^T and AV, "attn_proj", "mlp", ...)."""

    def __init__(self):
        self.macs: dict[str, int] = {}

    def add(self, kind: str, n: int) -> None:
        self.macs[kind] = self.macs.get(kind, 0) + int(n)


def _count(counter, kind, n):
    if counter is not None:
        counter.add(kind, n)


def block_kinds(variant: int, depth: int) -> list[str]:
    """The block sequence of each variant (Sec. 3.2, Fig. 2)."""
    half = depth // 2
    return {0: ["full"] * depth,
            1: ["spatial", "temporal"] * half,  # Variant 1: interleaved fusion
            2: ["spatial"] * half + ["temporal"] * half,  # Variant 2: late fusion
            3: ["factorised"] * depth,  # Variant 3: spatial then temporal MHA in one block
            4: ["split"] * depth}[variant]  # Variant 4: half the heads spatial, half temporal


def sincos(positions: np.ndarray, d: int) -> np.ndarray:
    """1-D sin-cos embedding (as in MAE/DiT/Latte): (len(positions), d)."""
    omega = 1.0 / 10000 ** (np.arange(d // 2) / (d / 2))
    out = np.outer(positions, omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def init_params(cfg: Config, rng: np.random.Generator) -> dict:
    d, s, p, C = cfg.dim, cfg.tubelet, cfg.patch, cfg.channels
    w = lambda i, o: rng.normal(0.0, 1.0 / np.sqrt(i), (i, o))  # noqa: E731
    attn = lambda: {"qkv": w(d, 3 * d), "o": w(d, d)}  # noqa: E731
    blocks = []
    for kind in block_kinds(cfg.variant, cfg.depth):
        n_attn = 2 if kind == "factorised" else 1
        blocks.append({"attn": [attn() for _ in range(n_attn)],
                       "mlp1": w(d, cfg.mlp_ratio * d), "mlp2": w(cfg.mlp_ratio * d, d),
                       "ada": 0.1 * w(d, 3 * (n_attn + 1) * d)})  # S-AdaLN regression (shift, scale, gate)
    return {"embed": w(s * p * p * C, d), "head": w(d, s * p * p * C), "head_ada": 0.1 * w(d, 2 * d),
            "t_mlp1": w(d, d), "t_mlp2": w(d, d), "y_table": rng.normal(0, 1, (cfg.n_classes, d)),
            "blocks": blocks}


def embed_patches(video: np.ndarray, W: np.ndarray, cfg: Config) -> np.ndarray:
    """(F, H, W, C) -> (n_f, n_h, n_w, d). s = cfg.tubelet: 1 = uniform frame patch, s > 1 = tubelets."""
    s, p = cfg.tubelet, cfg.patch
    x = video.reshape(cfg.n_f, s, cfg.n_h, p, cfg.n_w, p, cfg.channels)
    x = x.transpose(0, 2, 4, 1, 3, 5, 6).reshape(cfg.n_f, cfg.n_h, cfg.n_w, s * p * p * cfg.channels)
    return x @ W


def unpatchify(tokens: np.ndarray, W: np.ndarray, cfg: Config) -> np.ndarray:
    """(n_f, t, d) -> (F, H, W, C): one linear map per token = transposed conv with stride = kernel."""
    s, p = cfg.tubelet, cfg.patch
    x = (tokens @ W).reshape(cfg.n_f, cfg.n_h, cfg.n_w, s, p, p, cfg.channels)
    return x.transpose(0, 3, 1, 4, 2, 5, 6).reshape(cfg.frames, cfg.height, cfg.width, cfg.channels)


def layer_norm(x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(x.var(-1, keepdims=True) + eps)


def _attend(q, k, v, mask=None, counter=None):
    """softmax(q k^T / sqrt(d_head)) v on (..., N, d_head); mask (broadcastable to scores) keeps True."""
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    scores = np.exp(scores - scores.max(-1, keepdims=True))
    a = scores / scores.sum(-1, keepdims=True)
    _count(counter, "attn_mix", 2 * q[..., 0].size * k.shape[-2] * q.shape[-1])  # QK^T and AV
    return a @ v


def _qkv(x, p, heads, counter):
    """Project (..., N, d) to q, k, v of shape (..., N, heads, d_head)."""
    *lead, n, d = x.shape
    _count(counter, "attn_proj", x[..., 0].size * d * 4 * d)  # qkv (3 d^2) + output (d^2) per token
    return np.moveaxis((x @ p["qkv"]).reshape(*lead, n, 3, heads, d // heads), -3, 0)


def mha(x, p, heads, mask=None, counter=None, cond=None):
    """Multi-head self-attention over the second-to-last axis of x (B, N, d); each B row is one sequence.
    mask: (N, N) or (heads, N, N). cond: optional (d,) vector fed as one extra key/value ("as tokens")."""
    q, k, v = _qkv(x, p, heads, counter)  # (B, N, H, dh) each
    q, k, v = (np.swapaxes(a, 1, 2) for a in (q, k, v))  # (B, H, N, dh)
    if cond is not None:  # the condition token is a key/value every query can attend to
        _, kc, vc = (cond @ p["qkv"]).reshape(3, heads, 1, -1)  # (H, 1, dh) each
        k = np.concatenate([k, np.broadcast_to(kc, (k.shape[0], *kc.shape))], axis=2)
        v = np.concatenate([v, np.broadcast_to(vc, (v.shape[0], *vc.shape))], axis=2)
        if mask is not None:
            mask = np.concatenate([mask, np.ones((*mask.shape[:-1], 1), bool)], axis=-1)
    o = np.swapaxes(_attend(q, k, v, mask, counter), 1, 2)  # (B, N, H, dh)
    return o.reshape(x.shape) @ p["o"]


def spatial_attention(z, p, heads, counter=None, cond=None):
    """z (n_f, t, d): attention among the t tokens of each frame (z_s)."""
    return mha(z, p, heads, counter=counter, cond=cond)


def temporal_attention(z, p, heads, counter=None, cond=None):
    """z (n_f, t, d): attention among the n_f tokens at each patch position (z_t = z reshaped to t x n_f x d)."""
    return mha(z.transpose(1, 0, 2), p, heads, counter=counter, cond=cond).transpose(1, 0, 2)


def full_attention(z, p, heads, mask=None, counter=None, cond=None):
    """Joint attention over all n_f * t tokens, optionally masked."""
    n_f, t, d = z.shape
    return mha(z.reshape(1, n_f * t, d), p, heads, mask, counter, cond).reshape(n_f, t, d)


def split_head_attention(z, p, heads, counter=None, cond=None):
    """Variant 4: heads [0, H/2) attend within a frame, heads [H/2, H) across frames at one position."""
    n_f, t, d = z.shape
    hs, dh = heads // 2, d // heads
    q, k, v = _qkv(z, p, heads, counter)  # (n_f, t, H, dh)
    if cond is not None:
        _, kc, vc = (cond @ p["qkv"]).reshape(3, heads, dh)
    outs = []
    for group, axes, back in (("spatial", (0, 2, 1, 3), (0, 2, 1, 3)), ("temporal", (1, 2, 0, 3), (2, 0, 1, 3))):
        sl = slice(0, hs) if group == "spatial" else slice(hs, heads)
        qg, kg, vg = (a[:, :, sl].transpose(axes) for a in (q, k, v))  # (batch, hs, seq, dh)
        if cond is not None:
            kg = np.concatenate([kg, np.broadcast_to(kc[sl, None], (kg.shape[0], hs, 1, dh))], axis=2)
            vg = np.concatenate([vg, np.broadcast_to(vc[sl, None], (vg.shape[0], hs, 1, dh))], axis=2)
        outs.append(_attend(qg, kg, vg, counter=counter).transpose(back))  # back to (n_f, t, hs, dh)
    return np.concatenate(outs, axis=2).reshape(n_f, t, d) @ p["o"]


def frame_mask(n_f: int, t: int, kind: str) -> np.ndarray:
    """(N, N) mask on the flattened sequence i = frame * t + position: M_s (same frame) or M_t (same position)."""
    frame, pos = np.divmod(np.arange(n_f * t), t)
    key = frame if kind == "spatial" else pos
    return key[:, None] == key[None, :]


def block(z, bp, c, kind, cfg: Config, counter=None):
    """One Latte Transformer block with S-AdaLN (or condition-as-token) on z (n_f, t, d)."""
    ops = {"spatial": [spatial_attention], "temporal": [temporal_attention], "full": [full_attention],
           "factorised": [spatial_attention, temporal_attention], "split": [split_head_attention]}[kind]
    d, token = cfg.dim, cfg.conditioning == "token"
    mod = (c / (1 + np.exp(-c))) @ bp["ada"]  # SiLU(c) -> (shift, scale, gate) per sub-layer
    shift, scale, gate = mod.reshape(len(ops) + 1, 3, d).transpose(1, 0, 2)
    if token:  # no modulation: the condition only enters through attention
        shift, scale, gate = np.zeros_like(shift), np.zeros_like(scale), np.ones_like(gate)
    for i, op in enumerate(ops):
        h = layer_norm(z) * (1 + scale[i]) + shift[i]  # AdaLN(h, c) = gamma_c LN(h) + beta_c
        z = z + gate[i] * op(h, bp["attn"][i], cfg.heads, counter=counter, cond=c if token else None)
    h = layer_norm(z) * (1 + scale[-1]) + shift[-1]
    hidden = h @ bp["mlp1"]
    hidden = 0.5 * hidden * (1 + np.tanh(0.7978845608 * (hidden + 0.044715 * hidden**3)))  # GELU (tanh)
    _count(counter, "mlp", 2 * h[..., 0].size * d * bp["mlp1"].shape[1])
    return z + gate[-1] * (hidden @ bp["mlp2"])


def condition(t: float, y: int, params: dict, d: int) -> np.ndarray:
    """c = MLP(sincos(t)) + class embedding (the official code sums timestep and label embeddings)."""
    e = sincos(np.array([t]), d)[0] @ params["t_mlp1"]
    return (e / (1 + np.exp(-e))) @ params["t_mlp2"] + params["y_table"][y]


def latte_forward(video, t, y, params, cfg: Config, counter=None):
    """Predict the noise of a latent video (F, H, W, C) at diffusion step t for class y."""
    z = embed_patches(video, params["embed"], cfg).reshape(cfg.n_f, cfg.t, cfg.dim)
    gy, gx = np.divmod(np.arange(cfg.t), cfg.n_w)  # 2-D sin-cos spatial embedding (half dims each axis)
    z = z + np.concatenate([sincos(gy, cfg.dim // 2), sincos(gx, cfg.dim // 2)], axis=1)
    c = condition(t, y, params, cfg.dim)
    temporal_added = False
    for kind, bp in zip(block_kinds(cfg.variant, cfg.depth), params["blocks"]):
        if kind != "spatial" and not temporal_added:  # temporal embedding before frames first mix
            z, temporal_added = z + sincos(np.arange(cfg.n_f), cfg.dim)[:, None, :], True
        z = block(z, bp, c, kind, cfg, counter)
    shift, scale = ((c / (1 + np.exp(-c))) @ params["head_ada"]).reshape(2, cfg.dim)
    return unpatchify(layer_norm(z) * (1 + scale) + shift, params["head"], cfg)


def attention_macs(kind: str, n_f: int, t: int, d: int) -> dict[str, int]:
    """Closed-form MACs of the attention in one block (S-AdaLN); tests check it against OpCounter."""
    n = n_f * t
    mix = {"spatial": 2 * n_f * t * t * d, "temporal": 2 * t * n_f * n_f * d, "full": 2 * n * n * d}
    mix["factorised"] = mix["spatial"] + mix["temporal"]
    mix["split"] = mix["factorised"] // 2  # each half of the heads has width d / 2
    n_proj = 2 if kind == "factorised" else 1
    return {"attn_mix": mix[kind], "attn_proj": n_proj * 4 * n * d * d}


def backbone_attention_macs(variant: int, n_f: int, t: int, d: int, depth: int) -> dict[str, int]:
    """Sum of attention_macs over the blocks of a variant."""
    total = {"attn_mix": 0, "attn_proj": 0}
    for kind in block_kinds(variant, depth):
        for key, val in attention_macs(kind, n_f, t, d).items():
            total[key] += val
    return total


def token_dependency(kinds, params, c, z, src, cfg: Config, delta: float = 1e-3) -> np.ndarray:
    """(n_f, t) bool: which outputs of the block sequence `kinds` move when input token src is nudged."""
    def run(x):
        for kind, bp in zip(kinds, params["blocks"]):
            x = block(x, bp, c, kind, cfg)
        return x

    z2 = z.copy()
    z2[src] += delta * np.linspace(-1.0, 1.0, z.shape[-1])  # not a constant: LayerNorm would erase that
    return np.abs(run(z2) - run(z)).max(-1) > 1e-12
