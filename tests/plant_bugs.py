"""Plant one wrong line in each kernel family, run the tests that guard it, and put the line back.

    python tests/plant_bugs.py                     # every family (about 5 minutes on 2 cores)
    python tests/plant_bugs.py "Adam update"       # one

Each line of output says whether the tests caught the planted bug; every one must be CAUGHT. The files are
restored even when the run is interrupted; run it on a clean checkout (it edits minimlp/kernels/ in place).
"""
import os
import subprocess
import sys

os.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLANTS = [
 ("split products (blas/gemm)", "minimlp/kernels/cpu/gemm.py", "            for r in range(lo, hi):\n                out[r] += bias", "            for r in range(lo, hi - 1):\n                out[r] += bias", "tests/test_kernels.py", "by_rows"),
 ("column sums (Linear's bias gradient)", "minimlp/kernels/cpu/elementwise.py", "    for r in range(g.shape[0]):\n        row = g[r, lo:hi]", "    for r in range(1, g.shape[0]):\n        row = g[r, lo:hi]", "tests/test_kernels.py", "linear"),
 ("split products by weight rows (x Wᵀ as W xᵀ)", "minimlp/kernels/cpu/gemm.py", "        r2 = min(r + rows, hi)\n", "        r2 = min(r + rows, hi - 1)\n", "tests/test_kernels.py", "linear"),
 ("Linear + Adam inside backward", "minimlp/kernels/cpu/linear_adam.py", "r, r2 = c * chunk_rows, min((c + 1) * chunk_rows, w.shape[0])", "r, r2 = c * chunk_rows, min((c + 1) * chunk_rows, w.shape[0] - 1)", "tests/test_kernels.py tests/test_step_in_backward.py", "adam_inside or linear"),
 ("BatchNorm1d backward", "minimlp/kernels/cpu/batch_norm.py", "d_row[c] = (g_row[c] - (h_row[c] * a[c] + b[c])) * scale[c]", "d_row[c] = (g_row[c] - (h_row[c] * a[c])) * scale[c]", "tests/test_kernels.py", "batch_norm"),
 ("BatchNorm2d forward", "minimlp/kernels/cpu/batch_norm.py", "k_c = 1 / np.sqrt(s2 + eps)", "k_c = 1 / np.sqrt(s2)", "tests/test_kernels.py", "batch_norm"),
 ("BatchNorm2d backward sums", "minimlp/kernels/cpu/batch_norm.py", "            acc_gx += row_gx", "            acc_gx += row_g", "tests/test_kernels.py", "batch_norm"),
 ("activation backward (tanh)", "minimlp/kernels/cpu/elementwise.py", "dx[i] = (one - y[i] * y[i]) * g[i]", "dx[i] = (one - y[i]) * g[i]", "tests/test_kernels.py", "tanh"),
 ("MSE sum", "minimlp/kernels/cpu/loss.py", "    partial[c] = acc.sum()", "    partial[c] = acc[1:].sum()", "tests/test_kernels.py", "squared_error"),
 ("Adam update", "minimlp/kernels/cpu/optimizers.py", "        mi = m[i] + (d - m[i]) * one_minus_beta1", "        mi = m[i] + (d - m[i]) * one_minus_beta2", "tests/test_kernels.py", "adam"),
 ("SGD Nesterov", "minimlp/kernels/cpu/optimizers.py", "            d = b * momentum + d if nesterov else b", "            d = b * momentum if nesterov else b", "tests/test_kernels.py", "sgd"),
 ("SGD maximize", "minimlp/kernels/cpu/optimizers.py", "        d = g[i] * sign ", "        d = g[i] * 1 ", "tests/test_kernels.py", "sgd"),
 ("RMSprop centered", "minimlp/kernels/cpu/optimizers.py", "            denom = np.sqrt(s - ga * ga) + eps      # sqrt(v - ga^2) + eps", "            denom = np.sqrt(s) + eps", "tests/test_kernels.py", "rmsprop"),
 ("conv gather", "minimlp/kernels/cpu/conv_loops.py", "    hi = 0 if q0 >= size else min(count, (size - 1 - q0) // stride + 1)", "    hi = 0 if q0 >= size else min(count, (size - 1 - q0) // stride)", "tests/test_kernels.py", "conv"),
 ("conv bias gradient (images summed)", "minimlp/kernels/cpu/conv_loops.py", "        sums[o] += row_sums.total(a[o])", "        sums[o] = row_sums.total(a[o])", "tests/test_kernels.py", "conv"),
 ("conv transpose bias", "minimlp/kernels/cpu/conv_loops.py", "                row[k] += bias[c]", "                row[k] += bias[0]", "tests/test_kernels.py", "conv_transpose"),
 ("soft encoding ties", "minimlp/kernels/cpu/soft_encoding.py", "while j > 0 and best_d[j - 1] > d:", "while j > 0 and best_d[j - 1] >= d:", "tests/test_kernels.py", "ties or soft"),
 ("GPU Linear backward (maths on NumPy)", "minimlp/kernels/gpu/linear.py", "    if add:\n        out += g.T @ x", "    if False:\n        out += g.T @ x", "tests/test_kernels.py", "accumulate"),
 ("Winograd input transform", "minimlp/kernels/cpu/winograd_loops.py", "v[12, c, t], v[13, c, t], v[14, c, t], v[15, c, t] = e10 - e30,", "v[12, c, t], v[13, c, t], v[14, c, t], v[15, c, t] = e10 + e30,", "tests/test_kernels.py", "winograd"),
 ("Winograd output transform (odd width)", "minimlp/kernels/cpu/winograd_loops.py", "                    plane[2 * ty + i, :] = rows[i, :Wo]", "                    plane[2 * ty + i, :Wo - 1] = rows[i, :Wo - 1]", "tests/test_kernels.py tests/test_winograd.py", "winograd"),
 ("Winograd gradient transform", "minimlp/kernels/cpu/winograd_loops.py", "u0 - w0, u1 - w1, u2 - w2, u3 - w3", "u0 - w0, u1 - w1, u2 - w2, u3 + w3", "tests/test_kernels.py", "winograd"),
 ("Winograd scatter (tile overlap)", "minimlp/kernels/cpu/winograd_loops.py", "rows[2 * u + 1] = left[i, 1, u] + right[i, 1, u]", "rows[2 * u + 1] = left[i, 1, u]", "tests/test_kernels.py", "winograd"),
 ("Winograd weight transform", "minimlp/kernels/cpu/winograd_loops.py", "e20 - e21 + e22) * half, e22)", "e20 - e21 - e22) * half, e22)", "tests/test_kernels.py", "winograd"),
 ("Winograd weight gradient", "minimlp/kernels/cpu/winograd_loops.py", "k[1, 0], k[1, 1], k[1, 2] = f10 + (f11 + f12) * half, (f11 - f12) * half", "k[1, 0], k[1, 1], k[1, 2] = f10 + (f11 + f12) * half, (f11 + f12) * half", "tests/test_kernels.py", "winograd"),
 ("ReLU backward at zero", "minimlp/kernels/cpu/elementwise.py", "dx[i] = g[i] if y[i] > zero else zero", "dx[i] = g[i] if y[i] >= zero else zero", "tests/test_kernels.py", "relu"),
 ("MaxPool2d ties", "minimlp/kernels/cpu/max_pool.py", "                        at_r, at_c = r, c\n                        break", "                        at_r, at_c = r, c", "tests/test_kernels.py", "max_pool"),
 ("MaxPool2d overlapping windows", "minimlp/kernels/cpu/max_pool.py", "dx[at_r - ph, at_c - pw] += g[i, j]", "dx[at_r - ph, at_c - pw] = g[i, j]", "tests/test_kernels.py", "max_pool"),
 ("LayerNorm backward (mean of Ĝ)", "minimlp/kernels/cpu/layer_norm.py", "d_row[c] = (g_hat[c] - mean_g - h_row[c] * mean_gx) * k", "d_row[c] = (g_hat[c] - h_row[c] * mean_gx) * k", "tests/test_kernels.py", "layer_norm"),
 ("LayerNorm γ, β sums (a block's last row)", "minimlp/kernels/cpu/layer_norm.py", "range(b * BLOCK, min(n, (b + 1) * BLOCK))", "range(b * BLOCK, min(n, (b + 1) * BLOCK - 1))", "tests/test_kernels.py", "layer_norm"),
 ("LayerNorm forward variance", "minimlp/kernels/cpu/layer_norm.py", "row_sums.squared_deviation(row, mu) / d)", "row_sums.squared_deviation(row, mu) / (d - 1))", "tests/test_kernels.py", "layer_norm"),
 ("GELU exact forward", "minimlp/kernels/cpu/gelu.py", "y[i] = 0.5 * v * (1.0 + math.erf(v * SQRT_HALF))", "y[i] = 0.5 * v * (1.0 + math.erf(v))", "tests/test_kernels.py", "gelu"),
 ("GELU exact backward (x·φ(x))", "minimlp/kernels/cpu/gelu.py", "+ v * PDF_SCALE * math.exp(", "+ PDF_SCALE * math.exp(", "tests/test_kernels.py", "gelu"),
 ("Softmax backward", "minimlp/kernels/cpu/softmax.py", "d_row[c] = y_row[c] * (g_row[c] - total)", "d_row[c] = y_row[c] * g_row[c] - total", "tests/test_kernels.py", "softmax"),
 ("Softmax kernel on another axis", "minimlp/kernels/ops.py", "return dim == g.ndim - 1 and flat_pair(g, y)", "return flat_pair(g, y)", "tests/test_kernels.py", "softmax"),
 ("GroupNorm forward (per-channel γ)", "minimlp/kernels/cpu/group_norm.py", "ga, be = gamma[grp * per + c], beta[grp * per + c]", "ga, be = gamma[grp * per], beta[grp * per + c]", "tests/test_kernels.py", "group_norm"),
 ("GroupNorm backward (Σ Ĝ x̂)", "minimlp/kernels/cpu/group_norm.py", "acc_gx += gamma[ch] * sgx", "acc_gx += sgx", "tests/test_kernels.py", "group_norm"),
 ("GroupNorm backward after InstanceNorm (a strided gradient)", "minimlp/kernels/cpu/group_norm.py", "dx = np.empty(g.shape, dtype=g.dtype) if want_dx", "dx = np.empty_like(g) if want_dx", "tests/test_kernels.py", "group_norm"),
 ("selector condition", "minimlp/kernels/ops.py", "def training(*args, training=True, **context):\n    return training", "def training(*args, training=True, **context):\n    return not training", "tests/test_kernels.py", "selector"),
 ("GlobalFusion backward (copies averaged, not summed)", "minimlp/nn/skip.py", "return g_x, g_g.sum(axis=(2, 3), keepdims=True)", "return g_x, g_g.mean(axis=(2, 3), keepdims=True)", "tests/test_conv_vs_torch.py tests/test_conv_gradcheck_and_errors.py", "GlobalFusion or options or mixed"),
 ('Winograd weight transform, by blocks', 'minimlp/kernels/cpu/winograd_loops.py', 'u[xi, o, c0:c0 + n] = block[xi, :n]', 'u[xi, o, c0:c0 + n - 1] = block[xi, :n - 1]', 'tests/test_kernels.py', 'winograd'),
 ('Winograd weight gradient, by blocks', 'minimlp/kernels/cpu/winograd_loops.py', 'block[xi, :n] = du[xi, o, c0:c0 + n]', 'block[xi, :n - 1] = du[xi, o, c0:c0 + n - 1]', 'tests/test_kernels.py', 'winograd'),
 ('Winograd weight transform over threads', 'minimlp/kernels/cpu/winograd_loops.py', 'weight_transform(w, u, w.shape[0] * p // pieces, w.shape[0] * (p + 1) // pieces)', 'weight_transform(w, u, w.shape[0] * p // pieces, w.shape[0] * (p + 1) // pieces - 1)', 'tests/test_kernels.py', 'winograd'),
 ('BatchNorm2d + ReLU forward', 'minimlp/kernels/cpu/batch_norm.py', 'y_row[k] = zero if p <= zero else p', 'y_row[k] = p', 'tests/test_kernels.py', 'batch_norm_relu'),
 ('BatchNorm2d + ReLU backward mask', 'minimlp/kernels/cpu/batch_norm.py', '                        p = h_row[k] * ga + be\n', '                        p = h_row[k] * ga\n', 'tests/test_kernels.py', 'batch_norm_relu'),
 ('BatchNorm2d + ReLU backward sums', 'minimlp/kernels/cpu/batch_norm.py', 'acc_gh += gm * h[k]', 'acc_gh += g[k] * h[k]', 'tests/test_kernels.py', 'batch_norm_relu'),
 ('BatchNorm1d + ReLU forward', 'minimlp/kernels/cpu/batch_norm.py', 'y_row[c] = zero if p <= zero else p', 'y_row[c] = p', 'tests/test_kernels.py', 'batch_norm_relu'),
 ('BatchNorm1d + ReLU backward', 'minimlp/kernels/cpu/batch_norm.py', 'gm = zero if p <= zero else g_row[c]           #', 'gm = g_row[c]           #', 'tests/test_kernels.py', 'batch_norm_relu'),
 ("Sequential's fused backward", 'minimlp/nn/container.py', 'dout = fusion.backward(modules[first], modules[i], dout, want_dx)', 'dout = modules[i].backward(dout)', 'tests/test_fusion.py', ''),
]
only = sys.argv[1:]
for name, f, old, new, tests, k in PLANTS:
    if only and name not in only: continue
    src = open(f).read()
    assert src.count(old) >= 1, (name, old)
    open(f, "w").write(src.replace(old, new, 1))
    try:
        cmd = f"{sys.executable} -m pytest -q -x -p no:cacheprovider {tests}" + (f" -k '{k}'" if k else "")
        r = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=1800)
        last = [l for l in r.stdout.splitlines() if "passed" in l or "failed" in l][-1:]
        failing = [l for l in r.stdout.splitlines() if l.startswith("FAILED")][:1]
        print(f"{name}: {'CAUGHT' if r.returncode else 'NOT CAUGHT'} {last} {failing}", flush=True)
    finally:
        open(f, "w").write(src)
