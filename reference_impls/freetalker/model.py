r"""FreeTalker, reduced to its mechanism: one denoiser for two kinds of motion data, guidance, DoubleTake.

Paper: Sicheng Yang et al., "FreeTalker: Controllable Speech and Text-Driven Gesture Generation Based on
Diffusion Models for Enhanced Speaker Naturalness", ICASSP 2024, https://arxiv.org/abs/2401.03476
(code: github.com/YoungSeng/FreeTalker, built on MDM and PriorMDM).

**One model, two data sources.** Co-speech gesture data come with audio and no caption; text-to-motion data
come with a caption and no audio. FreeTalker puts both in one motion representation and gives the denoiser one
condition vector c = [a ; e] (per-frame audio features a, text embedding e); the modality a clip lacks is
filled with zeros. Training is the DDPM forward process with an MDM-style denoiser that predicts the clean
motion itself:

    x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps,        loss = E || x_0 - G(x_t, t, c) ||^2,

where c is replaced by the null condition (all zeros) with probability p_uncond, so the same G also learns the
unconditional prediction G(x_t, t, 0). **Classifier-free guidance**, one scale w per clip:

    G_w = G(x_t, t, 0) + w (G(x_t, t, c) - G(x_t, t, 0)).

Because eps_hat = (x_t - sqrt(abar_t) x0_hat) / sqrt(1 - abar_t) is affine in x0_hat with the same x_t, guiding
the x0 prediction is the same as eps = eps_uncond + w (eps_cond - eps_uncond). w = 0 is unconditional, w = 1
conditional, w > 1 exaggerates the condition.

**DoubleTake** (PriorMDM, used by FreeTalker to chain clips). Take 1 samples all clips at once; each clip's
last h frames are the next clip's first h frames (the "handshake"), averaged at every denoising step. Take 2
cuts a window around each handshake, noises it back to an intermediate step (skipping the first steps) and
denoises it unconditionally with soft-mask inpainting on the x0 prediction,

    x0_hat <- m * x_known + (1 - m) * x0_hat,

with m = 1 on the neighbouring clips, m = 0 on the handshake and a linear ramp (0.85 -> 0) over `blend` frames
in between, so the transition is regenerated conditioned on both neighbours and blended into them.

| paper                     | code                        |
|---------------------------|-----------------------------|
| x_0, x_t                  | `x0`, `x_t` (clips flattened to L*2 numbers: root, hand per frame) |
| abar_t, beta_t            | `Denoiser.abar`, `Denoiser.beta` |
| G(x_t, t, c)              | `predict_x0(model, x_t, t, c)` |
| c = [a ; e], null cond 0  | `c` (audio frames then text one-hot), `np.zeros_like(c)` |
| guidance scale w          | `w` (scalar or one per clip) |
| handshake size, blend len | `Config.handshake`, `Config.blend` |

**Where this toy departs from the paper.** Motion is two channels (a root position and a hand height), not
SMPL-X joints; "audio" is a synthetic syllable envelope and "text" a one-hot over three captions instead of
audio features and CLIP embeddings. The denoiser is not a transformer: G is affine in [x_t, c, 1], one weight
matrix per step t, fitted in closed form by ridge regression on exactly the MDM loss above (optimal if x_0 given
c were Gaussian with a mean linear in c and one shared covariance; here the best affine fit). 50 diffusion steps,
not 1000. The null condition zeroes the whole c (the official sampler contrasts the full condition with an
audio-zeroed one). The official post-processing that shifts the root between clips is left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TEXTS = ("walk forward", "wave a hand", "raise a hand")  # the toy captions (one-hot text embedding)


@dataclass
class Config:
    n_frames: int = 40       # L, frames per clip
    n_steps: int = 50        # T, diffusion steps (cosine schedule)
    p_uncond: float = 0.1    # probability of training with the null condition (MDM's cond_mask_prob)
    ridge: float = 1e-4      # ridge strength of the closed-form fit
    handshake: int = 8       # h, frames shared by consecutive clips
    blend: int = 6           # frames of soft-mask ramp on each side of the handshake in take 2
    skip_frac: float = 0.1   # take 2 starts this fraction of the steps below pure noise
    noise: float = 0.08      # amplitude of the smooth per-clip variation in the synthetic data
    length_scale: float = 3.0


# ----------------------------------------------------------------------------- synthetic heterogeneous data
def _smooth(rng: np.random.Generator, n: int, cfg: Config) -> np.ndarray:
    """n smooth random curves of L frames (Gaussian process, squared-exponential kernel)."""
    t = np.arange(cfg.n_frames)
    k = np.exp(-((t[:, None] - t[None]) ** 2) / (2 * cfg.length_scale**2)) + 1e-6 * np.eye(cfg.n_frames)
    return rng.standard_normal((n, cfg.n_frames)) @ np.linalg.cholesky(k).T * cfg.noise


def make_clips(rng: np.random.Generator, n: int, cfg: Config, kind: str, label: int = 0):
    """n clips of one source: kind "speech" (audio given, text zero) or "text" (caption `label`, audio zero).

    Returns motion x0 (n, L*2), channels [root, hand] per frame, and condition c (n, L + len(TEXTS))."""
    L, t = cfg.n_frames, np.arange(cfg.n_frames)
    root = rng.normal(0, 0.5, (n, 1)) + 0.5 * _smooth(rng, n, cfg)   # where the speaker stands
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    audio, text = np.zeros((n, L)), np.zeros((n, len(TEXTS)))
    if kind == "speech":                       # "speech energy": five syllable bumps; the hand beats along with it
        pos, amp = rng.uniform(0, L, (n, 5, 1)), rng.uniform(0.3, 1.0, (n, 5, 1))
        audio = (amp * np.exp(-((t - pos) ** 2) / 8.0)).sum(1)
        hand = 0.8 * audio                     # (and the speaker stays where they stand)
    elif label == 0:                           # walk forward: root moves about one unit, small arm swing
        root = root + rng.uniform(0.8, 1.2, (n, 1)) * t / (L - 1)
        hand = 0.15 * np.sin(2 * np.pi * t / 10 + phase)
    elif label == 1:                           # wave a hand: hand high and oscillating
        hand = 0.7 + 0.25 * np.sin(2 * np.pi * t / 6 + phase)
    else:                                      # raise a hand: hand goes up at a random moment and stays
        hand = 1.0 / (1.0 + np.exp(-(t - rng.uniform(L / 4, L / 2, (n, 1))) / 2.0))
    if kind == "text":
        text[:, label] = 1.0
    x0 = np.stack([root, hand + _smooth(rng, n, cfg)], axis=-1).reshape(n, 2 * L)
    return x0, np.concatenate([audio, text], axis=1)


def make_dataset(rng: np.random.Generator, n: int, cfg: Config):
    """The heterogeneous training set: half speech-driven clips, half text-driven clips (captions uniform)."""
    n_text = [len(part) for part in np.array_split(np.arange(n - n // 2), len(TEXTS))]
    parts = [make_clips(rng, n // 2, cfg, "speech")]
    parts += [make_clips(rng, n_k, cfg, "text", k) for k, n_k in enumerate(n_text)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


# ----------------------------------------------------------------------------- diffusion and denoiser
@dataclass
class Denoiser:
    W: np.ndarray            # (T, features, L*2): one affine map [x_t, c, 1] -> x0_hat per step
    beta: np.ndarray         # (T,) noise schedule, index 0 the least noisy step
    abar: np.ndarray         # (T,) cumulative product of (1 - beta)


def cosine_betas(cfg: Config, s: float = 0.008) -> np.ndarray:
    """Cosine noise schedule (Nichol & Dhariwal, as in MDM)."""
    f = np.cos((np.arange(cfg.n_steps + 1) / cfg.n_steps + s) / (1 + s) * np.pi / 2) ** 2
    return np.clip(1 - f[1:] / f[:-1], 0, 0.999)


def _features(x_t: np.ndarray, c: np.ndarray) -> np.ndarray:
    """The denoiser's inputs [x_t, c, 1]."""
    return np.concatenate([x_t, c, np.ones((len(x_t), 1))], axis=1)


