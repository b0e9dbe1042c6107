"""Claims of FreeTalker (arXiv 2401.03476), checked on the two-channel motion toy."""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core; keeps the run fast on a shared machine

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from reference_impls.freetalker.model import (  # noqa: E402
    TEXTS, Config, chain_frames, double_take, eps_from_x0, guided_x0, hand_audio_corr, hard_cut, make_clips,
    make_dataset, predict_x0, sample, seam_jump, train)


@pytest.fixture(scope="module")
def setup():
    """One denoiser fitted on a smaller mixed set than the demo's (2000 clips instead of 4000)."""
    cfg = Config()
    rng = np.random.default_rng(7)
    return cfg, train(*make_dataset(rng, 2000, cfg), cfg, rng)


def test_guidance_endpoints(setup):
    """G_w = G(x_t,t,0) + w (G(x_t,t,c) - G(x_t,t,0)): w = 0 is exactly the unconditional prediction, w = 1 the
    conditional one, each clip keeps its own w, and guiding x0 equals guiding eps."""
    cfg, model = setup
    rng = np.random.default_rng(0)
    _, c = make_dataset(rng, 60, cfg)
    t = 30
    x_t = rng.standard_normal((len(c), 2 * cfg.n_frames))
    uncond, cond = predict_x0(model, x_t, t, np.zeros_like(c)), predict_x0(model, x_t, t, c)
    assert not np.allclose(uncond, cond)                               # the condition does matter
    assert np.array_equal(guided_x0(model, x_t, t, c, 0.0), uncond)
    np.testing.assert_allclose(guided_x0(model, x_t, t, c, 1.0), cond, rtol=0, atol=1e-12)
    w = rng.uniform(0, 4, len(c))                                      # one scale per clip
    guided = guided_x0(model, x_t, t, c, w)
    np.testing.assert_allclose(guided, uncond + w[:, None] * (cond - uncond), rtol=0, atol=1e-12)
    e_u, e_c = eps_from_x0(model, x_t, t, uncond), eps_from_x0(model, x_t, t, cond)
    np.testing.assert_allclose(eps_from_x0(model, x_t, t, guided), e_u + w[:, None] * (e_c - e_u), atol=1e-9)


def test_guidance_strengthens_condition(setup):
    """A larger guidance scale makes speech-driven clips follow their audio more closely (same noise for all w)."""
    cfg, model = setup
    rng = np.random.default_rng(1)
    _, c = make_clips(rng, 200, cfg, "speech")
    audio = c[:, :cfg.n_frames]
    corr = [hand_audio_corr(sample(model, c, w, cfg, np.random.default_rng(2)), audio).mean()
            for w in (0.0, 0.5, 1.0, 2.0)]
    assert corr[0] < 0.3                                               # unconditional: hand ignores the audio
    assert np.all(np.diff(corr) > 0.01)                                # strictly stronger with w
    assert corr[2] > 0.8


def test_one_model_both_sources(setup):
    """One denoiser trained on both data sources, the missing modality zero-filled, serves both tasks:
    speech-conditioned samples follow the audio and stay in place, caption-conditioned samples reproduce
    each caption's motion."""
    cfg, model = setup
    rng = np.random.default_rng(3)
    x, c = make_clips(rng, 200, cfg, "speech")
    gen = sample(model, c, 1.0, cfg, rng)
    assert hand_audio_corr(gen, c[:, :cfg.n_frames]).mean() > 0.8
    root = gen.reshape(200, -1, 2)[:, :, 0]
    assert abs((root[:, -1] - root[:, 0]).mean()) < 0.1
    for k in range(len(TEXTS)):
        x, c = make_clips(rng, 200, cfg, "text", k)
        assert np.all(c[:, :cfg.n_frames] == 0)                        # no audio: zero-filled
        data, gen = x.reshape(200, -1, 2), sample(model, c, 1.0, cfg, rng).reshape(200, -1, 2)
        disp = lambda m: (m[:, -1, 0] - m[:, 0, 0]).mean()             # noqa: E731
        assert abs(disp(gen) - disp(data)) < 0.15
        np.testing.assert_allclose(gen[:, :, 1].mean(0), data[:, :, 1].mean(0), atol=0.15)


def test_doubletake_smooth_transition(setup):
    """DoubleTake's transitions (shared handshake, then the seam re-generated from both neighbours and
    blended) have a far smaller velocity jump than a hard cut, smaller than after take 1 alone, and about as
    small as inside a clip."""
    cfg, model = setup
    rng = np.random.default_rng(4)
    n = 64
    conds = np.stack([make_clips(rng, n, cfg, "text", 0)[1], make_clips(rng, n, cfg, "speech")[1],
                      make_clips(rng, n, cfg, "text", 1)[1]], axis=1)
    take1, take2 = double_take(model, conds, 1.0, cfg, rng)
    hard = hard_cut(model, conds, 1.0, cfg, rng)
    (seams, middles), radius = chain_frames(3, cfg), cfg.handshake // 2 + cfg.blend
    jump = {name: seam_jump(m, seams, radius).mean() for name, m in (("hard", hard), ("1", take1), ("2", take2))}
    inside = seam_jump(hard, middles, radius).mean()     # same statistic away from any seam
    assert jump["2"] < 0.3 * jump["hard"]
    assert jump["2"] < 0.9 * jump["1"]                                 # the second take refines the first
    assert jump["2"] < 1.3 * inside
