"""Tests of D-FINE's fine-grained distribution refinement (one test per claim of record_fragment.yaml).

The random data come from the run's SEED, and the refinement claim is judged on N_TEST held-out boxes, as the
demo's figure is (`claim_knobs`: the demo's defaults, or the knobs of a run from the page)."""

import numpy as np

from reference_impls.d_fine.model import (Config, bbox2distance, distance2bbox, evaluate, fgl_loss, fgl_target,
                                          integral, make_boxes, softmax, train, translate_gt, weighting_function)
from reference_impls.demo_io import claim_knobs

DEMO = "reference_impls.d_fine.demo"


def test_weighting_function_is_odd_and_finest_at_centre():
    for N, a, c in ((32, 0.5, 4.0), (32, 0.5, 8.0), (16, 0.25, 2.0)):
        W = weighting_function(N, a, c)
        assert len(W) == N + 1 and W[N // 2] == 0.0
        assert np.array_equal(W[::-1], -W)                      # odd about the middle bin, exactly
        assert np.all(np.diff(W) > 0)                           # strictly increasing
        assert np.isclose(W[N - 1], a * c) and np.isclose(W[N], 2 * a * c)   # bounds a, 2a in box sizes
        gaps = np.diff(W[N // 2:N])                             # inner bins of the right half
        assert np.all(np.diff(gaps) > 0)                        # spacing grows away from the centre
        assert gaps[0] < 2 * a * c / (N - 2) < gaps[-1]         # finer than uniform near 0, coarser at the ends


def test_offset_is_probability_weighted_sum_of_w():
    cfg = Config()
    W = weighting_function(cfg.reg_max, cfg.up, cfg.reg_scale)
    rng = np.random.default_rng(claim_knobs(DEMO).SEED)
    logits = rng.normal(0, 2, (50, 4, cfg.reg_max + 1))
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    assert np.allclose(integral(logits, W), np.einsum("ben,n->be", p, W), atol=1e-12)
    for n in (0, 5, cfg.reg_max // 2, 20, cfg.reg_max):         # all mass on one bin -> exactly W(n)
        one_hot = np.full(cfg.reg_max + 1, -1e3)
        one_hot[n] = 0.0
        assert np.isclose(integral(one_hot, W), W[n], atol=1e-12)
    assert abs(integral(np.zeros(cfg.reg_max + 1), W)) < 1e-12   # uniform Pr decodes to no move (W is odd)
    # The box update: each edge moves outward by offset / c times the initial width or height.
    ref = np.column_stack([rng.uniform(0.3, 0.7, (50, 2)), rng.uniform(0.1, 0.4, (50, 2))])
    dist = integral(logits, W)
    box = distance2bbox(ref, dist, cfg.reg_scale)
    assert np.allclose(box[:, 0], ref[:, 0] - ref[:, 2] / 2 - dist[:, 0] / cfg.reg_scale * ref[:, 2])
    assert np.allclose(box[:, 3], ref[:, 1] + ref[:, 3] / 2 + dist[:, 3] / cfg.reg_scale * ref[:, 3])
    assert np.allclose(bbox2distance(ref, box, cfg.reg_scale), dist)


def test_fgl_target_interpolates_two_bins():
    cfg = Config()
    W = weighting_function(cfg.reg_max, cfg.up, cfg.reg_scale)
    seed = claim_knobs(DEMO).SEED
    phi = np.random.default_rng(seed + 1).uniform(W[0], W[-1], 400)
    left, wl, wr = translate_gt(phi, W)
    assert np.all((W[left] <= phi) & (phi <= W[left + 1]))       # the two bins bracket phi
    target = fgl_target(left, wl, wr, cfg.reg_max + 1)
    assert np.allclose(target.sum(-1), 1) and np.all((target > 0).sum(-1) <= 2)
    assert np.allclose(target @ W, phi, atol=1e-12)              # the target decodes to phi exactly
    # Gradient = IoU * (Pr - target): checked by finite differences and linear in the IoU weight.
    logits = np.random.default_rng(seed + 2).normal(size=(400, cfg.reg_max + 1))
    iou = np.full(400, 0.7)
    _, g = fgl_loss(logits, target, iou)
    assert np.allclose(g, 0.7 * (softmax(logits) - target))
    assert np.allclose(fgl_loss(logits, target, iou / 2)[1], g / 2)
    eps, d = 1e-6, np.zeros_like(logits)
    d[3, 7] = eps
    num = (fgl_loss(logits + d, target, iou)[0] - fgl_loss(logits - d, target, iou)[0]) / (2 * eps)
    assert abs(num - g[3, 7]) < 1e-6
    # Minimising FGL over free logits moves the decoded offset onto phi.
    x = np.zeros((400, cfg.reg_max + 1))
    for _ in range(2000):
        x -= 2.0 * fgl_loss(x, target, np.ones(400))[1]
    assert np.max(np.abs(integral(x, W) - phi)) < 0.01 * cfg.reg_scale
    assert np.all((softmax(x) * (target > 0)).sum(-1) > 0.9)


def test_residual_refinement_lowers_error_layer_by_layer():
    cfg, knobs = Config(), claim_knobs(DEMO)
    rng = np.random.default_rng(knobs.SEED)
    data, test = make_boxes(cfg, rng), make_boxes(Config(n_boxes=knobs.N_TEST), rng)
    ev = evaluate(cfg, train(cfg, data, residual=True)[0], test, True)
    ev_ind = evaluate(cfg, train(cfg, data, residual=False)[0], test, False)
    err, err_ind = ev["err"][1:], ev_ind["err"][1:]              # layers 1..L (index 0 is the initial box)
    assert ev["err"][1] < 0.6 * ev["err"][0]                     # the first layer already refines the box
    assert np.all(np.diff(err) < 0) and err[-1] < 0.6 * err[0]   # each layer improves on the one before
    assert np.all(np.diff(ev["iou"]) > 0)
    assert np.all(np.diff(ev["entropy"]) < 0)                    # distributions sharpen layer by layer
    # Ablation: without residual logits no layer knows what the earlier ones saw, so there is no progress.
    assert err_ind[-1] > 0.85 * err_ind[0] and err[-1] < 0.6 * err_ind[-1]
