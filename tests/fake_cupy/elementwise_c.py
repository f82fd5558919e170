"""Run a CuPy ElementwiseKernel's C body on NumPy arrays: the small C subset minimlp's kernels are written in.

Statements: declarations (``T d = e;``), assignments (``=``, ``+=``, ``-=``, ``*=``, ``/=``) and
``if (c) x = e;``, and writes of a ``raw`` output at an index (``if (i == 0) count[0] += 1;``) where no two
elements write one place (CuPy declares every input const, raw ones included). Expressions: numbers, names,
``+ - * / %`` (``/`` and ``%`` of integers truncate, as C's), comparisons, ``&& || !``, ``c ? a : b``, casts
``(T) e``, the math functions in ``FUNCTIONS``, the element's index ``i`` and ``raw`` parameters read at a flat
C-order index (``src[k]``). Anything else is refused by name, so a kernel this cannot read is reported, never
run wrongly. Each statement is evaluated on whole arrays (every element at once), which is what the
per-element C does when no element reads another's result; a raw read outside the array reads a poison value,
since both sides of a condition are evaluated.

A ReductionKernel may reduce pairs (``reduce_type="double2"``: ``make_double2(u, v)`` per element, summed member
by member, read as ``a.x`` and ``a.y``) or Welford's (count, mean, M2) triples (``double3``, merged by the
``minimlp_welford`` of the kernel's preamble), and set several outputs in a comma-separated ``post_map_expr``;
its outputs are references (read in the post-map, an output passed in holds its values; one made by the call
holds poison).
"""
import re

import numpy as np

FUNCTIONS = {"sqrt": np.sqrt, "rsqrt": lambda x: 1 / np.sqrt(x), "exp": np.exp, "log": np.log, "tanh": np.tanh,
             "max": np.maximum, "min": np.minimum, "fmax": np.fmax, "fmin": np.fmin,
             "abs": np.abs, "fabs": np.abs, "pow": np.power, "log1p": np.log1p, "expm1": np.expm1,
             "isfinite": np.isfinite, "isnan": np.isnan, "copysign": np.copysign, "floor": np.floor,
             "ceil": np.ceil, "make_double2": lambda *m: _members(m), "make_double3": lambda *m: _members(m)}
MEMBERS = {"x": 0, "y": 1, "z": 2}      # of a double2 or double3
C_TYPES = {"float": np.float32, "double": np.float64, "bool": np.bool_, "int": np.int32, "ptrdiff_t": np.int64,
           "float32": np.float32, "float64": np.float64, "int32": np.int32, "int64": np.int64}
_TOKEN = re.compile(r"\s*(?:(\d+\.\d*(?:[eE][-+]?\d+)?f?|\.\d+(?:[eE][-+]?\d+)?f?|\d+(?:[eE][-+]?\d+)?f?)"
                    r"|([A-Za-z_]\w*(?:\.[xyz]\b)?)|(&&|\|\||==|!=|<=|>=|[-+*/%<>()?:!,\[\]]))")
_BINARY = {"||": (1, "np.logical_or({}, {})"), "&&": (2, "np.logical_and({}, {})"),
           "==": (3, "({} == {})"), "!=": (3, "({} != {})"), "<": (4, "({} < {})"), ">": (4, "({} > {})"),
           "<=": (4, "({} <= {})"), ">=": (4, "({} >= {})"), "+": (5, "({} + {})"), "-": (5, "({} - {})"),
           "*": (6, "({} * {})"), "/": (6, "_div({}, {})"), "%": (6, "np.fmod({}, {})")}


def _members(values):
    """A double2 or double3: its members on a last axis."""
    return np.stack(np.broadcast_arrays(*(np.asarray(v, np.float64) for v in values)), axis=-1)


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
    """``array[index]`` with ``index`` flat, in C order, as CuPy's CArray reads a raw parameter. An index outside
    the array reads a poison value (NaN, or the integer minimum), as a GPU would read garbage there: both sides
    of a condition are evaluated, so only a read that escapes its guard reaches a result."""
    flat, index = np.ravel(array), np.asarray(index, dtype=np.int64)
    values = np.take(flat, index, mode="clip")
    poison = np.nan if flat.dtype.kind == "f" else np.iinfo(flat.dtype).min if flat.dtype.kind in "iu" else 0
    return np.where((index >= 0) & (index < flat.size), values, np.asarray(poison).astype(flat.dtype))


def _poisoned(shape, dtype):
    """A new output's memory before the kernel writes it: garbage on a GPU, NaN (or the integer minimum) here."""
    dtype = np.dtype(dtype)
    return np.full(shape, np.nan if dtype.kind == "f" else np.iinfo(dtype).min if dtype.kind in "iu" else 0, dtype)


