r"""Consistency Models, reduced to consistency distillation on a 2-D mixture whose score is known exactly.

Paper: Yang Song, Prafulla Dhariwal, Mark Chen, Ilya Sutskever, "Consistency Models", ICML 2023,
https://arxiv.org/abs/2303.01469 (code: github.com/openai/consistency_models).

**The ODE.** Data are noised as x_t = x + t z (z ~ N(0, I), t in [eps, T]) and the probability-flow ODE of
that process (the paper's empirical PF ODE, Eq. (3), with the exact score in place of s_phi) is
dx/dt = -t * grad_x log p_t(x). Every x_T has one trajectory; its end x_eps is (almost) a data sample.

**The consistency function** maps every point of a trajectory to that trajectory's end:
f(x_t, t) = x_eps for all t, hence f(x_t, t) = f(x_t', t') (self-consistency) and f(x, eps) = x (boundary
condition). The paper builds the boundary condition into the model (Eq. (5), constants from Appendix C):

    f_theta(x, t) = c_skip(t) x + c_out(t) F_theta(c_in(t) x, t),
    c_skip(t) = s^2 / ((t - eps)^2 + s^2),  c_out(t) = s (t - eps) / sqrt(s^2 + t^2),  c_in(t) = 1/sqrt(s^2 + t^2),

with s = sigma_data = 0.5 and eps = 0.002: c_skip(eps) = 1 and c_out(eps) = 0, so f_theta(x, eps) = x for
every F_theta.

**Consistency distillation** (Sec. 4, Algorithm 2). On the grid t_i = (eps^(1/rho) + (i-1)/(N-1) (T^(1/rho) -
eps^(1/rho)))^rho, i = 1..N (rho = 7), draw x ~ data, n ~ U{1..N-1}, x_{t_{n+1}} = x + t_{n+1} z, take one
Heun step of the PF ODE with the teacher's score down to x^_{t_n}, and minimise

    L_CD = E[ lambda(t_n) d( f_theta(x_{t_{n+1}}, t_{n+1}), f_theta-(x^_{t_n}, t_n) ) ],

with d the squared L2 distance, lambda = 1, and theta- an EMA of theta with no gradient:
theta- <- stopgrad(mu theta- + (1 - mu) theta).

**Sampling** (Algorithm 1): x = f(x_T, T) with x_T ~ N(0, T^2 I) (one step); then for each tau in a
decreasing list, x^ = x + sqrt(tau^2 - eps^2) z and x = f(x^, tau) (multistep).

| paper                        | code                               |
|------------------------------|------------------------------------|
| sigma_data, eps, T, rho, N   | `Config.sigma_data, eps, T, rho, N` |
| grad log p_t(x)              | `score(x, t, mog)` (exact)         |
| one Heun step t_{n+1} -> t_n | `heun_step`                        |
| F_theta, f_theta             | `mlp_forward`, `consistency_fn`    |
| theta, theta-, mu            | `theta` (flat), `target`, `Config.mu` |
| t_1..t_N                     | `karras_grid(cfg)`                 |

**Where this toy departs from the paper.** The data are a 2-D mixture of 4 Gaussians, not images, and the
"pretrained diffusion model" is the mixture's exact score, so the teacher ODE is exact up to Heun's error.
F_theta is a 2-hidden-layer SiLU MLP (64 units, hand-written backprop, Adam with a cosine-decayed learning
rate, 3000 steps of batch 128) instead of a U-Net; its noise input is c_noise = 0.25 ln t plus a few sinusoids
of it. d is squared L2 (the paper's best CD runs use LPIPS). Multistep times come from a fixed rho-grid rule or
a small sweep, not from the paper's greedy search.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Config:
    sigma_data: float = 0.5
    eps: float = 0.002
    T: float = 80.0
    rho: float = 7.0
    N: int = 18              # points of the distillation grid t_1..t_N (18 as in the paper's CIFAR-10 CD)
    mu: float = 0.95         # EMA decay of the target network theta-
    hidden: int = 64
    lr: float = 1e-2         # Adam, cosine-decayed to 0
    batch: int = 128
    iters: int = 3000
    n_modes: int = 4         # mixture: n_modes Gaussians on a ring
    radius: float = 0.69     # ring radius: per-axis variance radius^2/2 + mode_std^2 is about sigma_data^2
    mode_std: float = 0.1


# ----------------------------------------------------------------------------- data and exact score
@dataclass
class MoG:
    means: np.ndarray        # (K, 2)
    std: float               # every component is N(mean, std^2 I), equal weights


def make_mog(cfg: Config) -> MoG:
    """n_modes equal-weight Gaussians evenly spaced on a ring."""
    angle = 2 * np.pi * np.arange(cfg.n_modes) / cfg.n_modes
    return MoG(cfg.radius * np.stack([np.cos(angle), np.sin(angle)], axis=1), cfg.mode_std)


def sample_data(mog: MoG, n: int, rng: np.random.Generator) -> np.ndarray:
    return mog.means[rng.integers(len(mog.means), size=n)] + mog.std * rng.standard_normal((n, 2))


def score(x: np.ndarray, t, mog: MoG) -> np.ndarray:
    """Exact grad_x log p_t(x) of the noised mixture: each component becomes N(mean, (std^2 + t^2) I)."""
    var = (mog.std**2 + np.reshape(t, (-1, 1)) ** 2)[:, :, None]           # (B, 1, 1)
    diff = mog.means[None] - x[:, None]                                      # (B, K, 2)
    logits = -(diff**2).sum(-1, keepdims=True) / (2 * var)
    resp = np.exp(logits - logits.max(1, keepdims=True))
    resp /= resp.sum(1, keepdims=True)                                       # posterior over components
    return (resp * diff / var).sum(1)


def heun_step(x: np.ndarray, t, t_next, mog: MoG) -> np.ndarray:
    """One Heun (2nd-order) step of dx/dt = -t * score(x, t) from t to t_next (Eq. (3))."""
    t, t_next = np.reshape(t, (-1, 1)), np.reshape(t_next, (-1, 1))
    d = -t * score(x, t, mog)
    d_next = -t_next * score(x + (t_next - t) * d, t_next, mog)          # slope at the Euler prediction
    return x + (t_next - t) * 0.5 * (d + d_next)


def karras_grid(cfg: Config, n: int | None = None) -> np.ndarray:
    """t_1 = eps < ... < t_n = T on the rho = 7 grid."""
    n = cfg.N if n is None else n
    r = 1.0 / cfg.rho
    return (cfg.eps**r + np.arange(n) / (n - 1) * (cfg.T**r - cfg.eps**r)) ** cfg.rho


def solve_ode(x_T: np.ndarray, times: np.ndarray, mog: MoG) -> np.ndarray:
    """Heun solve from times[0] down to times[-1]; returns the states at every time, (len(times), B, 2)."""
    xs = [x_T]
    for t, t_next in zip(times[:-1], times[1:]):
        xs.append(heun_step(xs[-1], np.full(len(x_T), t), np.full(len(x_T), t_next), mog))
    return np.stack(xs)


# ----------------------------------------------------------------------------- the consistency model
SHAPES = (("W1", (7, None)), ("b1", (None,)), ("W2", (None, None)), ("b2", (None,)), ("W3", (None, 2)),
          ("b3", (2,)))                                          # None = hidden width


@functools.lru_cache(maxsize=None)
def _layout(hidden: int):
    """(name, start, stop, shape) of every weight inside the flat parameter vector."""
    shapes = [(name, tuple(hidden if d is None else d for d in shape)) for name, shape in SHAPES]
    ends = np.cumsum([math.prod(shape) for _, shape in shapes]).tolist()
    return [(name, end - math.prod(shape), end, shape) for (name, shape), end in zip(shapes, ends)]


def unpack(theta: np.ndarray, cfg: Config) -> dict:
    """Views of the flat parameter vector theta as the MLP's weight matrices."""
    return {name: theta[a:b].reshape(shape) for name, a, b, shape in _layout(cfg.hidden)}


