"""Run a CuPy ElementwiseKernel's C body on NumPy arrays: the small C subset minimlp's kernels are written in.

Statements: declarations (``T d = e;``), assignments (``=``, ``+=``, ``-=``, ``*=``, ``/=``) and
``if (c) x = e;``. Expressions: numbers, names, ``+ - * / %`` (``/`` and ``%`` of integers truncate, as C's),
comparisons, ``&& || !``, ``c ? a : b``, casts ``(T) e``, the math functions in ``FUNCTIONS``, the element's
index ``i`` and ``raw`` parameters read at a flat C-order index (``src[k]``). Anything else is refused by name,
so a kernel this cannot read is reported, never run wrongly. Each statement is evaluated on whole arrays (every
element at once), which is what the per-element C does when no element reads another's result; a raw read is
clipped to the array, since both sides of a condition are evaluated.
"""
import re

import numpy as np

FUNCTIONS = {"sqrt": np.sqrt, "rsqrt": lambda x: 1 / np.sqrt(x), "exp": np.exp, "log": np.log, "tanh": np.tanh,
             "max": np.maximum, "min": np.minimum, "fmax": np.fmax, "fmin": np.fmin,
             "abs": np.abs, "fabs": np.abs, "pow": np.power, "log1p": np.log1p, "expm1": np.expm1,
             "isfinite": np.isfinite, "isnan": np.isnan, "copysign": np.copysign, "floor": np.floor,
             "ceil": np.ceil}
C_TYPES = {"float": np.float32, "double": np.float64, "bool": np.bool_, "int": np.int32, "ptrdiff_t": np.int64,
           "float32": np.float32, "float64": np.float64, "int32": np.int32, "int64": np.int64}
_TOKEN = re.compile(r"\s*(?:(\d+\.\d*(?:[eE][-+]?\d+)?f?|\.\d+(?:[eE][-+]?\d+)?f?|\d+(?:[eE][-+]?\d+)?f?)"
                    r"|([A-Za-z_]\w*)|(&&|\|\||==|!=|<=|>=|[-+*/%<>()?:!,\[\]]))")
_BINARY = {"||": (1, "np.logical_or({}, {})"), "&&": (2, "np.logical_and({}, {})"),
           "==": (3, "({} == {})"), "!=": (3, "({} != {})"), "<": (4, "({} < {})"), ">": (4, "({} > {})"),
           "<=": (4, "({} <= {})"), ">=": (4, "({} >= {})"), "+": (5, "({} + {})"), "-": (5, "({} - {})"),
           "*": (6, "({} * {})"), "/": (6, "_div({}, {})"), "%": (6, "np.fmod({}, {})")}


def _div(a, b):
    """C's ``/``: integers truncate toward zero."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":
        q = np.floor_divide(a, np.where(b == 0, 1, b))
        return q + ((q < 0) & (q * b != a))
    return a / b


def _scalar(value, dtype):
    """A kernel's scalar argument, as CuPy takes it: a Python or NumPy number, nothing else."""
    if not isinstance(value, (bool, int, float, np.generic)):
        raise TypeError(f"Unsupported type {type(value)}")
    return dtype(value)


def _raw(array, index):
    """``array[index]`` with ``index`` flat, in C order, as CuPy's CArray reads a raw parameter."""
    return np.take(np.ravel(array), np.asarray(index, dtype=np.int64), mode="clip")


class Unsupported(NotImplementedError):
    """The kernel uses C this interpreter does not read."""


def _tokens(text):
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise Unsupported(f"cannot read {text[pos:pos + 20]!r}")
        number, name, op = m.groups()
        out.append(("num", number.rstrip("f")) if number else ("name", name) if name else ("op", op))
        pos = m.end()
    return out


class _Parser:
    """Precedence climbing from C tokens to a Python expression over NumPy arrays."""

    def __init__(self, tokens, types):
        self.t, self.i, self.types = tokens, 0, types

    def peek(self):
        return self.t[self.i] if self.i < len(self.t) else (None, None)

    def take(self, value=None):
        token = self.peek()
        if value is not None and token[1] != value:
            raise Unsupported(f"expected {value!r}, found {token[1]!r}")
        self.i += 1
        return token

    def expression(self):
        condition = self.binary(1)
        if self.peek()[1] == "?":
            self.take("?")
            yes = self.expression()
            self.take(":")
            no = self.expression()
            return f"np.where({condition}, {yes}, {no})"
        return condition

    def binary(self, floor):
        left = self.unary()
        while self.peek()[0] == "op" and self.peek()[1] in _BINARY and _BINARY[self.peek()[1]][0] >= floor:
            precedence, template = _BINARY[self.take()[1]]
            left = template.format(left, self.binary(precedence + 1))
        return left

    def unary(self):
        kind, value = self.peek()
        if value == "-":
            self.take()
            return f"(-{self.unary()})"
        if value == "!":
            self.take()
            return f"np.logical_not({self.unary()})"
        if value == "(":
            self.take()
            if self.peek()[0] == "name" and self.peek()[1] in self.types and self.t[self.i + 1][1] == ")":
                cast = self.take()[1]
                self.take(")")
                return f"_cast({self.unary()}, {cast!r})"
            inner = self.expression()
            self.take(")")
            return inner
        if kind == "num":
            self.take()
            return value
        if kind == "name":
            self.take()
            if self.peek()[1] == "(":
                if value not in FUNCTIONS:
                    raise Unsupported(f"function {value!r}")
                self.take("(")
                args = [self.expression()]
                while self.peek()[1] == ",":
                    self.take(",")
                    args.append(self.expression())
                self.take(")")
                return f"_f[{value!r}]({', '.join(args)})"
            if self.peek()[1] == "[":
                self.take("[")
                index = self.expression()
                self.take("]")
                return f"_raw({value}, {index})"
            if value in ("true", "false"):
                return "True" if value == "true" else "False"
            return value
        raise Unsupported(f"unexpected {value!r}")


