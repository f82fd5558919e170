"""im2col / col2im and padding on channel-major buffers (C, N, H, W): a whole batch's convolution as ONE matrix
product over columns (C, kh, kw, N, Ho, Wo), by kh·kw strided copies (docs/layers.md).
"""


def output_size(size, kernel, stride, pad_before, pad_after, dilation):
    """⌊(size + pads − d·(k − 1) − 1) / s⌋ + 1: the number of windows along one axis."""
    return (size + pad_before + pad_after - dilation * (kernel - 1) - 1) // stride + 1


def window(offset, dilation, stride, count):
    """The slice of a padded axis read by kernel offset ``offset`` for ``count`` outputs."""
    start = offset * dilation
    return slice(start, start + stride * (count - 1) + 1, stride)


def im2col(src, cols, stride, dilation):
    """cols[c, i, j, n, h, w] = src[c, n, h·sh + i·dh, w·sw + j·dw], written into ``cols`` (kh·kw slice copies).

    src: (C, N, Hp, Wp), any strides (a transposed view is fine); cols:
    (C, kh, kw, N, Ho, Wo), preallocated.
    """
    kh, kw, ho, wo = cols.shape[1], cols.shape[2], cols.shape[4], cols.shape[5]
    (sh, sw), (dh, dw) = stride, dilation
    for i in range(kh):
        rows = window(i, dh, sh, ho)
        for j in range(kw):
            cols[:, i, j] = src[:, :, rows, window(j, dw, sw, wo)]
    return cols


def col2im(cols, dst, stride, dilation):
    """The adjoint of ``im2col``: dst[c, n, h·sh + i·dh, w·sw + j·dw] += cols[c, i, j, n, h, w].

    dst: (C, N, Hp, Wp), zeroed here first; windows that overlap add up.
    """
    kh, kw, ho, wo = cols.shape[1], cols.shape[2], cols.shape[4], cols.shape[5]
    (sh, sw), (dh, dw) = stride, dilation
    dst.fill(0)
    for i in range(kh):
        rows = window(i, dh, sh, ho)
        for j in range(kw):
            dst[:, :, rows, window(j, dw, sw, wo)] += cols[:, i, j]
    return dst


def pad_into(x_cm, buffer, pads, mode):
    """Write the channel-major batch ``x_cm`` (C, N, H, W) into ``buffer`` (C, N, H + pt + pb, W + pl + pr).

    mode "zeros": the border of ``buffer`` is left as it is (the caller
    allocates it zeroed, and only the interior is ever written). mode
    "reflect": the border mirrors the interior without repeating the edge, as
    ``torch.nn.functional.pad(mode="reflect")``; "replicate" repeats the edge
    row or column; "circular" wraps around (the left border is the last pl
    columns). Columns first, then whole rows, so corners are padded twice.
    """
    pt, pb, pl, pr = pads
    h, w = x_cm.shape[2], x_cm.shape[3]
    buffer[:, :, pt:pt + h, pl:pl + w] = x_cm
    rows = slice(pt, pt + h)
    if mode == "replicate":
        buffer[:, :, rows, :pl] = buffer[:, :, rows, pl:pl + 1]
        buffer[:, :, rows, pl + w:] = buffer[:, :, rows, pl + w - 1:pl + w]
        buffer[:, :, :pt, :] = buffer[:, :, pt:pt + 1, :]
        buffer[:, :, pt + h:, :] = buffer[:, :, pt + h - 1:pt + h, :]
    if mode == "circular":
        buffer[:, :, rows, :pl] = buffer[:, :, rows, w:w + pl]
        buffer[:, :, rows, pl + w:] = buffer[:, :, rows, pl:pl + pr]
        buffer[:, :, :pt, :] = buffer[:, :, h:h + pt, :]
        buffer[:, :, pt + h:, :] = buffer[:, :, pt:pt + pb, :]
    if mode == "reflect":
        for k in range(1, pl + 1):
            buffer[:, :, rows, pl - k] = buffer[:, :, rows, pl + k]
        for k in range(1, pr + 1):
            buffer[:, :, rows, pl + w - 1 + k] = buffer[:, :, rows, pl + w - 1 - k]
        for k in range(1, pt + 1):
            buffer[:, :, pt - k, :] = buffer[:, :, pt + k, :]
        for k in range(1, pb + 1):
            buffer[:, :, pt + h - 1 + k, :] = buffer[:, :, pt + h - 1 - k, :]
    return buffer


def unpad_gradient(dpad, pads, mode):
    """The adjoint of ``pad_into``: the gradient of the interior, (C, N, H, W), a view of ``dpad`` (changed in place).

    For "zeros" the border's gradient is dropped; otherwise each border row
    and column is added back onto the interior one it copies (rows first,
    then columns: the reverse order of ``pad_into``).
    """
    pt, pb, pl, pr = pads
    h, w = dpad.shape[2] - pt - pb, dpad.shape[3] - pl - pr
    rows = slice(pt, pt + h)
    if mode == "replicate":
        dpad[:, :, pt, :] += dpad[:, :, :pt, :].sum(axis=2)
        dpad[:, :, pt + h - 1, :] += dpad[:, :, pt + h:, :].sum(axis=2)
        dpad[:, :, rows, pl] += dpad[:, :, rows, :pl].sum(axis=3)
        dpad[:, :, rows, pl + w - 1] += dpad[:, :, rows, pl + w:].sum(axis=3)
    if mode == "circular":
        dpad[:, :, h:h + pt, :] += dpad[:, :, :pt, :]
        dpad[:, :, pt:pt + pb, :] += dpad[:, :, pt + h:, :]
        dpad[:, :, rows, w:w + pl] += dpad[:, :, rows, :pl]
        dpad[:, :, rows, pl:pl + pr] += dpad[:, :, rows, pl + w:]
    if mode == "reflect":
        for k in range(1, pt + 1):
            dpad[:, :, pt + k, :] += dpad[:, :, pt - k, :]
        for k in range(1, pb + 1):
            dpad[:, :, pt + h - 1 - k, :] += dpad[:, :, pt + h - 1 + k, :]
        for k in range(1, pl + 1):
            dpad[:, :, rows, pl + k] += dpad[:, :, rows, pl - k]
        for k in range(1, pr + 1):
            dpad[:, :, rows, pl + w - 1 - k] += dpad[:, :, rows, pl + w - 1 + k]
    return dpad[:, :, pt:pt + h, pl:pl + w]
