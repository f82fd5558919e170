"""docs/modules.md lists every module and loss minimlp.nn exports, and every schedule, with its torch twin."""
import pathlib
import re

import torch

from minimlp import nn
from minimlp.optim import lr_scheduler

DOC = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "modules.md").read_text(encoding="utf-8")
NOT_LAYERS = {"Module", "Parameter", "init", "utils"}


def test_every_exported_module_has_a_row_and_a_torch_twin():
    table = "\n".join(line for line in DOC.splitlines() if line.startswith("| `"))
    missing = [name for name in sorted(set(nn.__all__) - NOT_LAYERS) if not re.search(rf"\b{name}\b", table)]
    assert not missing, f"docs/modules.md has no row for {missing}"
    for name in set(nn.__all__) - NOT_LAYERS - {"Residual", "Concat", "GlobalFusion"}:
        assert hasattr(torch.nn, name), f"{name} has no torch twin"


def test_every_schedule_is_listed():
    names = [n for n, v in vars(lr_scheduler).items() if isinstance(v, type) and issubclass(v, lr_scheduler.LRScheduler)
             and n != "LRScheduler"]
    assert len(names) == 15
    assert all(re.search(rf"\b{n}\b", DOC) for n in names), names


def test_every_optimizer_is_listed_with_its_torch_twin():
    from minimlp import optim
    names = [n for n in optim.__all__ if n not in ("Optimizer", "lr_scheduler")]
    table = "\n".join(line for line in DOC.splitlines() if line.startswith("| `optim."))
    assert [n for n in names if not re.search(rf"\b{n}\b", table)] == []
    assert all(hasattr(torch.optim, n) for n in names)
