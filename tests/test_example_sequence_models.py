"""examples/sequence_models.py: the LSTM and the causal Transformer, each with its backward written by hand,
learn the grammar (loss far below chance) and write a sample mostly of its words."""
import importlib.util
import math
import pathlib

import numpy as np
import pytest

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "sequence_models.py"


@pytest.mark.parametrize("model", ["lstm", "transformer"])
def test_sequence_model_example_learns_its_grammar(model, capsys):
    spec = importlib.util.spec_from_file_location("sequence_models", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    history = example.main(model, steps=100)
    out = capsys.readouterr().out
    chance = math.log(int(out.split(": ")[1].split(" characters")[0]))
    assert np.mean(history[:5]) > 0.8 * chance and np.mean(history[-20:]) < 0.35 * chance, history[-20:]
    sample = out.split("sample: ")[1].rstrip("\n")
    assert sample.startswith("the cat ") and len(sample) == len("the cat ") + 60
    words = [w.strip(".") for w in sample.split()[:-1]]   # the last may be cut short
    grammar = example.char_model
    vocabulary = {w for phrase in grammar.SUBJECTS + grammar.VERBS + grammar.OBJECTS for w in phrase.split()}
    assert np.mean([w in vocabulary for w in words]) >= 0.75, words   # 100 steps: mostly the grammar's words
