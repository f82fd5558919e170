"""SGD's update, as ``torch.optim.SGD``: momentum, dampening, Nesterov momentum and L2 weight decay."""


def update(p, g, momentum_buffer, *, lr, momentum, dampening, weight_decay, nesterov, maximize, step):
    """One step of p in place (and of the momentum buffer b, None without momentum):

    g ← −g (``maximize``: ascend);  g ← g + λ p (weight decay λ);  b ← g at step 1, μ b + (1 − τ) g after (momentum μ, dampening τ);
    g ← g + μ b (Nesterov) or b;  p ← p − γ g (learning rate γ).
    """
    if maximize:
        g = -g
    if weight_decay != 0:
        g = g + weight_decay * p
    if momentum_buffer is not None:
        b = momentum_buffer
        if step == 1:
            b[...] = g
        else:
            b[...] = b * momentum + (1 - dampening) * g
        g = g + momentum * b if nesterov else b
    p -= lr * g
