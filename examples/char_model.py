"""A character-level model beyond images: Embedding → LayerNorm → GELU → Linear → CrossEntropyLoss.

It reads the last 8 characters of sentences it generates itself from a tiny grammar ("the cat chases a
mouse.") and predicts the next one; AdamW with a linear warm-up then cosine decay (SequentialLR). Its loss
falls from log(vocabulary) and it ends by writing a greedy sample. About ten seconds on 2 cores.

    python examples/char_model.py [--epochs 3]
"""
import argparse
import math

import numpy as np

import minimlp
from minimlp import nn, optim
from minimlp.nn.utils import clip_grad_value_
from minimlp.optim import lr_scheduler

SUBJECTS = ["the cat", "a dog", "my bird", "the fox", "an owl"]
VERBS = ["sees", "likes", "chases", "finds"]
OBJECTS = ["the ball", "a mouse", "the moon", "my hat", "a fish"]
CONTEXT = 8


def make_text(sentences, rng):
    """Sentences 'subject verb object.' drawn at random, joined by spaces."""
    return " ".join(f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}." for _ in range(sentences))


def windows(codes):
    """(contexts (M, CONTEXT) int64, next characters (M,) int64)."""
    idx = np.arange(CONTEXT)[None, :] + np.arange(len(codes) - CONTEXT)[:, None]
    return codes[idx], codes[CONTEXT:]


def build(vocabulary):
    return nn.Sequential(nn.Embedding(vocabulary, 16), nn.Flatten(), nn.Linear(CONTEXT * 16, 128), nn.LayerNorm(128),
                         nn.GELU(), nn.Dropout(0.1), nn.Linear(128, vocabulary))


def sample(model, seed_text, alphabet, length=60):
    """Greedy continuation of ``seed_text`` (its last CONTEXT characters)."""
    lookup = {c: i for i, c in enumerate(alphabet)}
    text = seed_text
    model.eval()
    for _ in range(length):
        context = np.array([[lookup[c] for c in text[-CONTEXT:]]])
        text += alphabet[int(np.argmax(model(context)[0]))]
    return text


def main(epochs=3, batch_size=64, seed=0):
    minimlp.manual_seed(seed)
    rng = np.random.default_rng(seed)
    train_text, valid_text = make_text(600, rng), make_text(150, rng)
    alphabet = sorted(set(train_text + valid_text))
    codes = {c: i for i, c in enumerate(alphabet)}
    x, y = windows(np.array([codes[c] for c in train_text]))
    x_valid, y_valid = windows(np.array([codes[c] for c in valid_text]))
    model, loss_fn = build(len(alphabet)), nn.CrossEntropyLoss()
    optimizer = optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    steps = epochs * math.ceil(len(x) / batch_size)
    warmup = steps // 10
    schedule = lr_scheduler.SequentialLR(optimizer, [lr_scheduler.LinearLR(optimizer, 0.1, total_iters=warmup),
                                                     lr_scheduler.CosineAnnealingLR(optimizer, steps - warmup)],
                                         milestones=[warmup])
    print(f"{len(alphabet)} characters, {len(x)} training windows; chance loss log({len(alphabet)}) = "
          f"{math.log(len(alphabet)):.3f}")
    history = []
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(x))
        total = 0.0
        for start in range(0, len(x), batch_size):
            rows = order[start:start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(x[rows]), y[rows])
            model.backward(loss_fn.backward(), input_grad=False)   # the indices take no gradient
            clip_grad_value_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            total += loss * len(rows)
        model.eval()
        logits = model(x_valid)
        valid_loss, accuracy = loss_fn(logits, y_valid), float(np.mean(np.argmax(logits, axis=1) == y_valid))
        history.append((total / len(x), valid_loss, accuracy))
        print(f"epoch {epoch + 1}: train loss {total / len(x):.3f}, valid loss {valid_loss:.3f}, "
              f"valid accuracy {accuracy:.3f}")
    print("sample:", sample(model, "the cat ", alphabet))
    return history


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    main(parser.parse_args().epochs)