def _check_declared(kernel, name, ctype, value):
    """CuPy reads a declared parameter type as a NumPy dtype name (``float`` is float64 there) and refuses an
    array of any other dtype, raw or not (``_decide_params_type_core``: 'Type is mismatched')."""
    if value.dtype != np.dtype(ctype):
        raise TypeError(f"{kernel}: Type is mismatched. {name} {value.dtype} {ctype}")


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
            if "." in value:
                name, member = value.split(".")
                return f"{name}[..., {MEMBERS[member]}]"
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


def _statements(body, separator=";"):
    """The statements of a body (``;``-separated), or of a post-map expression (``,``-separated at the top
    level, as C's comma operator inside CuPy's ``POST_MAP(a) (...)``)."""
    body = re.sub(r"//[^\n]*|/\*.*?\*/", "", body, flags=re.S)
    if re.search(r"[{}]|\bfor\b|\bwhile\b", body):
        raise Unsupported("blocks and loops")
    parts, depth, start = [], 0, 0
    for k, ch in enumerate(body):
        depth += (ch == "(") - (ch == ")")
        if ch == separator and depth == 0:
            parts.append(body[start:k])
            start = k + 1
    parts.append(body[start:])
    return [s.strip() for s in parts if s.strip()]


def _store(array, index, value, condition):
    """``if (condition) array[index] = value`` for every element at once; refused where two elements would
    write one place (a race in the C)."""
    index, value, condition = np.broadcast_arrays(np.asarray(index, np.int64), np.asarray(value),
                                                  np.asarray(condition, bool))
    where = np.asarray(index[condition]).ravel()
    if np.unique(where).size != where.size:
        raise Unsupported(f"several elements write one place of a raw parameter: {where.tolist()}")
    if not array.flags.c_contiguous:
        raise Unsupported("a write to a raw parameter that is not C-contiguous")
    flat = array.reshape(-1)          # a view of the raw parameter's own storage
    flat[where] = np.asarray(value[condition]).ravel().astype(array.dtype)


class Kernel:
    """One ElementwiseKernel: parameters, the body translated to Python, and a call like CuPy's."""

    def __init__(self, in_params, out_params, operation, name):
        (self.inputs, raw_in), (self.outputs, self.raw_out) = _params(in_params), _params(out_params)
        self.raw = raw_in | self.raw_out
        self.name = name
        self.types = {t for t, _ in self.inputs + self.outputs if t not in C_TYPES} | set(C_TYPES)
        self.code = [self._statement(s) for s in _statements(operation)]

    def _statement(self, text):
        m = re.fullmatch(r"(?:if\s*\((.*)\)\s*)?(\w+)\s*\[([^\]]+)\]\s*([-+*/]?=)\s*(.+)", text, flags=re.S)
        if m:
            condition, target, index, op, value = m.groups()
            if target not in getattr(self, "raw_out", ()):
                raise Unsupported(f"a write to {target}[...], which is not a raw output (CuPy declares its "
                                  f"inputs, raw ones included, const)")
            index = _translate(index, self.types)
            new = _translate(value, self.types)
            if op != "=":
                new = f"(_raw({target}, {index}) {op[0]} {new})"
            condition = "True" if condition is None else _translate(condition, self.types)
            return f"_store({target}, {index}, {new}, {condition})"
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
        if allocate and self.raw_out:
            raise ValueError("Output array size is Undecided")
        bound = {}
        for (ctype, name), value in zip(self.inputs + self.outputs, args):
            if not isinstance(value, np.ndarray):
                continue
            if ctype in C_TYPES:
                _check_declared(self.name, name, ctype, value)
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
               "_div": _div, "_raw": _raw, "_store": _store,
               "i": np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)}
        for (ctype, name), value in zip(self.inputs, args[:n_in]):
            if ctype not in dtypes:
                raise TypeError(f"{self.name}: the type of {name} ({ctype}) is not bound by any array")
            env[name] = value if isinstance(value, np.ndarray) else _scalar(value, dtypes[ctype])
        for (ctype, name), out in zip(self.outputs, args[n_in:]):
            if not isinstance(out, np.ndarray) or out.dtype != dtypes[ctype] or (
                    name not in self.raw_out and out.shape != shape):
                raise TypeError(f"{self.name}: output {name} must be a {np.dtype(dtypes[ctype])} array of shape "
                                f"{shape}")
            env[name] = out if name in self.raw_out else out.copy()
        for line in self.code:
            exec(line, env)
        for (ctype, name), out in zip(self.outputs, args[n_in:]):
            if name not in self.raw_out:
                out[...] = np.broadcast_to(env[name], shape).astype(out.dtype, copy=False)
        return args[n_in:] if n_out > 1 else args[n_in]