def _translate(expression, types):
    parser = _Parser(_tokens(expression), types)
    python = parser.expression()
    if parser.i != len(parser.t):
        raise Unsupported(f"trailing {parser.t[parser.i][1]!r} in {expression!r}")
    return python


def _params(text):
    """[(type, name)], and the names of the ``raw`` ones (read whole, at an index)."""
    out, raw = [], set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        words = part.split()
        if words[0] == "raw" and len(words) == 3:
            raw.add(words[2])
            words = words[1:]
        if len(words) != 2:
            raise Unsupported(f"parameter {part!r}")
        out.append((words[0], words[1]))
    return out, raw


def _statements(body):
    body = re.sub(r"//[^\n]*|/\*.*?\*/", "", body, flags=re.S)
    if re.search(r"[{}]|\bfor\b|\bwhile\b", body):
        raise Unsupported("blocks and loops")
    return [s.strip() for s in body.split(";") if s.strip()]


class Kernel:
    """One ElementwiseKernel: parameters, the body translated to Python, and a call like CuPy's."""

    def __init__(self, in_params, out_params, operation, name):
        (self.inputs, self.raw), (self.outputs, raw_out) = _params(in_params), _params(out_params)
        if raw_out:
            raise Unsupported(f"raw outputs {sorted(raw_out)}")
        self.name = name
        self.types = {t for t, _ in self.inputs + self.outputs if t not in C_TYPES} | set(C_TYPES)
        self.code = [self._statement(s) for s in _statements(operation)]

    def _statement(self, text):
        m = re.fullmatch(r"if\s*\((.*)\)\s*(\w+)\s*([-+*/]?=)\s*(.+)", text, flags=re.S)
        if m:
            condition, target, op, value = m.groups()
            new = self._assigned(target, op, value)
            return f"{target} = np.where({_translate(condition, self.types)}, {new}, {target})"
        m = re.fullmatch(r"(?:const\s+)?(\w+)\s+(\w+)\s*=\s*(.+)", text, flags=re.S)
        if m and m.group(1) in self.types:
            ctype, target, value = m.groups()
            return f"{target} = _cast({_translate(value, self.types)}, {ctype!r})"
        m = re.fullmatch(r"(\w+)\s*([-+*/]?=)\s*(.+)", text, flags=re.S)
        if m:
            target, op, value = m.groups()
            return f"{target} = {self._assigned(target, op, value)}"
        raise Unsupported(f"statement {text!r}")

    def _assigned(self, target, op, value):
        value = _translate(value, self.types)
        return value if op == "=" else f"({target} {op[0]} {value})"

    def __call__(self, *args):
        n_in, n_out = len(self.inputs), len(self.outputs)
        if len(args) not in (n_in, n_in + n_out):
            raise TypeError(f"{self.name}: {n_in} inputs (and {n_out} outputs) wanted, {len(args)} given")
        allocate = len(args) == n_in
        bound = {}
        for (ctype, name), value in zip(self.inputs + self.outputs, args):
            if ctype in C_TYPES or not isinstance(value, np.ndarray):
                continue
            if bound.setdefault(ctype, value.dtype) != value.dtype:
                raise TypeError(f"{self.name}: type {ctype} is bound to {bound[ctype]} and {value.dtype} "
                                f"({name})")
        dtypes = {**{k: v.type for k, v in bound.items()}, **C_TYPES}
        arrays = [a for (_, name), a in zip(self.inputs + self.outputs, args)
                  if isinstance(a, np.ndarray) and name not in self.raw]
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        if allocate:
            for ctype, name in self.outputs:
                if ctype not in dtypes:
                    raise TypeError(f"{self.name}: output {name}'s type {ctype} is not bound by any input")
            args = args + tuple(np.empty(shape, dtypes[ctype]) for ctype, _ in self.outputs)
        env = {"np": np, "_f": FUNCTIONS, "_cast": lambda v, t: np.asarray(v).astype(dtypes[t], copy=False),
               "_div": _div, "_raw": _raw, "i": np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)}
        for (ctype, name), value in zip(self.inputs, args[:n_in]):
            if ctype not in dtypes:
                raise TypeError(f"{self.name}: the type of {name} ({ctype}) is not bound by any array")
            env[name] = value if isinstance(value, np.ndarray) else _scalar(value, dtypes[ctype])
        for (ctype, name), out in zip(self.outputs, args[n_in:]):
            if not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != dtypes[ctype]:
                raise TypeError(f"{self.name}: output {name} must be a {np.dtype(dtypes[ctype])} array of shape "
                                f"{shape}")
            env[name] = out.copy()
        for line in self.code:
            exec(line, env)
        for (ctype, name), out in zip(self.outputs, args[n_in:]):
            out[...] = np.broadcast_to(env[name], shape).astype(out.dtype, copy=False)
        return args[n_in:] if n_out > 1 else args[n_in]