def init_params(cfg: Config, rng: np.random.Generator) -> np.ndarray:
    """He-initialised weights, zero biases, as one flat vector theta."""
    theta = np.zeros(_layout(cfg.hidden)[-1][2])
    p = unpack(theta, cfg)
    for name, fan_in, gain in (("W1", 7, 2.0), ("W2", cfg.hidden, 2.0), ("W3", cfg.hidden, 1.0)):
        p[name][...] = rng.normal(0, np.sqrt(gain / fan_in), p[name].shape)
    return theta


def scalings(t, cfg: Config):
    """c_skip, c_out, c_in (Eq. (5) and Appendix C); c_skip(eps) = 1 and c_out(eps) = 0 exactly."""
    s, t = cfg.sigma_data, np.reshape(t, (-1, 1))
    return s**2 / ((t - cfg.eps) ** 2 + s**2), s * (t - cfg.eps) / np.sqrt(s**2 + t**2), 1 / np.sqrt(s**2 + t**2)


def _inputs(x, t, cfg: Config) -> np.ndarray:
    c_noise = 0.25 * np.log(np.reshape(t, (-1, 1)))                      # EDM's noise conditioning
    k = np.array([[1.0, 2.0]])
    _, _, c_in = scalings(t, cfg)
    return np.concatenate([c_in * x, c_noise, np.sin(np.pi * k * c_noise), np.cos(np.pi * k * c_noise)], 1)


