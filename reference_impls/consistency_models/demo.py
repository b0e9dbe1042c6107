"""Consistency distillation on a 2-D Gaussian mixture: one-step vs multistep samples, self-consistency.

Run from the repository root: ``python -m reference_impls.consistency_models.demo --out out``.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core, as the demo contract asks

from pathlib import Path  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from reference_impls.consistency_models.model import (  # noqa: E402
    Config, consistency_error, consistency_fn, distill, grid_taus, init_params, karras_grid, make_mog,
    sample_cm, sample_data, sliced_wasserstein, solve_ode)
from reference_impls.demo_io import DemoResult, Figure, Metric, main, progress, save_svg  # noqa: E402

SEED = 0
STEPS = (1, 2, 3, 4, 6)       # sampler lengths compared, intermediate times from the rho-grid
N_EVAL = 10000                # samples per distance estimate
# Knobs a reader may change (digest serve's Run box, the notebook, --seed etc.): allowed ranges.
KNOBS = {
    "SEED": {"min": 0, "max": 9999, "en": "random seed", "zh": "随机种子"},
    "N_EVAL": {"min": 1000, "max": 20000, "en": "samples per distance estimate", "zh": "每次距离估计的样本数"},
}


def fig_samples(out_dir: Path, panels, mog) -> Figure:
    """Scatter: data, one-step, best two-step and four-step consistency samples."""
    fig, axes = plt.subplots(1, len(panels), figsize=(11, 3), sharex=True, sharey=True, layout="constrained")
    for ax, (title, pts) in zip(axes, panels):
        ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.4, color="tab:blue")
        ax.scatter(mog.means[:, 0], mog.means[:, 1], marker="+", s=60, color="k")
        ax.set_title(title, fontsize=9)
        ax.set_aspect("equal")
        ax.set_xlim(-1.3, 1.3)
        ax.set_ylim(-1.3, 1.3)
    return Figure(file=save_svg(fig, out_dir, "samples.svg"),
                  caption_en="Samples of the 4-component mixture (crosses: component means). One consistency-model "
                             "step maps pure noise straight to data but leaves many points between the modes; "
                             "re-noising and mapping again (two or four steps) pulls them back towards the modes.",
                  caption_zh="四分量混合分布的样本(十字为各分量均值)。一致性模型一步即可把纯噪声映射为数据,"
                             "但有不少点落在模态之间;重新加噪后再映射一次或多次(两步、四步采样)"
                             "会把它们拉回模态附近。",
                  function="reference_impls.consistency_models.demo.fig_samples", seed=SEED,
                  params={"n_points": len(panels[0][1])})


def fig_steps(out_dir: Path, dists, sweep, one_step, floor, teacher, times, err_before, err_after) -> Figure:
    """Distance vs steps; two-step distance vs the intermediate time; self-consistency error vs t."""
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(12, 3.6), layout="constrained")
    for ax in (ax1, ax2):
        ax.axhline(teacher, color="tab:green", ls="--", label="teacher ODE (39 Heun steps)")
        ax.axhline(floor, color="gray", ls=":", label="data vs data (sampling noise)")
        ax.set_ylabel("sliced Wasserstein-1 to data")
    ax1.plot(STEPS, dists, "o-", label="consistency model")
    ax1.set_xlabel("sampling steps (times from the rho-grid)")
    ax1.set_xticks(STEPS)
    ax1.legend(fontsize=7)
    ax2.semilogx(sweep[0], sweep[1], "o-", color="tab:purple", label="2 steps")
    ax2.axhline(one_step, color="tab:blue", label="1 step")
    ax2.set_xlabel("intermediate time tau of a 2-step sampler")
    ax2.legend(fontsize=7)
    ax3.loglog(times, err_before, label="before distillation (random F)")
    ax3.loglog(times, err_after, label="after distillation")
    ax3.set_xlabel("t (noise level)")
    ax3.set_ylabel("mean ||f(x_t, t) - x_eps||")
    ax3.legend(fontsize=7)
    return Figure(file=save_svg(fig, out_dir, "steps_and_consistency.svg"),
                  caption_en="Left: distance of consistency-model samples to the data against the number of sampling "
                             "steps. Middle: a two-step sampler depends on its intermediate time tau; a moderate tau "
                             "clearly beats one step, a large one barely helps (the paper picks tau by search). "
                             "Right: along exact ODE trajectories, the gap between f(x_t, t) and the trajectory's end "
                             "x_eps before and after distillation (zero at t = eps by construction).",
                  caption_zh="左:一致性模型样本与数据分布的距离随采样步数的变化。中:两步采样的效果取决于中间时刻 "
                             "tau;取适中的 tau 明显优于一步采样,tau 过大则几乎没有改善(论文通过搜索选定 tau)。"
                             "右:沿精确 ODE 轨迹,f(x_t, t) 与轨迹终点 x_eps 之间的差距,分别为蒸馏前后"
                             "(t = eps 处按构造恒为零)。",
                  function="reference_impls.consistency_models.demo.fig_steps", seed=SEED,
                  params={"steps": list(STEPS), "n_eval": N_EVAL, "taus": [round(float(t), 4) for t in sweep[0]]})


def run(out_dir: Path) -> DemoResult:
    rng = np.random.default_rng(SEED)
    cfg = Config()
    mog = make_mog(cfg)
    progress(1, 4, f"consistency distillation ({cfg.iters} Adam steps, EMA target mu={cfg.mu})")
    theta0 = init_params(cfg, rng)
    theta, _ = distill(cfg, mog, rng, theta0)
    progress(2, 4, "distances to the data: 1..6 steps, and a sweep of the 2-step time tau")
    ref = sample_data(mog, N_EVAL, rng)
    floor = sliced_wasserstein(sample_data(mog, N_EVAL, rng), ref)
    teacher = sliced_wasserstein(solve_ode(cfg.T * rng.standard_normal((N_EVAL, 2)),
                                           karras_grid(cfg, 40)[::-1], mog)[-1], ref)
    dists = [sliced_wasserstein(sample_cm(theta, grid_taus(cfg, k), N_EVAL, cfg, rng), ref) for k in STEPS]
    taus = karras_grid(cfg)[1:10]                        # candidates: the distillation grid below T / 20
    val, seed = sample_data(mog, N_EVAL // 2, rng), int(rng.integers(2**32))
    sweep = [sliced_wasserstein(sample_cm(theta, [tau], N_EVAL // 2, cfg, np.random.default_rng(seed)), val)
             for tau in taus]                            # same noise for every tau
    best_tau = float(taus[int(np.argmin(sweep))])
    two_step = sliced_wasserstein(sample_cm(theta, [best_tau], N_EVAL, cfg, rng), ref)   # fresh samples
    progress(3, 4, "self-consistency along exact ODE trajectories, boundary condition")
    x_T = cfg.T * rng.standard_normal((2000, 2))
    times, err_before = consistency_error(theta0, x_T, cfg, mog)
    _, err_after = consistency_error(theta, x_T, cfg, mog)
    x = 3 * rng.standard_normal((1000, 2))
    boundary = max(np.abs(consistency_fn(th, x, cfg.eps, cfg) - x).max() for th in (theta0, theta))
    progress(4, 4, "figures")
    n = 800
    panels = [("data", sample_data(mog, n, rng)),
              ("1 step", sample_cm(theta, [], n, cfg, rng)),
              (f"2 steps (tau = {best_tau:.2f})", sample_cm(theta, [best_tau], n, cfg, rng)),
              ("4 steps (rho-grid times)", sample_cm(theta, grid_taus(cfg, 4), n, cfg, rng))]
    figures = [fig_samples(out_dir, panels, mog),
               fig_steps(out_dir, dists, (taus, sweep), dists[0], floor, teacher, times, err_before, err_after)]
    d = dict(zip(STEPS, dists))
    metrics = [
        Metric("sw_1_step", d[1], "Sliced W1 to data, 1 step", "一步采样与数据的切片 W1 距离"),
        Metric("sw_2_steps", two_step, f"Sliced W1 to data, 2 steps (tau = {best_tau:.3g} from the sweep)",
               f"两步采样(tau = {best_tau:.3g},由扫描选出)与数据的切片 W1 距离"),
        Metric("sw_4_steps", d[4], "Sliced W1 to data, 4 steps (rho-grid times)",
               "四步采样(rho 网格时刻)与数据的切片 W1 距离"),
        Metric("sw_teacher", teacher, "Sliced W1 to data, teacher ODE (39 Heun steps)",
               "教师 ODE(39 步 Heun)与数据的切片 W1 距离"),
        Metric("sw_floor", floor, "Sliced W1 between two data samples (noise floor)",
               "两组数据样本之间的切片 W1 距离(采样噪声下限)"),
        Metric("consistency_err_before", float(err_before.mean()), "Self-consistency error before distillation",
               "蒸馏前的自一致性误差"),
        Metric("consistency_err_after", float(err_after.mean()), "Self-consistency error after distillation",
               "蒸馏后的自一致性误差"),
        Metric("boundary_max_abs", float(boundary), "max |f(x, eps) - x| (boundary condition)",
               "max |f(x, eps) - x|(边界条件)"),
    ]
    return DemoResult(metrics=metrics, figures=figures)


if __name__ == "__main__":
    main(run)
