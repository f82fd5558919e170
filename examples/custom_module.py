"""A module of your own: its forward, and its backward written out by hand (minimlp has no autograd).

    python examples/custom_module.py

ScaledResidual computes y = x + α·tanh(x W + b), with a learnt scale α. backward(G) receives ∂L/∂y and must
(1) add each parameter's gradient into it with ``parameter.accumulate``, and (2) return ∂L/∂x. It keeps what
its backward needs from the forward (here x and t = tanh(x W + b)); a module's backward runs through its most
recent forward call. ``minimlp.gradcheck`` then checks the hand-written backward against finite differences.
"""
import numpy as np

import minimlp
from minimlp import nn, optim


class ScaledResidual(nn.Module):
    """y = x + α·tanh(x W + b);  with t = tanh(x W + b) and H = α·G·(1 − t²):
    ∂L/∂α = Σ G·t,  ∂L/∂W = xᵀ H,  ∂L/∂b = Σ_rows H,  ∂L/∂x = G + H Wᵀ."""

    def __init__(self, features):
        super().__init__()
        self.weight = nn.Parameter(np.random.default_rng(0).normal(0, features ** -0.5, (features, features)))
        self.bias = nn.Parameter(np.zeros(features))
        self.alpha = nn.Parameter(np.array(0.5))

    def forward(self, x):
        self._x = x
        self._t = np.tanh(x @ self.weight.data + self.bias.data)
        return x + self.alpha.data * self._t

    def backward(self, dout):
        x, t = self._x, self._t
        h = self.alpha.data * dout * (1 - t * t)
        self.alpha.accumulate((dout * t).sum())
        self.weight.accumulate(x.T @ h)
        self.bias.accumulate(h.sum(axis=0))
        return dout + h @ self.weight.data.T


def main():
    minimlp.manual_seed(0)
    block = ScaledResidual(4)
    print("gradcheck:", minimlp.gradcheck(block, np.random.default_rng(1).normal(size=(3, 4))))
    model = nn.Sequential(nn.Linear(4, 4).double(), ScaledResidual(4), nn.Linear(4, 1).double())
    opt, loss_fn = optim.Adam(model.parameters(), lr=1e-2), nn.MSELoss()
    rng = np.random.default_rng(2)
    x = rng.normal(size=(64, 4))
    y = np.sin(x.sum(axis=1, keepdims=True))
    for step in range(301):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        model.backward(loss_fn.backward())
        opt.step()
        if step % 100 == 0:
            print(f"step {step:3d}  loss {loss:.4f}")
    return loss


if __name__ == "__main__":
    main()
