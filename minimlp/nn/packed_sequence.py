"""Packed sequences (torch.nn.utils.rnn): a batch of sequences of different lengths stored without padding, and
the gathers between that storage and a padded array.

A batch of B sequences of lengths L_0 ≥ L_1 ≥ … (sorted, longest first) is stored time step by time step:
step t holds the b_t = #{n : L_n > t} sequences still running, so ``data`` is (Σ L_n, *) and ``batch_sizes``
is (b_0, b_1, …, b_{T−1}) with T = L_0. Row r of ``data`` is step t, sequence n, for r = b_0 + … + b_{t−1} + n.
An unsorted batch is sorted first (``sorted_indices``, stable: equal lengths keep their order) and
``unsorted_indices`` puts results back in the caller's order.

Packing and padding are gathers, each the other's adjoint, so each is the other's backward:

    ∂L/∂padded = pad_packed_sequence(PackedSequence(∂L/∂data, …))[0]      (zeros where padding was)
    ∂L/∂data   = pack_padded_sequence(∂L/∂padded, lengths).data          (the same lengths and enforce_sorted)
"""
import collections

import numpy as np

from ..backend import get_array_module, to_numpy
from .checks import check_array


class PackedSequence(collections.namedtuple("PackedSequence",
                                            ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """The steps of B sequences stored one after another without padding (torch.nn.utils.rnn.PackedSequence):
    ``data`` (Σ_n L_n, *), ``batch_sizes`` (T,) NumPy int64 with b_t = #{n : L_n > t}, ``sorted_indices`` (the
    batch position of each sorted sequence) and ``unsorted_indices`` (its inverse), None for a batch given
    sorted. Build one with ``pack_padded_sequence`` or ``pack_sequence``; RNN, LSTM and GRU take it as input and
    return their output as one, with the same ``batch_sizes`` and indices.
    """

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if batch_sizes is None:   # torch's older form PackedSequence((data, batch_sizes))
            data, batch_sizes = data
        check_array(cls, data, "data")
        batch_sizes = _host_int64(batch_sizes, "batch_sizes")
        if batch_sizes.ndim != 1 or batch_sizes.size == 0 or batch_sizes.min() <= 0 or \
                np.any(np.diff(batch_sizes) > 0) or int(batch_sizes.sum()) != data.shape[0]:
            raise ValueError(f"PackedSequence: batch_sizes must be a non-increasing 1-D sequence of positive counts "
                             f"summing to data's {data.shape[0]} rows, got {batch_sizes.tolist()}")
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def __repr__(self):
        return (f"PackedSequence(data={self.data!r}, batch_sizes={self.batch_sizes!r}, "
                f"sorted_indices={self.sorted_indices!r}, unsorted_indices={self.unsorted_indices!r})")

    def to(self, device=None, dtype=None):
        """The same sequences with ``data`` cast to ``dtype`` and/or moved to ``device`` ('cpu' or 'gpu'); the
        indices follow data's device, ``batch_sizes`` stays on the host. Returns self when nothing changes."""
        from ..backend import device_of, to_device
        if isinstance(device, (np.dtype, type)) or (isinstance(device, str) and device not in
                                                     ("cpu", "gpu", "cuda", "auto")):
            device, dtype = None, device
        data = self.data if dtype is None else self.data.astype(dtype, copy=False)
        if device is not None:
            data = to_device(data, device)
        if data is self.data:
            return self
        move = (lambda a: a) if device_of(data) == device_of(self.data) else (lambda a: to_device(a, device))
        return type(self)(data, self.batch_sizes, *(None if a is None else move(a)
                                                    for a in (self.sorted_indices, self.unsorted_indices)))

    def float(self):
        """``to(dtype=float32)``."""
        return self.to(dtype=np.float32)

    def double(self):
        """``to(dtype=float64)``."""
        return self.to(dtype=np.float64)

    def cpu(self):
        """``to('cpu')``."""
        return self.to("cpu")

    @property
    def is_cuda(self):
        """Whether ``data`` is a CuPy array."""
        return type(self.data).__module__.startswith("cupy")

    def lengths(self):
        """Each sequence's length, in the caller's order (NumPy int64)."""
        lengths = _lengths(self.batch_sizes)
        if self.unsorted_indices is not None:
            lengths = lengths[to_numpy(self.unsorted_indices)]
        return lengths

    def positions(self):
        """(t, n) of every row of ``data``: its time step and its place in the sorted batch (NumPy int64)."""
        return _positions(self.batch_sizes)


def invert_permutation(permutation):
    """The inverse permutation: out[permutation[i]] = i (None for None)."""
    if permutation is None:
        return None
    xp = get_array_module(permutation)
    out = xp.empty_like(permutation)
    out[permutation] = xp.arange(permutation.shape[0], dtype=permutation.dtype)
    return out


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """A ``PackedSequence`` of the first ``lengths[n]`` steps of each sequence of a padded batch ``input``
    (T, B, *) ((B, T, *) with ``batch_first``). With ``enforce_sorted`` the lengths must not increase; otherwise
    the batch is sorted by length (longest first, stable) and the indices kept. Its backward is
    ``pad_packed_sequence`` (module docstring)."""
    check_array("pack_padded_sequence", input)
    lengths = _host_int64(lengths, "lengths")
    if lengths.ndim != 1:
        raise RuntimeError(f"'lengths' argument should be a 1D int64 sequence, but got a {lengths.ndim}D one")
    xp = get_array_module(input)
    if input.ndim < 2:
        raise ValueError(f"pack_padded_sequence: expected an input of 2 or more axes (T, B, *), got shape "
                         f"{tuple(input.shape)}")
    padded = input.swapaxes(0, 1) if batch_first else input
    T, B = padded.shape[:2]
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
                               "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to "
                               "sidestep this requirement if you do not need ONNX exportability.")
        sorted_indices = None
    else:
        order = np.argsort(-lengths, kind="stable")
        lengths = lengths[order]
        sorted_indices = xp.asarray(order)
        padded = padded[:, sorted_indices]
    if T == 0 or B == 0:
        raise RuntimeError("Cannot pack empty tensors.")
    if lengths.shape[0] != B:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got {lengths.shape[0]} "
                           f"(batch_size={B})")
    if lengths.min() <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' that "
                           "is <= 0")
    if lengths.max() > T:
        raise RuntimeError(f"pack_padded_sequence: a length of {int(lengths.max())} is longer than the input's "
                           f"{T} time steps")
    batch_sizes = (lengths[None, :] > np.arange(int(lengths[0]))[:, None]).sum(axis=1)
    t, n = _positions(batch_sizes)
    return PackedSequence(padded[xp.asarray(t), xp.asarray(n)], batch_sizes, sorted_indices)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """The padded batch (T, B, *) ((B, T, *) with ``batch_first``) of a ``PackedSequence``, in the caller's order,
    ``padding_value`` after each sequence's end, T = ``total_length`` or the longest length; and the lengths
    (NumPy int64). Returns (padded, lengths). Its backward is ``pack_padded_sequence`` (module docstring)."""
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"pad_packed_sequence: expected a PackedSequence, got {type(sequence).__name__}")
    data, batch_sizes = sequence.data, sequence.batch_sizes
    xp = get_array_module(data)
    steps, batch = batch_sizes.shape[0], int(batch_sizes[0])
    if total_length is not None:
        if total_length < steps:
            raise ValueError(f"Expected total_length to be at least the length of the longest sequence in input, "
                             f"but got total_length={total_length} and max sequence length being {steps}")
        steps = int(total_length)
    padded = xp.full((steps, batch) + tuple(data.shape[1:]), padding_value, dtype=data.dtype)
    t, n = _positions(batch_sizes)
    padded[xp.asarray(t), xp.asarray(n)] = data
    if sequence.unsorted_indices is not None:
        padded = padded[:, sequence.unsorted_indices]
    if batch_first:
        padded = xp.ascontiguousarray(padded.swapaxes(0, 1))
    return padded, sequence.lengths()


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """One padded array (T, B, *) ((B, T, *) with ``batch_first``) of B arrays (L_n, *) of equal trailing shape,
    T = max L_n, ``padding_value`` after (``padding_side='right'``) or before (``'left'``) each."""
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    for s in sequences:
        check_array("pad_sequence", s, "sequence")
    trailing = tuple(sequences[0].shape[1:])
    for k, s in enumerate(sequences):
        if s.ndim == 0 or tuple(s.shape[1:]) != trailing:
            raise RuntimeError(f"pad_sequence: sequence {k} has shape {tuple(s.shape)}; every sequence must be "
                               f"(L, *{trailing}) like the first")
    xp = get_array_module(*sequences)
    steps = max(s.shape[0] for s in sequences)
    dtype = np.result_type(*sequences)
    out = xp.full((len(sequences), steps) + trailing, padding_value, dtype=dtype)
    for k, s in enumerate(sequences):
        length = s.shape[0]
        if length:
            if padding_side == "right":
                out[k, :length] = s
            else:
                out[k, steps - length:] = s
    return out if batch_first else xp.ascontiguousarray(out.swapaxes(0, 1))


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of B arrays (L_n, *) cut from a padded batch (T, B, *) ((B, T, *) with ``batch_first``)."""
    lengths = _host_int64(lengths, "lengths")
    padded = padded_sequences if batch_first else padded_sequences.swapaxes(0, 1)
    return [padded[k, :int(length)] for k, length in enumerate(lengths)]


def pack_sequence(sequences, enforce_sorted=True):
    """A ``PackedSequence`` of a list of arrays (L_n, *): ``pack_padded_sequence(pad_sequence(sequences),
    lengths)``."""
    sequences = list(sequences)
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """The list of arrays (L_n, *) held by a ``PackedSequence``, in the caller's order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


def _positions(batch_sizes):
    """(t, n) of each packed row: row b_0 + … + b_{t−1} + n is step t of sorted sequence n."""
    t = np.repeat(np.arange(batch_sizes.shape[0]), batch_sizes)
    starts = np.concatenate([[0], np.cumsum(batch_sizes)[:-1]])
    return t, np.arange(t.shape[0]) - np.repeat(starts, batch_sizes)


def _lengths(batch_sizes):
    """L_n = #{t : b_t > n} for the sorted sequences n = 0 … b_0 − 1."""
    return (batch_sizes[None, :] > np.arange(int(batch_sizes[0]))[:, None]).sum(axis=1).astype(np.int64)


def _host_int64(values, name):
    """A NumPy int64 array of whole numbers from a list, a NumPy/CuPy array or a torch tensor."""
    if type(values).__module__.startswith("torch"):
        values = values.detach().cpu().numpy()
    values = to_numpy(values) if hasattr(values, "dtype") else np.asarray(values)
    if values.dtype.kind not in "iuf" or (values.dtype.kind == "f" and not np.all(values == np.round(values))):
        raise TypeError(f"{name} must hold whole numbers, got {values.tolist()}")
    return values.astype(np.int64)
