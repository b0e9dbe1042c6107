"""Claims of Consistency Models (arXiv 2303.01469), checked on the 2-D mixture toy.

The random draws come from the run's SEED, and each distance estimate uses N_EVAL samples, as the demo's figure
does (`claim_knobs`: the demo's defaults, or the knobs of a run from the page): too few samples and the
estimates are too noisy to tell one step from two."""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core; keeps the run fast on a shared machine

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from reference_impls.consistency_models.model import (  # noqa: E402
    Config, cd_loss_and_grad, consistency_error, consistency_fn, distill, grid_taus, init_params, karras_grid,
    make_mog, sample_cm, sample_data, scalings, sliced_wasserstein)
from reference_impls.demo_io import claim_knobs  # noqa: E402

DEMO = "reference_impls.consistency_models.demo"


@pytest.fixture(scope="module")
def trained():
    """A smaller distillation run than the demo's (2000 instead of 3000 Adam steps)."""
    cfg = Config(iters=2000)
    mog = make_mog(cfg)
    rng = np.random.default_rng(claim_knobs(DEMO).SEED + 1)
    theta0 = init_params(cfg, rng)
    theta, losses = distill(cfg, mog, rng, theta0)
    return cfg, mog, theta0, theta, losses


def test_boundary_condition_exact(trained):
    """f(x, eps) = x holds exactly for any F_theta (random or trained), by the c_skip / c_out construction."""
    cfg, _, theta0, theta, _ = trained
    rng = np.random.default_rng(claim_knobs(DEMO).SEED + 2)
    x = 5 * rng.standard_normal((500, 2))
    c_skip, c_out, _ = scalings(cfg.eps, cfg)
    assert c_skip.item() == 1.0 and c_out.item() == 0.0
    for th in (theta0, theta, init_params(cfg, rng), 100 * init_params(cfg, rng)):
        assert np.array_equal(consistency_fn(th, x, cfg.eps, cfg), x)
        assert not np.allclose(consistency_fn(th, x, 1.0, cfg), x)   # away from eps the network does act


def test_multistep_beats_one_step(trained):
    """Re-noising and mapping again (Algorithm 1) gets closer to the data than one step."""
    cfg, mog, _, theta, _ = trained
    knobs = claim_knobs(DEMO)
    rng = np.random.default_rng(knobs.SEED + 3)
    n = knobs.N_EVAL
    ref = sample_data(mog, n, rng)
    one = sliced_wasserstein(sample_cm(theta, [], n, cfg, rng), ref)
    four = sliced_wasserstein(sample_cm(theta, grid_taus(cfg, 4), n, cfg, rng), ref)
    # two steps: tau picked on a validation sample (as the paper searches tau), judged on fresh samples
    val, cands = sample_data(mog, n, rng), karras_grid(cfg)[3:8]
    best = cands[int(np.argmin([sliced_wasserstein(sample_cm(theta, [t], n, cfg, rng), val) for t in cands]))]
    two = sliced_wasserstein(sample_cm(theta, [best], n, cfg, rng), ref)
    assert four < 0.85 * one
    assert two < 0.9 * one


def test_distillation_makes_self_consistent(trained):
    """After consistency distillation, f maps points of one exact ODE trajectory to (nearly) the same end:
    the self-consistency error drops far below that of the untrained model, at every noise level."""
    cfg, mog, theta0, theta, losses = trained
    x_T = cfg.T * np.random.default_rng(claim_knobs(DEMO).SEED + 4).standard_normal((1000, 2))
    times, before = consistency_error(theta0, x_T, cfg, mog)
    _, after = consistency_error(theta, x_T, cfg, mog)
    assert after.mean() < 0.25 * before.mean()
    assert np.all(after[times > 0.1] < 0.5 * before[times > 0.1])
    assert losses[-200:].mean() < 0.1 * losses[:200].mean()


def test_backprop_matches_finite_differences():
    """Implementation check (not a paper claim): the hand-written gradient of L_CD is right."""
    cfg = Config(hidden=8)
    mog, rng = make_mog(cfg), np.random.default_rng(claim_knobs(DEMO).SEED + 5)
    theta, target = init_params(cfg, rng), init_params(cfg, rng)
    x0, z = sample_data(mog, 32, rng), rng.standard_normal((32, 2))
    n = rng.integers(cfg.N - 1, size=32)
    loss, grad = cd_loss_and_grad(theta, target, x0, z, n, cfg, mog)
    for i in rng.choice(len(theta), 20, replace=False):
        step = np.zeros_like(theta)
        step[i] = 1e-6
        up = cd_loss_and_grad(theta + step, target, x0, z, n, cfg, mog)[0]
        down = cd_loss_and_grad(theta - step, target, x0, z, n, cfg, mog)[0]
        assert (up - down) / 2e-6 == pytest.approx(grad[i], rel=1e-4, abs=1e-8)
