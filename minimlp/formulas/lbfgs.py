"""L-BFGS's maths, as ``torch.optim.LBFGS``: the two-loop recursion, the history of steps, cubic interpolation
and the strong-Wolfe line search, on flat vectors (NumPy or CuPy).

The numbers they keep (:math:`\\rho_i`, :math:`H_0`, :math:`\\alpha_i`, dot products, step lengths) stay NumPy
scalars (CuPy 0-d arrays) of the vectors' dtype, as torch keeps them as 0-d tensors, so that float32 stays
float32; the loss values are Python floats, as torch's.
"""


def remember(old_dirs, old_stps, ro, y, s, history_size):
    r"""Add the pair (:math:`s = x_{k+1} - x_k`, :math:`y = g_{k+1} - g_k`) to the history, in place, if the
    curvature :math:`y^\top s > 10^{-10}` (the pair keeps the inverse-Hessian estimate positive definite);
    the oldest pair leaves when ``history_size`` are held. ``old_dirs`` holds the y, ``old_stps`` the s,
    ``ro`` the :math:`\rho = 1 / y^\top s`.

    Returns the new scale of the initial inverse Hessian :math:`H_0 = y^\top s / y^\top y`, or None when the
    pair was not kept (the scale stays as it was).
    """
    ys = y.dot(s)
    if not ys > 1e-10:
        return None
    if len(old_dirs) == history_size:
        old_dirs.pop(0)
        old_stps.pop(0)
        ro.pop(0)
    old_dirs.append(y)
    old_stps.append(s)
    ro.append(1.0 / ys)
    return ys / y.dot(y)


def direction(g, old_dirs, old_stps, ro, H_diag, al):
    r"""The L-BFGS direction :math:`d = -H g` by the two-loop recursion over the m pairs held (oldest first),
    with :math:`H_0 = ` ``H_diag`` times the identity:

    .. math::
        q &\leftarrow -g \\
        \alpha_i &\leftarrow \rho_i \, s_i^\top q, \quad q \leftarrow q - \alpha_i y_i
            && i = m-1, \dots, 0 \\
        r &\leftarrow H_0 \, q \\
        \beta_i &\leftarrow \rho_i \, y_i^\top r, \quad r \leftarrow r + (\alpha_i - \beta_i) s_i
            && i = 0, \dots, m-1

    and :math:`d = r`. The :math:`\alpha_i` are written into ``al`` (a list of ``history_size`` entries),
    which torch keeps in the optimizer's state.
    """
    q = -g
    for i in range(len(old_dirs) - 1, -1, -1):
        al[i] = old_stps[i].dot(q) * ro[i]
        q -= al[i] * old_dirs[i]
    r = q * H_diag
    for i in range(len(old_dirs)):
        be_i = old_dirs[i].dot(r) * ro[i]
        r += (al[i] - be_i) * old_stps[i]
    return r


def cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    r"""The minimiser of the cubic through :math:`(x_1, f_1)`, :math:`(x_2, f_2)` with slopes :math:`g_1, g_2`,
    clipped to ``bounds`` (default: between :math:`x_1` and :math:`x_2`); with :math:`x_2` the farther point
    (formulas written for :math:`x_1 \le x_2`, mirrored otherwise):

    .. math::
        d_1 &= g_1 + g_2 - 3 \frac{f_1 - f_2}{x_1 - x_2}, \qquad d_2 = \sqrt{d_1^2 - g_1 g_2} \\
        x^* &= x_2 - (x_2 - x_1) \frac{g_2 + d_2 - d_1}{g_2 - g_1 + 2 d_2}

    and the middle of the bounds when :math:`d_1^2 - g_1 g_2 < 0` (the cubic has no minimum).
    """
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if not d2_square >= 0:
        return (xmin_bound + xmax_bound) / 2.0
    d2 = d2_square ** 0.5
    if x1 <= x2:
        min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(min_pos, xmin_bound), xmax_bound)


def strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    r"""A step length t along d satisfying the strong Wolfe conditions (torch's ``_strong_wolfe``, itself from
    ``lswolfe.lua``):

    .. math::
        f(x + t d) \le f(x) + c_1 t \, g^\top d \quad \text{(sufficient decrease)}, \qquad
        |\nabla f(x + t d)^\top d| \le -c_2 \, g^\top d \quad \text{(curvature)}

    ``evaluate(t)`` gives (loss, flat gradient) at :math:`x + t d` and leaves x as it was; f, g and
    ``gtd`` :math:`= g^\top d` are at x. First the step grows (cubic interpolation, extrapolating up to
    10 t) until an interval [t_prev, t] brackets a point satisfying the conditions; then the bracket shrinks
    (*zoom*) by cubic interpolation, a trial too close to an end moved to 0.1 of the bracket's length from
    it, until the conditions hold, the bracket is shorter than ``tolerance_change`` (in the max-norm of
    :math:`t d`) or ``max_ls`` evaluations are spent.

    Returns (loss, gradient, t, evaluations) at the best point of the bracket.
    """
    d_norm = abs(d).max()
    g = g.copy()
    f_new, g_new = evaluate(t)
    ls_func_evals = 1
    gtd_new = g_new.dot(d)

    # bracketing: grow t until [t_prev, t] holds a point satisfying the conditions
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f, bracket_g = [t_prev, t], [f_prev, f_new], [g_prev, g_new.copy()]
            bracket_gtd = [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f, bracket_g = [t_prev, t], [f_prev, f_new], [g_prev, g_new.copy()]
            bracket_gtd = [gtd_prev, gtd_new]
            break
        # extrapolate: a cubic step between 1.01 t (from t_prev) and 10 t
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        previous = t
        t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = previous, f_new, g_new.copy(), gtd_new
        f_new, g_new = evaluate(t)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
    if ls_iter == max_ls:   # out of evaluations while still growing: the bracket is [0, t]
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # zoom: shrink the bracket around the point satisfying the conditions
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
        # a trial within 10% of an end: taken once; twice running (or outside), moved to 10% from that end
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                t = max(bracket) - eps if abs(t - max(bracket)) < abs(t - min(bracket)) else min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new = evaluate(t)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            # no sufficient decrease, or not below the low end: the trial becomes the high end
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new.copy(), gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                # the minimum lies between the trial and the low end: the old low end becomes the high end
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos], bracket_gtd[high_pos] = bracket_g[low_pos], bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new.copy(), gtd_new
    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals
