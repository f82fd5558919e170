"""CUDA C++ for the kernels the fake was asked to build, to compile with nvcc where there is no GPU.

Each ElementwiseKernel becomes a device function template of its parameters (inputs ``const``, ``raw`` ones
as ``const`` pointers, as CuPy declares every input const; outputs by reference, ``raw`` ones as pointers; and the
element index ``i``) holding its body, instantiated for float and double by a ``__global__`` caller; each
ReductionKernel becomes its map, identity, reduce and post-map functions the same way, after its preamble
(each preamble once). nvcc then checks the C the fake's interpreter only reads: types, overloads, names. It does
not check CuPy's own generated wrapper around them.
"""
C_OF = {"float32": "float", "float64": "double", "bool": "bool", "int32": "int", "int64": "long long",
        "float": "float", "double": "double", "int": "int", "ptrdiff_t": "ptrdiff_t"}


def _ctype(t, real):
    return real if t not in C_OF else C_OF[t]


def _call(name, params, real, first=0):
    lines, names = [], []
    for i, (t, n) in enumerate(params, start=first):
        lines.append(f"    {_ctype(t, real)} v{i} = ({_ctype(t, real)})buf[{i}];")
        names.append(f"v{i}")
    return lines, names


def elementwise(spec):
    inputs, outputs, body, name, raw = spec
    declared = ", ".join(f"const {_ctype(t, 'T')}* {n}" if n in raw else f"const {_ctype(t, 'T')} {n}"
                         for t, n in inputs)        # CuPy's inputs, raw ones included, are const
    out_declared = ", ".join(f"{_ctype(t, 'T')}* {n}" if n in raw else f"{_ctype(t, 'T')}& {n}"
                             for t, n in outputs)
    parts = [f"template <typename T> __device__ void {name}(const ptrdiff_t i, {declared}"
             f"{', ' if inputs and outputs else ''}{out_declared}) {{ {body}; }}"]
    for real in ("float", "double"):
        lines, names = _call(name, inputs + outputs, real)
        names = [f"&{v}" if n in raw else v for v, (t, n) in zip(names, inputs + outputs)]
        parts.append(f"__global__ void check_{name}_{real}(double* buf) {{\n" + "\n".join(lines) +
                     f"\n    {name}<{real}>(0, {', '.join(names)});\n" +
                     "".join(f"    buf[{len(inputs) + i}] = (double)v{len(inputs) + i};\n" for i in range(len(outputs)))
                     + "}")
    return "\n".join(parts)


def reduction(spec):
    inputs, outputs, map_expr, reduce_expr, post, reduce_type, identity, preamble, name = spec
    rt = C_OF.get(reduce_type, reduce_type) if reduce_type else None
    parts = []
    for real in ("float", "double"):
        r = rt or _ctype(outputs[0][0], real)
        sub = {"T": real}
        decl_in = ", ".join(f"const {sub.get(t, C_OF.get(t, t))} {n}" for t, n in inputs)
        decl_out = ", ".join(f"{sub.get(t, C_OF.get(t, t))}& {n}" for t, n in outputs)
        scalars = [(t, n) for t, n in inputs if t in C_OF]       # CuPy's post-map sees no array input
        decl_post = ", ".join([f"const {C_OF[t]} {n}" for t, n in scalars] + [decl_out])
        parts.append(f"namespace {name}_{real} {{ typedef {real} T; typedef {r} _type_reduce;\n"
                     f"__device__ _type_reduce map({decl_in}) {{ return static_cast<_type_reduce>({map_expr}); }}\n"
                     f"__device__ _type_reduce start() {{ return _type_reduce({identity}); }}\n"
                     f"__device__ _type_reduce reduce(_type_reduce a, _type_reduce b) {{ return ({reduce_expr}); }}\n"
                     f"__device__ void post(_type_reduce a, {decl_post}) {{ ({post}); }} }}")
        lines, names = _call(name, inputs + outputs, real)
        n_in = len(inputs)
        post_args = [v for v, p in zip(names, inputs) if p in scalars] + names[n_in:]
        parts.append(f"__global__ void check_{name}_{real}(double* buf) {{\n" + "\n".join(lines) +
                     f"\n    {name}_{real}::_type_reduce a = {name}_{real}::map({', '.join(names[:n_in])});\n"
                     f"    a = {name}_{real}::reduce({name}_{real}::start(), a);\n"
                     f"    {name}_{real}::post(a, {', '.join(post_args)});\n"
                     + "".join(f"    buf[{n_in + i}] = (double)v{n_in + i};\n" for i in range(len(outputs))) + "}")
    return "\n".join(parts)


def source(built):
    """One translation unit for every (kind, spec) in ``built``, each kernel name once."""
    seen, parts = set(), []
    for preamble in dict.fromkeys(spec[-2] for kind, spec in built if kind == "reduction"):
        parts.append(preamble)                                  # each once: kernels may share one
    for kind, spec in built:
        name = spec[3] if kind == "elementwise" else spec[-1]
        if name not in seen:
            seen.add(name)
            parts.append(elementwise(spec) if kind == "elementwise" else reduction(spec))
    return "\n\n".join(parts) + "\n"
