"""D-FINE's box head: fine-grained distribution refinement (FDR) and the FGL loss, in NumPy.

Paper: *D-FINE: Redefine Regression Task in DETRs as Fine-grained Distribution Refinement*, Peng et al.,
ICLR 2025, https://arxiv.org/abs/2410.13842 (code: github.com/Peterande/D-FINE).

A DETR decoder usually regresses four box numbers per layer. D-FINE instead keeps, for each of the four edges of
an initial box, a probability distribution over N+1 bins, and every decoder layer refines it:

    logits^l = logits^{l-1} + Delta logits^l,   Pr^l(n) = softmax(logits^l)(n)          residual refinement
    offset^l = sum_n W(n) Pr^l(n),   edge^l = edge^0 + {w,h} * offset^l / c             FDR, edge update

``W(n)`` is a fixed, non-uniform, odd weighting function (official ``weighting_function``; a = ``up``, c =
``reg_scale``): with ``s = (a c + 1)^{2/(N-2)}``,

    W(N/2) = 0,   W(N/2 + k) = s^k - 1 = -W(N/2 - k)  (k = 1..N/2-1),   W(N) = -W(0) = 2 a c

so an edge can move by at most 2a box sizes, with tiny steps near zero (fine corrections) and big ones at the
ends. The Fine-Grained Localization loss puts the target offset phi between its two neighbouring bins,

    L_FGL = IoU * [ w_left CE(Pr, n_left) + w_right CE(Pr, n_right) ],
    w_right = (phi - W(n_left)) / (W(n_right) - W(n_left)),   w_left = 1 - w_right

(IoU of the layer's box with its ground truth, no gradient), so the target distribution decodes to phi exactly.
Every layer is supervised, and because logits^l contains all earlier Delta logits, the gradient of layer l's
loss reaches the heads of layers 1..l (the official decoder does not detach the previous logits either).

| paper                      | variable                          |
|----------------------------|-----------------------------------|
| N (bins - 1)               | ``cfg.reg_max`` (32)              |
| a, c                       | ``cfg.up`` (0.5), ``cfg.reg_scale`` (4; official default, 8 for D-FINE-X) |
| W(n)                       | ``weighting_function(...)`` (= official ``project``) |
| Pr^l(n), logits^l          | ``softmax(logits[l])``, ``logits[l]`` |
| Delta logits^l (bbox_head) | ``features @ theta[l]``           |
| phi, n_left, w_left/right  | ``bbox2distance``, ``translate_gt`` |

Where this toy departs from the paper: no image, backbone, attention or classification. Each "decoder layer"
gets an independent noisy reading ``z`` of every edge's true offset (standing in for the features a layer samples
near the box) and its head is linear in ``[z, 1]``. Training uses FGL only; the paper's L1, GIoU and VFL losses,
Hungarian matching and denoising queries are left out. GO-LSD (distilling the last layer's distribution into
earlier layers with a temperature-T KL loss) is not implemented: here the layers see independent readings, so
an earlier layer cannot know what the last one learns from later readings, and in trials the distillation only
over-sharpened the earlier distributions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Config:
    reg_max: int = 32        # N
    up: float = 0.5          # a
    reg_scale: float = 4.0   # c
    num_layers: int = 6
    n_boxes: int = 256
    offset_std: float = 0.15  # spread of the true edge offsets of the initial boxes, in box sizes
    noise_std: float = 0.08   # noise of each layer's reading of an edge offset, in box sizes
    steps: int = 120
    lr: float = 0.1


def weighting_function(reg_max: int, up: float, reg_scale: float) -> np.ndarray:
    """W(n), n = 0..N, as the official ``weighting_function``; an edge moves by W(n) / c box sizes."""
    ub1, ub2 = abs(up) * abs(reg_scale), abs(up) * abs(reg_scale) * 2
    step = (ub1 + 1) ** (2 / (reg_max - 2))
    left = [-(step ** i) + 1 for i in range(reg_max // 2 - 1, 0, -1)]
    right = [step ** i - 1 for i in range(1, reg_max // 2)]
    return np.array([-ub2] + left + [0.0] + right + [ub2])


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def integral(logits: np.ndarray, project: np.ndarray) -> np.ndarray:
    """FDR decoding: offset = sum_n W(n) Pr(n) for every edge (last axis = bins)."""
    return softmax(logits) @ project


def distance2bbox(ref: np.ndarray, dist: np.ndarray, reg_scale: float) -> np.ndarray:
    """Initial box (cx, cy, w, h) + edge offsets (l, t, r, b) in W units -> refined box (x1, y1, x2, y2)."""
    cx, cy, w, h = ref.T
    return np.stack([cx - (0.5 * reg_scale + dist[:, 0]) * w / reg_scale,
                     cy - (0.5 * reg_scale + dist[:, 1]) * h / reg_scale,
                     cx + (0.5 * reg_scale + dist[:, 2]) * w / reg_scale,
                     cy + (0.5 * reg_scale + dist[:, 3]) * h / reg_scale], -1)


def bbox2distance(ref: np.ndarray, box: np.ndarray, reg_scale: float) -> np.ndarray:
    """Inverse of ``distance2bbox``: the offsets phi (in W units) that turn ``ref`` into ``box``."""
    cx, cy, w, h = ref.T
    return np.stack([(cx - box[:, 0]) / (w / reg_scale) - 0.5 * reg_scale,
                     (cy - box[:, 1]) / (h / reg_scale) - 0.5 * reg_scale,
                     (box[:, 2] - cx) / (w / reg_scale) - 0.5 * reg_scale,
                     (box[:, 3] - cy) / (h / reg_scale) - 0.5 * reg_scale], -1)


def translate_gt(phi: np.ndarray, project: np.ndarray):
    """Two-bin FGL target: left bin index and the weights of the left and right bins (official translate_gt)."""
    N = len(project) - 1
    phi = np.clip(phi, project[0], project[-1])
    left = np.clip(np.searchsorted(project, phi, side="right") - 1, 0, N - 1)
    w_right = (phi - project[left]) / (project[left + 1] - project[left])
    return left, 1.0 - w_right, w_right


def fgl_target(left, w_left, w_right, n_bins: int) -> np.ndarray:
    """The two-hot target distribution: w_left on bin n_left, w_right on bin n_left + 1."""
    target = np.zeros(left.shape + (n_bins,))
    np.put_along_axis(target, left[..., None], w_left[..., None], -1)
    np.put_along_axis(target, left[..., None] + 1, w_right[..., None], -1)
    return target


def fgl_loss(logits, target, iou):
    """L_FGL summed over edges, and its gradient with respect to the logits: iou * (Pr - target)."""
    logp = logits - logits.max(-1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    loss = float(np.sum(iou * -(target * logp).sum(-1)))
    return loss, iou[..., None] * (np.exp(logp) - target)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of matching rows of two (x1, y1, x2, y2) arrays."""
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])
    return inter / (area(a) + area(b) - inter)