def train(x0: np.ndarray, c: np.ndarray, cfg: Config, rng: np.random.Generator) -> Denoiser:
    """Minimise E||x0 - G(x_t, t, c)||^2 over affine G, per step t, with the condition dropped at p_uncond."""
    beta = cosine_betas(cfg)
    abar, W = np.cumprod(1 - beta), []
    for t in range(cfg.n_steps):
        keep = (rng.random((len(x0), 1)) >= cfg.p_uncond).astype(float)   # CFG training: null condition = 0
        x_t = np.sqrt(abar[t]) * x0 + np.sqrt(1 - abar[t]) * rng.standard_normal(x0.shape)
        phi = _features(x_t, c * keep)
        gram = phi.T @ phi + cfg.ridge * len(x0) * np.eye(phi.shape[1])
        W.append(np.linalg.solve(gram, phi.T @ x0))                        # ridge least squares
    return Denoiser(np.stack(W), beta, abar)


def predict_x0(model: Denoiser, x_t: np.ndarray, t: int, c: np.ndarray) -> np.ndarray:
    """G(x_t, t, c): the denoiser's estimate of the clean motion."""
    return _features(x_t, c) @ model.W[t]


def guided_x0(model: Denoiser, x_t: np.ndarray, t: int, c: np.ndarray, w) -> np.ndarray:
    """Classifier-free guidance on the x0 prediction: G(x_t,t,0) + w (G(x_t,t,c) - G(x_t,t,0))."""
    uncond = predict_x0(model, x_t, t, np.zeros_like(c))
    cond = predict_x0(model, x_t, t, c)
    return uncond + np.reshape(w, (-1, 1)) * (cond - uncond)


