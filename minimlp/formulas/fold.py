"""Unfold and Fold: an image's sliding blocks as columns, and the columns summed back into an image (each the
other's adjoint), with ``im2col``'s copies on the channel-major layout."""
from ..backend import get_array_module
from .im2col import col2im, im2col, output_size


def _blocks(hw, kernel, dilation, padding, stride):
    return tuple(output_size(hw[a], kernel[a], stride[a], padding[a], padding[a], dilation[a]) for a in (0, 1))


def unfold(x, kernel, dilation, padding, stride):
    """cols[n, (c·kh + i)·kw + j, h·Wo + w] = x̃[n, c, h·sh + i·dh, w·sw + j·dw], x̃ zero-padded:
    (N, C, H, W) → (N, C·kh·kw, Ho·Wo)."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    (ph, pw), (kh, kw) = padding, kernel
    ho, wo = _blocks((h, w), kernel, dilation, padding, stride)
    src = xp.zeros((c, n, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    src[:, :, ph:ph + h, pw:pw + w] = x.transpose(1, 0, 2, 3)
    cols = im2col(src, xp.empty((c, kh, kw, n, ho, wo), dtype=x.dtype), stride, dilation)
    return cols.transpose(3, 0, 1, 2, 4, 5).reshape(n, c * kh * kw, ho * wo)


def fold(cols, out_hw, kernel, dilation, padding, stride):
    """The adjoint of ``unfold``: y[n, c, h·sh + i·dh − ph, w·sw + j·dw − pw] += cols[n, (c·kh + i)·kw + j, h·Wo + w]
    (overlapping blocks add up; what falls in the padding is dropped): (N, C·kh·kw, Ho·Wo) → (N, C, H, W)."""
    xp = get_array_module(cols)
    (kh, kw), (ph, pw), (h, w) = kernel, padding, out_hw
    ho, wo = _blocks(out_hw, kernel, dilation, padding, stride)
    n, c = cols.shape[0], cols.shape[1] // (kh * kw)
    blocks = cols.reshape(n, c, kh, kw, ho, wo).transpose(1, 2, 3, 0, 4, 5)
    dst = col2im(blocks, xp.empty((c, n, h + 2 * ph, w + 2 * pw), dtype=cols.dtype), stride, dilation)
    return xp.ascontiguousarray(dst[:, :, ph:ph + h, pw:pw + w].transpose(1, 0, 2, 3))
