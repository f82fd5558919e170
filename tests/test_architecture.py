"""The package's floors, read from its source (every import, those inside functions included).

Floors, lowest first: core (device, settings, threads, seeding, files) → formulas (each op's maths) → kernels
(the fast implementations and the one selector) → nn → optim → data → train → colorize. A module imports only
from its own floor or lower ones; there is no circle of imports anywhere; the formulas import NumPy, the
backend and pure standard-library maths (math, functools) alone; the layers, optimizers, training loop and colorizer import no compiler or C interface; only the
settings module, the backend and the data cache read the environment. Inside ``colorize`` the same holds for
its own floors: task maths → models → running (training, prediction) → experiments → the web page → command
line.
"""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "minimlp"

CORE = {"minimlp.backend", "minimlp.settings", "minimlp.threads", "minimlp.random", "minimlp.atomic",
        "minimlp.serialization", "minimlp.allocator", "minimlp.interop", "minimlp.scratch"}
FLOORS = ["core", "formulas", "kernels", "nn", "optim", "data", "train", "colorize"]
COLORIZE_FLOORS = ["task", "models", "running", "experiments", "web", "cli"]
LOW_LEVEL = {"numba", "ctypes", "llvmlite", "threadpoolctl"}
READS_ENVIRONMENT = {"minimlp.settings", "minimlp.backend", "minimlp.data.cache"}

# Violations let through, each "importer -> imported" (or "module: what"): none.
ALLOWED = set()


def module_name(path):
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(path):
    return path.name == "__init__.py"


SOURCES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def imports(name):
    """(minimlp modules imported, top-level names of outside packages imported) by module ``name``."""
    path = SOURCES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if is_package(path) else name.rpartition(".")[0]
    inside, outside = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                (inside if alias.name.startswith("minimlp") else outside).add(
                    alias.name if alias.name.startswith("minimlp") else alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            if not target.startswith("minimlp"):
                outside.add(target.split(".")[0])
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                inside.add(sub if sub in SOURCES else target)
    return {m for m in inside if m in SOURCES and m != name}, outside


GRAPH = {name: imports(name) for name in SOURCES}


def floor(name):
    if name == "minimlp":
        return None                       # the package's front door re-exports from every floor
    if name in CORE:
        return "core"
    if name == "minimlp.gradcheck":
        return "nn"
    part = name.split(".")[1]
    return part if part in FLOORS else f"unknown ({name})"


def colorize_floor(name):
    parts = name.split(".")
    if len(parts) < 3 or parts[1] != "colorize":
        return None                       # not in the colorizer, or its front door (re-exports from every floor)
    if parts[2] == "__main__":
        return "cli"
    return parts[2] if parts[2] in COLORIZE_FLOORS else f"unknown ({name})"


def unknown_floors():
    return {f"{n}: no floor" for n in SOURCES
            if (floor(n) or "").startswith("unknown") or (colorize_floor(n) or "").startswith("unknown")}


def _known(*floors):
    return all(f is not None and not f.startswith("unknown") for f in floors)


def upward_imports():
    wrong = set()
    for name, (inside, _) in GRAPH.items():
        for other in inside:
            a, b = floor(name), floor(other)
            if _known(a, b) and FLOORS.index(b) > FLOORS.index(a):
                wrong.add(f"{name} -> {other}")
            ca, cb = colorize_floor(name), colorize_floor(other)
            if _known(ca, cb) and COLORIZE_FLOORS.index(cb) > COLORIZE_FLOORS.index(ca):
                wrong.add(f"{name} -> {other}")
    return wrong


def circles():
    """Each strongly connected component of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), set()

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(GRAPH[v][0]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.add("circle: " + " ".join(sorted(component)))
    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return found


def formula_imports():
    wrong = set()
    for name, (inside, outside) in GRAPH.items():
        if floor(name) == "formulas":
            wrong |= {f"{name}: {o}" for o in outside - {"numpy", "math", "functools"}}
            wrong |= {f"{name} -> {m}" for m in inside if m != "minimlp.backend" and floor(m) != "formulas"}
    return wrong


def compiler_imports():
    return {f"{name}: {o}" for name, (_, outside) in GRAPH.items()
            if floor(name) in ("nn", "optim", "train", "colorize") for o in outside & LOW_LEVEL}


def environment_reads():
    wrong = set()
    for name, path in SOURCES.items():
        if name in READS_ENVIRONMENT:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "putenv") \
                    and isinstance(node.value, ast.Name) and node.value.id == "os":
                wrong.add(f"{name}: os.{node.attr}")
            if isinstance(node, ast.ImportFrom) and node.module == "os" \
                    and {a.name for a in node.names} & {"environ", "getenv"}:
                wrong.add(f"{name}: from os import environ")
    return wrong


CHECKS = [unknown_floors, upward_imports, circles, formula_imports, compiler_imports, environment_reads]


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
def test_layout(check):
    assert check() <= ALLOWED, sorted(check() - ALLOWED)


def test_the_allow_list_holds_no_stale_entries():
    """An entry that no longer happens must leave the list, so that the list only shrinks."""
    seen = set().union(*(check() for check in CHECKS))
    assert ALLOWED <= seen, sorted(ALLOWED - seen)


@pytest.mark.parametrize("planted", ["floor", "circle", "formula", "compiler", "environment"])
def test_the_checks_catch_a_planted_violation(planted, monkeypatch):
    """Each check reports a graph with one wrong import added (the checks can fail)."""
    graph = {k: (set(v[0]), set(v[1])) for k, v in GRAPH.items()}
    monkeypatch.setitem(globals(), "GRAPH", graph)
    if planted == "floor":
        graph["minimlp.backend"][0].add("minimlp.train.fit")
        found, expected = upward_imports(), "minimlp.backend -> minimlp.train.fit"
    elif planted == "circle":
        graph["minimlp.atomic"][0].add("minimlp.serialization")
        found, expected = circles(), "circle: minimlp.atomic minimlp.serialization"
    elif planted == "formula":
        graph["minimlp.formulas.planted"] = ({"minimlp.nn.module"}, {"scipy"})
        found = formula_imports()
        assert "minimlp.formulas.planted -> minimlp.nn.module" in found
        expected = "minimlp.formulas.planted: scipy"
    elif planted == "compiler":
        graph["minimlp.nn.linear"][1].add("numba")
        found, expected = compiler_imports(), "minimlp.nn.linear: numba"
    else:
        monkeypatch.setitem(globals(), "READS_ENVIRONMENT", set())
        found, expected = environment_reads(), "minimlp.settings: os.environ"
    assert expected in found