def eps_from_x0(model: Denoiser, x_t: np.ndarray, t: int, x0_hat: np.ndarray) -> np.ndarray:
    """Invert the forward process: the noise the x0 estimate implies."""
    a = model.abar[t]
    return (x_t - np.sqrt(a) * x0_hat) / np.sqrt(1 - a)


def _share_handshake(x0_hat: np.ndarray, links: np.ndarray, cfg: Config) -> np.ndarray:
    """DoubleTake take 1: clip i's last h frames and clip j's first h frames are one stretch; average them."""
    h2 = 2 * cfg.handshake                                   # h frames * 2 channels
    left, right = x0_hat[links[:, 0], -h2:], x0_hat[links[:, 1], :h2]
    x0_hat = x0_hat.copy()
    x0_hat[links[:, 0], -h2:] = x0_hat[links[:, 1], :h2] = 0.5 * (left + right)
    return x0_hat


def sample(model: Denoiser, c: np.ndarray, w, cfg: Config, rng: np.random.Generator, links=None,
           x_init=None, t_start=None, known=None, mask=None) -> np.ndarray:
    """DDPM ancestral sampling with guidance. Optional: handshake `links` (take 1), or start from a noised
    `x_init` at step `t_start` with soft-mask inpainting of `known` (take 2)."""
    beta, abar = model.beta, model.abar
    t_start = cfg.n_steps - 1 if t_start is None else t_start
    noise = rng.standard_normal((len(c), 2 * cfg.n_frames))
    x = noise if x_init is None else np.sqrt(abar[t_start]) * x_init + np.sqrt(1 - abar[t_start]) * noise
    for t in range(t_start, -1, -1):
        x0_hat = guided_x0(model, x, t, c, w)
        if known is not None:
            x0_hat = mask * known + (1 - mask) * x0_hat      # MDM/PriorMDM inpainting on the x0 prediction
        if links is not None:
            x0_hat = _share_handshake(x0_hat, links, cfg)
        abar_prev = abar[t - 1] if t > 0 else 1.0            # posterior q(x_{t-1} | x_t, x0_hat)
        mean = (np.sqrt(abar_prev) * beta[t] * x0_hat + np.sqrt(1 - beta[t]) * (1 - abar_prev) * x) / (1 - abar[t])
        var = beta[t] * (1 - abar_prev) / (1 - abar[t])
        x = mean + (np.sqrt(var) * rng.standard_normal(x.shape) if t > 0 else 0.0)
    return x


def unfold(clips: np.ndarray, cfg: Config) -> np.ndarray:
    """(chains, m, L*2) clips sharing handshakes -> (chains, m*L - (m-1)*h, 2) continuous motions."""
    L, h = cfg.n_frames, cfg.handshake
    c = clips.reshape(clips.shape[0], clips.shape[1], L, 2)
    return np.concatenate([c[:, 0]] + [c[:, i, h:] for i in range(1, c.shape[1])], axis=1)


