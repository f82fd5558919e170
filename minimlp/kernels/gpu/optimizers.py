"""The optimizers' updates on the GPU: one CuPy ElementwiseKernel per optimizer, taking the formulas' arguments."""
from functools import lru_cache

from ...backend import cupy_module


@lru_cache(maxsize=None)
def _kernel(name, *flags):
    """Build (once) the kernel ``name`` for the state arrays the flags say exist."""
    cp = cupy_module()
    if name == "sgd":
        (has_buf,) = flags
        return cp.ElementwiseKernel(
            "T g, T lr, T momentum, T dampening, T wd, bool nesterov, bool first, bool maximize",
            "T p" + (", T buf" if has_buf else ""),
            """
            T d = maximize ? -g : g;
            if (wd != 0) d = d + wd * p;
            """ + ("""
            buf = first ? d : momentum * buf + (1 - dampening) * d;
            d = nesterov ? d + momentum * buf : buf;
            """ if has_buf else "") + """
            p = p - lr * d;
            """, f"minimlp_sgd_{int(has_buf)}")
    if name == "rmsprop":
        centered, has_buf = flags
        return cp.ElementwiseKernel(
            "T g, T lr, T alpha, T eps, T wd, T momentum, bool maximize",
            "T p, T sq" + (", T gavg" if centered else "") + (", T buf" if has_buf else ""),
            """
            T d = maximize ? -g : g;
            if (wd != 0) d = d + wd * p;
            sq = alpha * sq + (1 - alpha) * d * d;
            """ + ("""
            gavg = gavg + (1 - alpha) * (d - gavg);
            T avg = sqrt(sq - gavg * gavg) + eps;
            """ if centered else "T avg = sqrt(sq) + eps;") + ("""
            buf = momentum * buf + d / avg;
            p = p - lr * buf;
            """ if has_buf else "p = p - lr * (d / avg);"),
            f"minimlp_rmsprop_{int(centered)}{int(has_buf)}")
    if name == "adam":
        (amsgrad,) = flags
        return cp.ElementwiseKernel(
            "T g, T beta1, T beta2, T eps, T wd, T decay, T step_size, T bc2_sqrt, bool maximize",
            "T p, T m, T v" + (", T vmax" if amsgrad else ""),
            """
            T d = maximize ? -g : g;
            p = p * decay;
            if (wd != 0) d = d + wd * p;
            m = m + (1 - beta1) * (d - m);
            v = beta2 * v + (1 - beta2) * d * d;
            """ + ("vmax = max(vmax, v); T s = vmax;" if amsgrad else "T s = v;") + """
            p = p - step_size * (m / (sqrt(s) / bc2_sqrt + eps));
            """, f"minimlp_adam_{int(amsgrad)}")
    raise KeyError(name)


def sgd(p, g, momentum_buffer, *, lr, momentum, dampening, weight_decay, nesterov, maximize, step):
    t = p.dtype.type
    outs = [p] if momentum_buffer is None else [p, momentum_buffer]
    _kernel("sgd", momentum_buffer is not None)(g, t(lr), t(momentum), t(dampening), t(weight_decay),
                                                bool(nesterov), step == 1, bool(maximize), *outs)


def rmsprop(p, g, square_avg, grad_avg, momentum_buffer, *, lr, alpha, eps, weight_decay, momentum, maximize):
    t = p.dtype.type
    outs = [p, square_avg] + [a for a in (grad_avg, momentum_buffer) if a is not None]
    _kernel("rmsprop", grad_avg is not None, momentum_buffer is not None)(
        g, t(lr), t(alpha), t(eps), t(weight_decay), t(momentum), bool(maximize), *outs)


def adam(p, g, exp_avg, exp_avg_sq, max_exp_avg_sq, *, lr, beta1, beta2, eps, weight_decay, decoupled, maximize,
         step):
    t = p.dtype.type
    outs = [p, exp_avg, exp_avg_sq] + ([] if max_exp_avg_sq is None else [max_exp_avg_sq])
    lr, beta1, beta2, weight_decay = float(lr), float(beta1), float(beta2), float(weight_decay)
    _kernel("adam", max_exp_avg_sq is not None)(
        g, t(beta1), t(beta2), t(eps), t(0.0 if decoupled else weight_decay),
        t(1 - lr * weight_decay if decoupled else 1.0), t(lr / (1 - beta1 ** step)),
        t((1 - beta2 ** step) ** 0.5), bool(maximize), *outs)
