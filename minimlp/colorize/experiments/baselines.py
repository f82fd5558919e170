"""Baselines a colorizer must beat, scored exactly like a model: gray-copy (the luma in R, G and B) and the
closed-form ridge regression from gray to RGB (λ chosen on the validation images). The formula:
docs/colorizer.md.
"""
import numpy as np

from ..task.arrays import gray_copy, gray_input, rgb_target
from ..task.metrics import scores

LAMBDAS = (0.1, 1.0, 3.0, 10.0, 30.0, 100.0, 1000.0)


def _design(gray):
    gray = np.asarray(gray, dtype=np.float64)
    return np.concatenate([gray, np.ones((len(gray), 1))], axis=1)


def ridge_fit(x, y, lam):
    """Weights (D+1, M) of ridge regression of ``y`` (N, M) on ``x`` (N, D) with an unpenalised bias (last row)."""
    X = _design(x)
    return _solve(X.T @ X, X.T @ np.asarray(y, dtype=np.float64), lam)


def ridge_predict(weights, x):
    """``[x | 1] @ weights`` as float32."""
    return (_design(x) @ weights).astype(np.float32)


def _solve(gram, xty, lam):
    """(gram + λ D)⁻¹ xty, D = identity with a 0 for the bias (last) row."""
    gram = gram.copy()
    penalty = np.full(gram.shape[0], float(lam))
    penalty[-1] = 0.0
    gram[np.diag_indices_from(gram)] += penalty
    return np.linalg.solve(gram, xty)


def ridge_gray_to_rgb(split, lambdas=LAMBDAS):
    """Fit ridge gray→RGB on ``split.train``, choose λ on ``split.valid``; return (weights, λ, valid MSE per λ)."""
    x, y = gray_input(split.train.images), rgb_target(split.train.images)
    X = _design(x)
    gram, xty = X.T @ X, X.T @ np.asarray(y, dtype=np.float64)
    xv = gray_input(split.valid.images)
    tried = {}
    best = None
    for lam in lambdas:
        w = _solve(gram, xty, lam)
        mse = scores(np.clip(ridge_predict(w, xv), -1, 1), split.valid.images)[0]
        tried[float(lam)] = mse
        if best is None or mse < best[2]:
            best = (w, float(lam), mse)
    return best[0], best[1], tried


def baseline_scores(split, lambdas=LAMBDAS):
    """Gray-copy and ridge MSE / PSNR on the train, valid and test images of ``split``, as a dict.

    ``{"gray_copy": {"train": mse, "valid": mse, "test": mse, "test_psnr": ...},
    "ridge": {... same ..., "lambda": λ, "valid_by_lambda": {λ: mse}}}``.
    """
    w, lam, tried = ridge_gray_to_rgb(split, lambdas)
    out = {"gray_copy": {}, "ridge": {"lambda": lam, "valid_by_lambda": tried}}
    for part in ("train", "valid", "test"):
        images = getattr(split, part).images
        g = gray_input(images)
        out["gray_copy"][part], psnr_g = scores(gray_copy(g), images)
        out["ridge"][part], psnr_r = scores(np.clip(ridge_predict(w, g), -1, 1), images)
        if part == "test":
            out["gray_copy"]["test_psnr"], out["ridge"]["test_psnr"] = psnr_g, psnr_r
    return out
