"""The README's example: the paper's network trained by hand with minimlp (3 epochs, about a minute on 2 cores)."""
import minimlp
from minimlp import nn, optim
from minimlp.colorize import make_arrays
from minimlp.data import Batches, load_default

minimlp.manual_seed(0)
split = load_default()                                   # the embedded 5000 / 500 / 1000 CIFAR-10 images
x, y = make_arrays(split.train.images, "rgb")            # gray (5000, 1024) -> RGB (5000, 3072), in [-1, 1]
x_valid, y_valid = make_arrays(split.valid.images, "rgb")
model = nn.Sequential(nn.Linear(1024, 512), nn.BatchNorm1d(512), nn.Sigmoid(),
                      nn.Linear(512, 3072), nn.BatchNorm1d(3072), nn.Tanh())
optimizer, loss_fn = optim.Adam(model.parameters(), lr=2e-4), nn.MSELoss()
batches = Batches(x, y, batch_size=16, seed=0)           # a new shuffle every epoch
for epoch in range(3):
    model.train()
    for xb, yb in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)                    # a Python float
        model.backward(loss_fn.backward())               # hand-written backward: fills p.grad for every parameter
        optimizer.step()
    model.eval()
    print(f"epoch {epoch + 1}: last batch {loss:.4f}, valid {loss_fn(model(x_valid), y_valid):.4f}")
