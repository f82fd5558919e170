"""The numbers Xia & Salhi report in *Image Colorization with Neural Networks*, as MSE on [-1, 1] RGB, copied from
``../shared/paper/NUMBERS.md`` (checked against it by ``tests/test_paper_numbers.py``). docs/colorizer.md.
"""

PAPER_NUMBERS = {
    "table1": {   # MLP, hidden layers of 512
        "1 hidden layer": {"train": 0.035, "valid": 0.034, "test": 0.032},
        "2 hidden layers": {"train": 0.032, "valid": 0.038, "test": 0.038},
        "3 hidden layers": {"train": 0.037, "valid": 0.041, "test": 0.041},
    },
    "table2": {   # fully connected autoencoder
        "1 hidden layer": {"train": 0.042, "valid": 0.035, "test": 0.03408},
        "2 hidden layers": {"train": 0.040, "valid": 0.041, "test": 0.041},
        "3 hidden layers": {"train": 0.054, "valid": 0.051, "test": 0.051},
        "5 hidden layers": {"train": 0.057, "valid": 0.059, "test": 0.05870},
    },
    "table4": {
        "BatchNorm": {"train": 0.035, "valid": 0.034, "test": 0.03298},
        "no BatchNorm": {"train": 0.017, "valid": 0.035, "test": 0.03356},
    },
    "table5": {   # hidden activation
        "sigmoid": {"train": 0.035, "valid": 0.034, "test": 0.03298},
        "relu": {"train": 0.029, "valid": 0.039, "test": 0.03899},
        "tanh": {"train": 0.030, "valid": 0.038, "test": 0.03745},
    },
    "fig11": {    # optimizer, from the text ("around 27 %" for SGD with momentum)
        "SGD + momentum 0.9": {"test": 0.27},
        "RMSprop": {"test": 0.035},
        "Adam": {"test": 0.032},
    },
}

# The paper's best model (its Table 3 settings: one hidden layer, BatchNorm, sigmoid, tanh output, Adam 2e-4),
# reported in Tables 4 and 5 with three decimals of a percent
PAPER_BEST = ("table4", "BatchNorm")


def paper_number(study, label, part="test"):
    """The paper's ``part`` MSE ('train', 'valid' or 'test') for one row of a study, or None if it gives none."""
    return PAPER_NUMBERS.get(study, {}).get(label, {}).get(part)


def paper_text(value):
    """A paper number as the paper prints it: 0.032, 0.27, or with a percent's three decimals, 0.05870."""
    return f"{value}" if round(value, 3) == value else f"{value:.5f}"


def paper_best_test():
    """The paper's test MSE of its best model: 0.03298 (Tables 4 and 5)."""
    return paper_number(*PAPER_BEST)
