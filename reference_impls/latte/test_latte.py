"""Tests for the Latte reference implementation: one test per claim in record_fragment.yaml."""

import numpy as np

from reference_impls.latte.model import (
    Config,
    OpCounter,
    backbone_attention_macs,
    block_kinds,
    condition,
    embed_patches,
    frame_mask,
    full_attention,
    init_params,
    latte_forward,
    spatial_attention,
    split_head_attention,
    temporal_attention,
    token_dependency,
)


def _attn_params(d, rng):
    return {"qkv": rng.normal(0, d**-0.5, (d, 3 * d)), "o": rng.normal(0, d**-0.5, (d, d))}


def test_factorised_equals_masked_full():
    rng = np.random.default_rng(0)
    n_f, t, d, heads = 5, 6, 16, 4
    z = rng.normal(size=(n_f, t, d))
    p = _attn_params(d, rng)
    m_s, m_t = frame_mask(n_f, t, "spatial"), frame_mask(n_f, t, "temporal")
    # Spatial attention = full attention restricted to the same frame; temporal = same patch position.
    assert np.abs(spatial_attention(z, p, heads) - full_attention(z, p, heads, m_s)).max() < 1e-12
    assert np.abs(temporal_attention(z, p, heads) - full_attention(z, p, heads, m_t)).max() < 1e-12
    # Variant 3 chains the two; Variant 4 gives half the heads M_s and the other half M_t.
    chained = temporal_attention(spatial_attention(z, p, heads), p, heads)
    masked = full_attention(full_attention(z, p, heads, m_s), p, heads, m_t)
    assert np.abs(chained - masked).max() < 1e-12
    per_head = np.stack([m_s] * (heads // 2) + [m_t] * (heads // 2))
    assert np.abs(split_head_attention(z, p, heads) - full_attention(z, p, heads, per_head)).max() < 1e-12
    # The equivalence is specific: the wrong mask or no mask gives a clearly different result.
    assert np.abs(spatial_attention(z, p, heads) - full_attention(z, p, heads, m_t)).max() > 1e-2
    assert np.abs(spatial_attention(z, p, heads) - full_attention(z, p, heads)).max() > 1e-2


def _support(kinds, cfg, rng, src=(1, 2)):
    """Which outputs (frame, position) move when one input token (src) is perturbed."""
    params = init_params(cfg, rng)
    z = rng.normal(size=(cfg.n_f, cfg.t, cfg.dim))
    return token_dependency(kinds, params, condition(3.0, 0, params, cfg.dim), z, src, cfg)


def test_factorised_block_mixes_all_tokens():
    rng = np.random.default_rng(1)
    cfg = Config(frames=4, height=6, width=6, dim=16, depth=2, variant=3)  # n_f = 4, t = 9
    f, pos = np.meshgrid(np.arange(cfg.n_f), np.arange(cfg.t), indexing="ij")
    same_frame, same_pos = f == 1, pos == 2
    # A Variant-3 block (spatial then temporal attention) already reaches every token.
    assert _support(["factorised"], cfg, rng).all()
    cfg4 = Config(frames=4, height=6, width=6, dim=16, depth=2, variant=4)
    cfg1 = Config(frames=4, height=6, width=6, dim=16, depth=2, variant=1)
    # One spatial block stays inside the frame, one temporal block inside the patch position.
    assert np.array_equal(_support(["spatial"], cfg1, rng), same_frame)
    assert np.array_equal(_support(["temporal"], cfg1, rng), same_pos)
    # A Variant-4 block reaches only the cross "same frame or same position" ...
    assert np.array_equal(_support(["split"], cfg4, rng), same_frame | same_pos)
    # ... while a Variant-1 pair (spatial block, temporal block) reaches every token.
    assert _support(block_kinds(1, 2), cfg1, rng).all()


def test_compression_patch_divides_tokens():
    rng = np.random.default_rng(2)
    base = Config(frames=8, height=8, width=8, channels=3, patch=2, dim=8)
    video = rng.normal(size=(8, 8, 8, 3))
    counts = {}
    for s in (1, 2, 4):
        cfg = Config(frames=8, height=8, width=8, channels=3, patch=2, dim=8, tubelet=s)
        W = rng.normal(size=(s * 2 * 2 * 3, 8))
        tokens = embed_patches(video, W, cfg)
        counts[s] = tokens.shape[0] * tokens.shape[1] * tokens.shape[2]
        # Each token is the linear map of one s x h x w tubelet (a 3-D conv with stride = kernel).
        for fi, yi, xi in [(0, 0, 0), (cfg.n_f - 1, 3, 1), (cfg.n_f // 2, 2, 3)]:
            tube = video[fi * s:(fi + 1) * s, yi * 2:yi * 2 + 2, xi * 2:xi * 2 + 2, :]
            assert np.allclose(tokens[fi, yi, xi], tube.reshape(-1) @ W)
    assert counts[1] == base.frames * base.n_h * base.n_w  # uniform frame patch: F * H/h * W/w
    assert counts[1] == 2 * counts[2] == 4 * counts[4]  # tubelet length s divides the token count
    # The whole model still returns a latent of the input's shape (the head restores the s frames).
    cfg = Config(tubelet=2, variant=1)
    out = latte_forward(rng.normal(size=(8, 8, 8, 4)), 5.0, 0, init_params(cfg, rng), cfg)
    assert out.shape == (8, 8, 8, 4)


def test_factorised_attention_cost_scales_linearly_in_frames():
    rng = np.random.default_rng(3)
    # The closed-form count equals what the code actually multiplies, for every variant.
    for variant in range(5):
        cfg = Config(variant=variant, depth=4)
        counter = OpCounter()
        latte_forward(rng.normal(size=(8, 8, 8, 4)), 1.0, 0, init_params(cfg, rng), cfg, counter)
        expect = backbone_attention_macs(variant, cfg.n_f, cfg.t, cfg.dim, cfg.depth)
        assert counter.macs["attn_mix"] == expect["attn_mix"]
        assert counter.macs["attn_proj"] == expect["attn_proj"]
    # Latte-XL/2 on 256x256 video: 32x32 latent, patch 2 -> t = 256 tokens per frame, d = 1152, 28 blocks.
    mix = {v: [backbone_attention_macs(v, F, 256, 1152, 28)["attn_mix"] for F in (16, 32)] for v in range(5)}
    assert mix[0][1] == 4 * mix[0][0]  # full joint attention: quadratic in frames
    for v in (1, 2, 3, 4):
        assert 2.0 < mix[v][1] / mix[v][0] < 2.2  # factorised: close to linear while F << t
    assert mix[1] == mix[2] == mix[4]  # at equal depth, Variants 1, 2 and 4 mix the same amount
    assert mix[3][0] == 2 * mix[1][0]  # Variant 3 runs both attentions in every block
    assert mix[0][0] > 10 * mix[3][0]