def double_take(model: Denoiser, conds: np.ndarray, w, cfg: Config, rng: np.random.Generator):
    """Chains of clips (conds: (chains, m, C)) -> (take-1 motion, take-2 motion), each (chains, frames, 2)."""
    n_chain, m, L, h, b = conds.shape[0], conds.shape[1], cfg.n_frames, cfg.handshake, cfg.blend
    idx = np.arange(n_chain * m).reshape(n_chain, m)
    links = np.stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()], axis=1)
    w = np.broadcast_to(np.asarray(w, float), conds.shape[:2]).ravel()
    take1 = unfold(sample(model, conds.reshape(n_chain * m, -1), w, cfg, rng, links).reshape(n_chain, m, -1), cfg)
    # take 2: one window of L frames centred on every handshake; the handshake is regenerated (mask 0),
    # the neighbours are kept (mask 1) with a linear ramp 0.85 -> 0 over `blend` frames towards it.
    lead = (L - h) // 2
    starts = [(i + 1) * (L - h) - lead for i in range(m - 1)]
    windows = np.stack([take1[:, s:s + L] for s in starts], axis=1).reshape(-1, 2 * L)
    m_frame = np.ones(L)
    m_frame[lead:lead + h] = 0.0
    ramp = 0.85 * (1 - np.arange(b) / b)                         # 0.85, ..., > 0 (as in the official code)
    m_frame[lead - b:lead], m_frame[lead + h:lead + h + b] = ramp, ramp[::-1]
    mask = np.repeat(m_frame, 2)[None]
    t_start = int(round((1 - cfg.skip_frac) * cfg.n_steps)) - 1
    redo = sample(model, np.zeros((len(windows), conds.shape[2])), 0.0, cfg, rng,
                  x_init=windows, t_start=t_start, known=windows, mask=mask).reshape(n_chain, m - 1, L, 2)
    take2 = take1.copy()
    for i, s in enumerate(starts):
        take2[:, s:s + L] = redo[:, i]                           # frames with mask 1 come back unchanged
    return take1, take2


def hard_cut(model: Denoiser, conds: np.ndarray, w, cfg: Config, rng: np.random.Generator) -> np.ndarray:
    """Baseline: every clip sampled on its own and cut in the middle of where its handshake would be, so the
    motion has the same length and seams as `double_take`'s: (chains, m*L - (m-1)*h, 2)."""
    n_chain, m, L, h = conds.shape[0], conds.shape[1], cfg.n_frames, cfg.handshake
    w = np.broadcast_to(np.asarray(w, float), conds.shape[:2]).ravel()
    c = sample(model, conds.reshape(n_chain * m, -1), w, cfg, rng).reshape(n_chain, m, L, 2)
    parts = [c[:, i, (h // 2 if i > 0 else 0):(L - h // 2 if i < m - 1 else L)] for i in range(m)]
    return np.concatenate(parts, axis=1)


def chain_frames(m: int, cfg: Config):
    """In an unfolded chain of m clips: the frame of each seam (middle of a handshake) and of each clip's middle."""
    step = cfg.n_frames - cfg.handshake
    return [i * step + cfg.handshake // 2 for i in range(1, m)], [i * step + cfg.n_frames // 2 for i in range(m)]


def seam_jump(motion: np.ndarray, seams, radius: int) -> np.ndarray:
    """Largest velocity jump ||v_k - v_{k-1}|| (second difference over both channels) within `radius`
    frames of each seam; motion (chains, frames, 2) -> (chains, len(seams))."""
    acc = np.linalg.norm(np.diff(motion, n=2, axis=1), axis=-1)   # acc[:, k] ~ frame k+1
    return np.stack([acc[:, s - radius - 1:s + radius].max(1) for s in seams], axis=1)


def hand_audio_corr(x: np.ndarray, audio: np.ndarray) -> np.ndarray:
    """Per-clip Pearson correlation between the hand channel and the audio envelope."""
    hand = x.reshape(len(x), -1, 2)[:, :, 1]
    hc, ac = hand - hand.mean(1, keepdims=True), audio - audio.mean(1, keepdims=True)
    return (hc * ac).sum(1) / np.sqrt((hc**2).sum(1) * (ac**2).sum(1))
