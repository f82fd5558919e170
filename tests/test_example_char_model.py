"""examples/char_model.py runs, its loss falls far below chance, and it writes a sample from its grammar."""
import importlib.util
import math
import pathlib

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "char_model.py"


def test_char_model_example_learns_its_grammar(capsys):
    spec = importlib.util.spec_from_file_location("char_model", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    history = example.main(epochs=2)
    out = capsys.readouterr().out
    chance = math.log(int(out.split(" characters")[0]))
    first_train, _, _ = history[0]
    _, last_valid, last_accuracy = history[-1]
    assert first_train < chance and last_valid < 0.15 * chance, history
    assert last_accuracy > 0.8, history
    sample = out.split("sample: ")[1].strip()
    assert sample.startswith("the cat ") and len(sample) == len("the cat ") + 60
    words = {w.strip(".") for w in sample.split()[:-1]}   # the last may be cut short
    vocabulary = {w for phrase in example.SUBJECTS + example.VERBS + example.OBJECTS for w in phrase.split()}
    assert words <= vocabulary, words - vocabulary
