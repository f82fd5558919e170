"""Next-character prediction with an LSTM or a small causal Transformer, each backward written out by hand.

The text comes from the tiny grammar of ``char_model.py`` ("the cat chases a mouse."). Each model reads 24
characters and predicts the character after every one of them; its loss falls from log(vocabulary), and it
ends by writing a greedy sample. A model of several layers whose outputs are tuples is not a ``Sequential``:
``forward`` calls its layers, and ``backward`` calls their backwards in reverse, each with the gradient of
what it returned. Under a minute each on 2 cores.

    python examples/sequence_models.py --model lstm          # Embedding → LSTM (2 layers) → Linear
    python examples/sequence_models.py --model transformer   # Embedding + positions → TransformerEncoder → Linear
"""
import argparse
import importlib.util
import math
import pathlib

import numpy as np

import minimlp
from minimlp import nn, optim
from minimlp.nn.utils import clip_grad_norm_

SPAN = 24
_GRAMMAR = importlib.util.spec_from_file_location("char_model", pathlib.Path(__file__).with_name("char_model.py"))
char_model = importlib.util.module_from_spec(_GRAMMAR)
_GRAMMAR.loader.exec_module(char_model)


class CharLSTM(nn.Module):
    """logits[n, t] = Linear(LSTM(Embedding(codes))[n, t]). Backward: the output layer's gradient, reshaped to
    (N, T, H), goes into ``LSTM.backward`` (no gradient for its final state, which the loss does not read), and
    the LSTM's input gradient into the embedding's rows."""

    def __init__(self, vocabulary, width=64):
        super().__init__()
        self.embed = nn.Embedding(vocabulary, 16)
        self.lstm = nn.LSTM(16, width, num_layers=2, batch_first=True)
        self.head = nn.Linear(width, vocabulary)

    def forward(self, codes):
        states, _ = self.lstm(self.embed(codes))
        return self.head(states)

    def backward(self, dout):
        d_states = self.head.backward(dout)
        self.embed.backward_parameters(self.lstm.backward(d_states))


class CharTransformer(nn.Module):
    """logits[n, t] = Linear(Encoder(Embedding(codes) + P)[n, t]) with learnt positions P and a causal mask
    (each position attends to itself and the ones before). The positions' gradient is the sum over the batch of
    the embedding's; the encoder's backward runs through both layers, attention and residuals included."""

    def __init__(self, vocabulary, width=32):
        super().__init__()
        self.embed = nn.Embedding(vocabulary, width)
        self.positions = nn.Parameter(np.random.default_rng(0).normal(0, 0.02, (SPAN, width)).astype(np.float32))
        layer = nn.TransformerEncoderLayer(width, 4, dim_feedforward=64, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.head = nn.Linear(width, vocabulary)
        self._mask = np.triu(np.full((SPAN, SPAN), -np.inf, dtype=np.float32), k=1)

    def forward(self, codes):
        span = codes.shape[1]
        x = self.embed(codes) + self.positions.data[:span]
        return self.head(self.encoder(x, mask=self._mask[:span, :span], is_causal=True))

    def backward(self, dout):
        d_x = self.encoder.backward(self.head.backward(dout))
        self.positions.accumulate(d_x.sum(axis=0))
        self.embed.backward_parameters(d_x)


def spans(codes, rng, count):
    """``count`` random windows of SPAN + 1 characters: (inputs (count, SPAN), next characters (count, SPAN))."""
    starts = rng.integers(0, len(codes) - SPAN - 1, count)
    rows = codes[starts[:, None] + np.arange(SPAN + 1)]
    return rows[:, :-1], rows[:, 1:]


def sample(model, seed_text, alphabet, length=60):
    """Greedy continuation of ``seed_text``, reading its last SPAN characters each time."""
    lookup = {c: i for i, c in enumerate(alphabet)}
    text = seed_text
    model.eval()
    for _ in range(length):
        codes = np.array([[lookup[c] for c in text[-SPAN:]]])
        text += alphabet[int(np.argmax(model(codes)[0, -1]))]
    return text


def main(model_name="lstm", steps=200, batch_size=32, seed=0):
    minimlp.manual_seed(seed)
    rng = np.random.default_rng(seed)
    text = char_model.make_text(800, rng)
    alphabet = sorted(set(text))
    codes = np.array([alphabet.index(c) for c in text])
    model = (CharLSTM if model_name == "lstm" else CharTransformer)(len(alphabet))
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=1e-2 if model_name == "lstm" else 3e-3)
    print(f"{model_name}: {len(alphabet)} characters; chance loss log({len(alphabet)}) = {math.log(len(alphabet)):.3f}")
    history = []
    for step in range(1, steps + 1):
        model.train()
        x, y = spans(codes, rng, batch_size)
        optimizer.zero_grad()
        logits = model(x)
        loss = loss_fn(logits.reshape(-1, len(alphabet)), y.reshape(-1))
        model.backward(loss_fn.backward().reshape(logits.shape))
        clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        history.append(loss)
        if step % 50 == 0:
            print(f"step {step}: loss {np.mean(history[-50:]):.3f}")
    print("sample:", sample(model, "the cat ", alphabet))
    return history


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["lstm", "transformer"], default="lstm")
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    main(args.model, args.steps)