def make_boxes(cfg: Config, rng: np.random.Generator) -> dict:
    """Initial boxes, their ground truths, and one noisy reading of every edge offset per decoder layer."""
    ref = np.column_stack([rng.uniform(0.3, 0.7, (cfg.n_boxes, 2)), rng.uniform(0.1, 0.4, (cfg.n_boxes, 2))])
    off = np.clip(rng.normal(0, cfg.offset_std, (cfg.n_boxes, 4)), -0.45, 0.45)    # in box sizes
    gt = distance2bbox(ref, off * cfg.reg_scale, cfg.reg_scale)
    z = off + rng.normal(0, cfg.noise_std, (cfg.num_layers, cfg.n_boxes, 4))
    feats = np.stack([z / cfg.noise_std, np.ones_like(z)], -1)                     # (L, boxes, edges, 2)
    return {"ref": ref, "gt": gt, "feats": feats}


def decode(theta: np.ndarray, feats: np.ndarray, residual: bool = True) -> np.ndarray:
    """Logits of every layer: Delta logits^l = [z, 1] @ theta[l], added to logits^{l-1} if ``residual``."""
    delta = feats @ theta[:, None]                             # (L, boxes, edges, N+1)
    if residual:
        for l in range(1, len(delta)):
            delta[l] += delta[l - 1]
    return delta


def layer_boxes(logits, ref, project, reg_scale):
    """The refined box of every layer (offsets decoded from that layer's distributions)."""
    return [distance2bbox(ref, integral(lg, project), reg_scale) for lg in logits]


def train(cfg: Config, data: dict, residual: bool = True):
    """Full-batch Adam on theta with the FGL loss at every layer (deep supervision, as in the paper)."""
    W = weighting_function(cfg.reg_max, cfg.up, cfg.reg_scale)
    target = fgl_target(*translate_gt(bbox2distance(data["ref"], data["gt"], cfg.reg_scale), W), cfg.reg_max + 1)
    L, n = cfg.num_layers, target.shape[0] * 4
    f = data["feats"].reshape(L, -1, 2).transpose(0, 2, 1)
    theta = np.zeros((L, 2, cfg.reg_max + 1))       # zero head: uniform Pr, offset 0 (W is odd)
    m, v, history = np.zeros_like(theta), np.zeros_like(theta), []
    for t in range(1, cfg.steps + 1):
        logits = decode(theta, data["feats"], residual)                    # all layers at once
        boxes = layer_boxes(logits, data["ref"], W, cfg.reg_scale)
        iou = np.stack([np.repeat(box_iou(b, data["gt"])[:, None], 4, 1) for b in boxes])   # no gradient
        total, g_logits = fgl_loss(logits, target, iou)
        history.append(total / n)
        if residual:            # logits^l contains every earlier Delta, so Delta^k collects the gradients of l >= k
            for l in range(L - 2, -1, -1):
                g_logits[l] += g_logits[l + 1]
        grad = f @ g_logits.reshape(L, -1, cfg.reg_max + 1) / n
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad ** 2
        theta -= cfg.lr * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    return theta, np.array(history)


def evaluate(cfg: Config, theta: np.ndarray, data: dict, residual: bool = True) -> dict:
    """Per layer (0 = initial box): mean absolute edge error in box sizes, mean IoU, mean entropy of Pr."""
    W = weighting_function(cfg.reg_max, cfg.up, cfg.reg_scale)
    phi = bbox2distance(data["ref"], data["gt"], cfg.reg_scale) / cfg.reg_scale
    logits = decode(theta, data["feats"], residual)
    err = [np.mean(np.abs(phi))] + [np.mean(np.abs(integral(lg, W) / cfg.reg_scale - phi)) for lg in logits]
    init = distance2bbox(data["ref"], np.zeros_like(phi), cfg.reg_scale)
    iou = [box_iou(init, data["gt"]).mean()] + [box_iou(b, data["gt"]).mean()
                                               for b in layer_boxes(logits, data["ref"], W, cfg.reg_scale)]
    p = softmax(logits)
    ent = (-(p * np.log(p + 1e-12)).sum(-1)).mean(axis=(1, 2))
    return {"err": np.array(err), "iou": np.array(iou), "entropy": ent, "logits": logits, "phi": phi}