def _silu(z):
    """SiLU z * sigmoid(z) and its derivative sigmoid(z) (1 + z (1 - sigmoid(z)))."""
    sig = 0.5 * (1 + np.tanh(0.5 * z))                       # = 1 / (1 + exp(-z)), without overflow
    return z * sig, sig * (1 + z * (1 - sig))


def mlp_forward(theta: np.ndarray, u: np.ndarray, cfg: Config):
    """F_theta on prepared inputs u; returns the output and the cache for backprop."""
    params = unpack(theta, cfg)
    h1, d1 = _silu(u @ params["W1"] + params["b1"])
    h2, d2 = _silu(h1 @ params["W2"] + params["b2"])
    return h2 @ params["W3"] + params["b3"], (u, h1, d1, h2, d2)


def mlp_backward(theta: np.ndarray, cache, g_out: np.ndarray, cfg: Config) -> np.ndarray:
    """Gradient of sum(g_out * F_theta) with respect to theta (same flat layout)."""
    params = unpack(theta, cfg)
    u, h1, d1, h2, d2 = cache
    g2 = (g_out @ params["W3"].T) * d2
    g1 = (g2 @ params["W2"].T) * d1
    grads = {"W1": u.T @ g1, "b1": g1.sum(0), "W2": h1.T @ g2, "b2": g2.sum(0), "W3": h2.T @ g_out,
             "b3": g_out.sum(0)}
    return np.concatenate([grads[name].ravel() for name, _ in SHAPES])


def consistency_fn(theta: np.ndarray, x: np.ndarray, t, cfg: Config) -> np.ndarray:
    """f_theta(x, t) = c_skip(t) x + c_out(t) F_theta(c_in(t) x, t)  (Eq. (5))."""
    t = np.broadcast_to(np.asarray(t, float), (len(x),))
    c_skip, c_out, _ = scalings(t, cfg)
    return c_skip * x + c_out * mlp_forward(theta, _inputs(x, t, cfg), cfg)[0]