_REDUCTIONS = {"a + b": np.add.reduce, "max(a, b)": np.maximum.reduce, "min(a, b)": np.minimum.reduce}


class Reduction:
    """One ReductionKernel: ``map_expr`` per element (in ``reduce_type``), ``reduce_expr`` over the axes (a sum,
    a max or a min), then ``post_map_expr`` statements that set the outputs from the reduced ``a``."""

    def __init__(self, in_params, out_params, map_expr, reduce_expr, post_map_expr, identity, name,
                 reduce_type=None):
        (self.inputs, raw_in), (self.outputs, raw_out) = _params(in_params), _params(out_params)
        if raw_in or raw_out:
            raise Unsupported("raw parameters in a reduction")
        self.name = name
        if " ".join(reduce_expr.split()) not in _REDUCTIONS:
            raise Unsupported(f"reduce_expr {reduce_expr!r}")
        self.reduce = _REDUCTIONS[" ".join(reduce_expr.split())]
        self.reduce_type = reduce_type
        self.types = {t for t, _ in self.inputs + self.outputs if t not in C_TYPES} | set(C_TYPES)
        self.map = _translate(map_expr, self.types)
        self.post = [Kernel._statement(self, s) for s in _statements(post_map_expr)]

    _assigned = Kernel._assigned

    def __call__(self, *args, out=None, axis=None, keepdims=False):
        n_in, n_out = len(self.inputs), len(self.outputs)
        if len(args) not in (n_in, n_in + n_out) or (out is not None and len(args) != n_in):
            raise TypeError(f"{self.name}: {n_in} inputs (and the output, or out=) wanted, {len(args)} given")
        bound = {}
        for (ctype, name), value in zip(self.inputs, args):
            if ctype not in C_TYPES and isinstance(value, np.ndarray):
                if bound.setdefault(ctype, value.dtype) != value.dtype:
                    raise TypeError(f"{self.name}: type {ctype} is bound to {bound[ctype]} and {value.dtype}")
        dtypes = {**{k: v.type for k, v in bound.items()}, **C_TYPES}
        env = {"np": np, "_f": FUNCTIONS, "_cast": lambda v, t: np.asarray(v).astype(dtypes[t], copy=False),
               "_div": _div, "_raw": _raw}
        for (ctype, name), value in zip(self.inputs, args):
            if ctype not in dtypes:
                raise TypeError(f"{self.name}: the type of {name} ({ctype}) is not bound by any array")
            env[name] = value if isinstance(value, np.ndarray) else _scalar(value, dtypes[ctype])
        shape = np.broadcast_shapes(*(a.shape for a in args[:n_in] if isinstance(a, np.ndarray)))
        mapped = np.broadcast_to(eval(self.map, env), shape)
        if self.reduce_type is not None:
            mapped = mapped.astype(C_TYPES.get(self.reduce_type, dtypes.get(self.reduce_type)), copy=False)
        axes = tuple(range(len(shape))) if axis is None else tuple(np.atleast_1d(axis) % len(shape))
        env["a"] = self.reduce(mapped, axis=axes, keepdims=keepdims)
        for (_, name), value in zip(self.inputs, args):
            if isinstance(value, np.ndarray):
                del env[name]              # CuPy's post_map_expr sees the scalar inputs only
        for line in self.post:
            exec(line, env)
        (ctype, name), = self.outputs if n_out == 1 else (None,)
        target = out if out is not None else (args[n_in] if len(args) > n_in else None)
        result = np.asarray(env[name]).astype(dtypes[ctype], copy=False)
        if target is None:
            return result
        if target.shape != result.shape or target.dtype != dtypes[ctype]:
            raise TypeError(f"{self.name}: out must be a {np.dtype(dtypes[ctype])} array of shape {result.shape}")
        target[...] = result
        return target
