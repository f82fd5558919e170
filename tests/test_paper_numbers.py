"""The committed table of the paper's numbers agrees with ``../shared/paper/NUMBERS.md``, cell for cell."""
import re

from _shared_data import require_shared_file

from minimlp.colorize.experiments.paper_numbers import PAPER_NUMBERS, paper_best_test, paper_number, paper_text
from minimlp.colorize.experiments.studies import STUDIES

# NUMBERS.md's column headings → the row labels of reproduce.STUDIES
COLUMNS = {
    "Table 1": ("table1", {"1": "1 hidden layer", "2": "2 hidden layers", "3": "3 hidden layers"}),
    "Table 2": ("table2", {"1": "1 hidden layer", "2": "2 hidden layers", "3": "3 hidden layers",
                           "5": "5 hidden layers"}),
    "Table 4": ("table4", {"with BatchNorm": "BatchNorm", "without": "no BatchNorm"}),
    "Table 5": ("table5", {"sigmoid": "sigmoid", "ReLU": "relu", "tanh": "tanh"}),
}
FIG11 = {"SGD with momentum": "SGD + momentum 0.9", "RMSprop": "RMSprop", "Adam": "Adam"}


def _cells(row):
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def parse_numbers(text):
    """{study: {label: {part: MSE}}} from the markdown tables and the Figure 11 text of NUMBERS.md."""
    found = {}
    for block in re.split(r"^## ", text, flags=re.M)[1:]:
        heading, lines = block.split("\n", 1)
        name = next((n for n in COLUMNS if heading.startswith(n + ":")), None)
        if name is not None:
            study, labels = COLUMNS[name]
            rows = [line for line in lines.splitlines() if line.startswith("|")]
            columns = _cells(rows[0])[1:]
            for row in rows[2:]:
                part, *values = _cells(row)
                for column, value in zip(columns, values):
                    found.setdefault(study, {}).setdefault(labels[column], {})[part] = float(value)
        elif heading.startswith("Figure 11"):
            for phrase, label in FIG11.items():
                value = re.search(re.escape(phrase) + r":[^.]*?\((0\.\d+)\)|" + re.escape(phrase)
                                  + r": test loss (0\.\d+)", lines)
                found.setdefault("fig11", {})[label] = {"test": float(value.group(1) or value.group(2))}
    return found


def test_every_number_matches_the_shared_numbers_file():
    text = require_shared_file("paper", "NUMBERS.md").read_text(encoding="utf-8")
    parsed = parse_numbers(text)
    assert sum(len(parts) for rows in parsed.values() for parts in rows.values()) == 3 * 3 + 4 * 3 + 2 * 3 + 3 * 3 + 3
    assert parsed == PAPER_NUMBERS


def test_the_parser_sees_a_changed_number():
    """A wrong digit in the file is found (the check above can fail)."""
    text = require_shared_file("paper", "NUMBERS.md").read_text(encoding="utf-8")
    assert parse_numbers(text.replace("0.03899", "0.03999")) != PAPER_NUMBERS
    assert parse_numbers(text.replace("(0.27)", "(0.28)")) != PAPER_NUMBERS


def test_every_label_is_a_row_of_the_studies():
    rows = {(row["study"], row["label"]) for row in STUDIES}
    assert {(study, label) for study, labels in PAPER_NUMBERS.items() for label in labels} <= rows


def test_lookups():
    assert paper_best_test() == 0.03298
    assert paper_number("table1", "1 hidden layer") == 0.032
    assert paper_number("table2", "5 hidden layers", "valid") == 0.059
    assert paper_number("fig11", "SGD") is None and paper_number("fig5", "tanh") is None
    assert paper_number("fig11", "Adam", "train") is None


def test_numbers_print_as_the_paper_prints_them():
    assert [paper_text(v) for v in (0.032, 0.27, 0.03298, 0.0587, 0.041)] == ["0.032", "0.27", "0.03298", "0.05870",
                                                                           "0.041"]