def cd_loss_and_grad(theta, target, x0, z, n, cfg: Config, mog: MoG):
    """Consistency-distillation loss (lambda = 1, d = squared L2) and its gradient w.r.t. theta."""
    ts = karras_grid(cfg)
    t_n, t_n1 = ts[n], ts[n + 1]                                  # 0-based: pairs (t_n, t_{n+1})
    x_n1 = x0 + t_n1[:, None] * z
    x_hat = heun_step(x_n1, t_n1, t_n, mog)                       # teacher: one ODE step with the exact score
    y_target = consistency_fn(target, x_hat, t_n, cfg)            # f_theta-(x^_{t_n}, t_n), no gradient
    c_skip, c_out, _ = scalings(t_n1, cfg)
    F, cache = mlp_forward(theta, _inputs(x_n1, t_n1, cfg), cfg)
    diff = c_skip * x_n1 + c_out * F - y_target
    loss = (diff**2).sum(1).mean()
    return loss, mlp_backward(theta, cache, 2 * diff * c_out / len(x0), cfg)


def distill(cfg: Config, mog: MoG, rng: np.random.Generator, theta: np.ndarray | None = None):
    """Algorithm 2 (consistency distillation): Adam on theta, EMA target theta-. Returns (theta, losses)."""
    theta = init_params(cfg, rng) if theta is None else theta.copy()
    target = theta.copy()                                         # theta- starts at theta
    m, v, losses = np.zeros_like(theta), np.zeros_like(theta), []
    for it in range(1, cfg.iters + 1):
        x0 = sample_data(mog, cfg.batch, rng)
        z = rng.standard_normal(x0.shape)
        n = rng.integers(cfg.N - 1, size=cfg.batch)               # n ~ U{1, ..., N-1} (0-based here)
        loss, grad = cd_loss_and_grad(theta, target, x0, z, n, cfg, mog)
        losses.append(loss)
        lr = cfg.lr * 0.5 * (1 + np.cos(np.pi * it / cfg.iters))    # cosine decay (our choice)
        m = 0.9 * m + 0.1 * grad                                  # Adam, beta1 = 0.9, beta2 = 0.99
        v = 0.99 * v + 0.01 * grad**2
        theta -= lr * (m / (1 - 0.9**it)) / (np.sqrt(v / (1 - 0.99**it)) + 1e-8)
        target = cfg.mu * target + (1 - cfg.mu) * theta          # theta- <- stopgrad(mu theta- + (1-mu) theta)
    return theta, np.array(losses)


def sample_cm(theta: np.ndarray, taus, n: int, cfg: Config, rng: np.random.Generator) -> np.ndarray:
    """Algorithm 1: x = f(x_T, T); for tau in taus: x^ = x + sqrt(tau^2 - eps^2) z, x = f(x^, tau)."""
    x = consistency_fn(theta, cfg.T * rng.standard_normal((n, 2)), cfg.T, cfg)
    for tau in taus:
        x = consistency_fn(theta, x + np.sqrt(tau**2 - cfg.eps**2) * rng.standard_normal(x.shape), tau, cfg)
    return x


def grid_taus(cfg: Config, steps: int) -> list:
    """A fixed rule for comparison: the interior points of a (steps + 1)-point rho-grid, decreasing."""
    return list(karras_grid(cfg, steps + 1)[1:-1][::-1])


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, n_dirs: int = 64) -> float:
    """Sliced 1-Wasserstein distance between equal-size point sets, over evenly spaced directions."""
    ang = np.pi * np.arange(n_dirs) / n_dirs
    u = np.stack([np.cos(ang), np.sin(ang)])
    return float(np.abs(np.sort(a @ u, 0) - np.sort(b @ u, 0)).mean())


def consistency_error(theta: np.ndarray, x_T: np.ndarray, cfg: Config, mog: MoG, fine: int = 60):
    """Self-consistency along exact ODE trajectories: mean ||f_theta(x_t, t) - f_theta(x_eps, eps)|| (the
    latter is the trajectory's own end x_eps) at each time t > eps of a fine grid; returns (times, errors)."""
    times = karras_grid(cfg, fine)[::-1]
    traj = solve_ode(x_T, times, mog)
    err = [np.linalg.norm(consistency_fn(theta, traj[i], t, cfg) - traj[-1], axis=1).mean()
           for i, t in enumerate(times[:-1])]
    return times[:-1], np.array(err)