def _welford(mapped, axis, keepdims=False):
    """(count, mean, M2) parts merged into one per output, M2 = Σ (x − mean)², as ``minimlp_welford`` merges
    them two at a time (its C is run by the host in ``tests/test_fake_gpu.py``)."""
    n, x, m2 = (mapped[..., k] for k in range(3))
    total = n.sum(axis=axis, keepdims=True)
    mean = np.where(total > 0, (n * x).sum(axis=axis, keepdims=True) / np.where(total > 0, total, 1), 0)
    m2 = m2.sum(axis=axis, keepdims=True) + (n * (x - mean) ** 2).sum(axis=axis, keepdims=True)
    merged = np.stack([total, mean, m2], axis=-1)
    return merged if keepdims else merged.squeeze(axis=axis)


_REDUCTIONS = {"a + b": np.add.reduce, "max(a, b)": np.maximum.reduce, "min(a, b)": np.minimum.reduce,
               "make_double2(a.x + b.x, a.y + b.y)": np.add.reduce, "minimlp_welford(a, b)": _welford}
VECTORS = {"double2": 2, "double3": 3}  # reduce types of several double members, kept on a last axis
_VECTOR_REDUCTIONS = {"make_double2(a.x + b.x, a.y + b.y)": "double2", "minimlp_welford(a, b)": "double3"}


class Reduction:
    """One ReductionKernel: ``map_expr`` per element (in ``reduce_type``), ``reduce_expr`` over the axes (a sum,
    a max or a min; a pair summed member by member), then the ``post_map_expr`` assignments (comma-separated)
    that set the outputs from the reduced ``a``. As CuPy's, a call returns its first output only."""

    def __init__(self, in_params, out_params, map_expr, reduce_expr, post_map_expr, identity, name,
                 reduce_type=None):
        (self.inputs, raw_in), (self.outputs, raw_out) = _params(in_params), _params(out_params)
        if raw_in or raw_out:
            raise Unsupported("raw parameters in a reduction")
        self.name = name
        if " ".join(reduce_expr.split()) not in _REDUCTIONS:
            raise Unsupported(f"reduce_expr {reduce_expr!r}")
        self.reduce = _REDUCTIONS[" ".join(reduce_expr.split())]
        if _VECTOR_REDUCTIONS.get(" ".join(reduce_expr.split())) != (reduce_type if reduce_type in VECTORS else None):
            raise Unsupported(f"reduce_expr {reduce_expr!r} with reduce_type {reduce_type!r}")
        self.reduce_type = reduce_type
        self.types = {t for t, _ in self.inputs + self.outputs if t not in C_TYPES} | set(C_TYPES)
        self.map = _translate(map_expr, self.types)
        self.post = [Kernel._statement(self, s) for s in _statements(post_map_expr, ",")]

    _assigned = Kernel._assigned

    def __call__(self, *args, out=None, axis=None, keepdims=False):
        n_in, n_out = len(self.inputs), len(self.outputs)
        if len(args) not in (n_in, n_in + n_out) or (out is not None and (len(args) != n_in or n_out != 1)):
            raise TypeError(f"{self.name}: {n_in} inputs (and the outputs, or out= for one) wanted, "
                            f"{len(args)} given")
        bound = {}
        for (ctype, name), value in zip(self.inputs + self.outputs, args):
            if ctype in C_TYPES and isinstance(value, np.ndarray):
                _check_declared(self.name, name, ctype, value)
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
        pair = self.reduce_type in VECTORS
        mapped = np.broadcast_to(eval(self.map, env), shape + ((VECTORS[self.reduce_type],) if pair else ()))
        reduce_type = self.reduce_type or self.outputs[0][0]     # CuPy's default: the first output's type
        mapped = mapped.astype(np.float64 if pair else C_TYPES.get(reduce_type) or dtypes.get(reduce_type),
                               copy=False)
        axes = tuple(range(len(shape))) if axis is None else tuple(np.atleast_1d(axis) % len(shape))
        env["a"] = self.reduce(mapped, axis=axes, keepdims=keepdims)
        for (_, name), value in zip(self.inputs, args):
            if isinstance(value, np.ndarray):
                del env[name]              # CuPy's post_map_expr sees the scalar inputs only
        targets = [out] if out is not None else list(args[n_in:]) or [None] * n_out
        for (ctype, name), target in zip(self.outputs, targets):
            shape = np.shape(env["a"])[:-1] if pair else np.shape(env["a"])
            if target is not None and (target.shape != shape or target.dtype != dtypes[ctype]):
                raise TypeError(f"{self.name}: output {name} must be a {np.dtype(dtypes[ctype])} array of shape "
                                f"{shape}")
            env[name] = target.copy() if target is not None else _poisoned(shape, dtypes[ctype])   # a T& in the C
        for line in self.post:
            exec(line, env)
            for ctype, name in self.outputs:        # each output is a T& in the C: read back rounded
                env[name] = np.asarray(env[name]).astype(dtypes[ctype], copy=False)
        results = []
        for (ctype, name), target in zip(self.outputs, targets):
            result = np.asarray(env[name]).astype(dtypes[ctype], copy=False)
            if target is not None:
                target[...] = result
                result = target
            results.append(result)
        return results[0]
