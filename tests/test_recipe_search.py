"""The recipe search's own pieces (examples/recipe_search.py): the RGB-MSE and per-image log-MSE losses against the
metric and finite differences, and the class head's gradient against torch."""
import os
import sys

import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples"))
import recipe_search  # noqa: E402

from minimlp.data.color import yuv_to_rgb  # noqa: E402


def _rgb(chroma):
    n = len(chroma)
    yuv = np.concatenate([np.zeros((n, 1, 32, 32)), chroma.reshape(n, 2, 32, 32)], 1).transpose(0, 2, 3, 1)
    return yuv_to_rgb(yuv)


@pytest.mark.parametrize("log", [False, True])
def test_rgb_losses_are_the_metric_and_their_gradients_its_derivative(log):
    rng = np.random.default_rng(0)
    out, target = rng.normal(0, 0.1, (3, 2048)), rng.normal(0, 0.1, (3, 2048))
    loss = recipe_search.RGBLoss(log=log)
    value = loss(out, target)
    per_image = ((_rgb(out) - _rgb(target)) ** 2).reshape(3, -1).mean(axis=1)
    expected = np.mean(np.log(per_image + 1e-4)) if log else np.mean(per_image)
    assert value == pytest.approx(expected, rel=1e-6)
    grad = loss.backward()
    for index in [(0, 5), (1, 700), (2, 2000)]:
        bumped = out.copy()
        bumped[index] += 1e-6
        numeric = (recipe_search.RGBLoss(log=log)(bumped, target) - value) / 1e-6
        assert grad[index] == pytest.approx(numeric, rel=1e-3)


def test_class_head_adds_the_weighted_cross_entropy_gradient():
    import minimlp
    minimlp.manual_seed(0)
    head = recipe_search.ClassHead(6, weight=0.5).to(dtype=np.float64).train()
    g = np.random.default_rng(1).normal(size=(4, 6, 1, 1))
    labels = np.array([0, 3, 9, 3])
    assert head(g) is g
    head.labels = labels
    upstream = np.ones_like(g)
    dg = head.backward(upstream)
    gt = torch.tensor(g, requires_grad=True)
    logits = torch.nn.functional.conv2d(gt, torch.tensor(head.head.weight.data), torch.tensor(head.head.bias.data))
    (0.5 * torch.nn.functional.cross_entropy(logits.reshape(4, 10), torch.tensor(labels))).backward()
    np.testing.assert_allclose(dg - upstream, gt.grad.numpy(), rtol=1e-10, atol=1e-12)
