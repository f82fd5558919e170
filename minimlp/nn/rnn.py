"""RNN, LSTM, GRU: multi-layer, optionally bidirectional recurrences over whole sequences, with
backpropagation through time (``minimlp.formulas.recurrent``)."""
import math
import numbers
import warnings

import numpy as np

from ..backend import get_array_module
from ..kernels import ops
from ..random import rng_for
from . import init
from .checks import InputError, check_floating, check_grad_like, check_like, whole
from .module import Module
from .packed_sequence import PackedSequence, pad_packed_sequence
from .parameter import Parameter


class _RNNBase(Module):
    """What RNN, LSTM and GRU share (torch's ``RNNBase``): the parameters, the layers and directions, dropout
    between layers, the input and state checks, and backpropagation through time.

    Parameters, for layer k and direction suffix s ("" forward, "_reverse" backward), in torch's order:
    ``weight_ih_l{k}{s}`` (G·H, I_k), ``weight_hh_l{k}{s}`` (G·H, H), ``bias_ih_l{k}{s}``, ``bias_hh_l{k}{s}``
    (G·H,), for G gates (1, 4, 3), I_0 = input_size and I_k = D·H above (D = 2 if bidirectional), then the
    LSTM's ``weight_hr_l{k}{s}`` (P, H) where ``proj_size`` = P > 0; all drawn U(−1/√H, 1/√H) in that order.
    Layer k reads layer k − 1's output, both directions concatenated, after dropout (training only, not after
    the last layer).

    ``forward(input, hx=None)``: input (T, N, I), (N, T, I) with ``batch_first``, or one sequence (T, I); hx
    (L·D, N, H) or (L·D, H) (default zeros; the LSTM's a tuple (h_0, c_0)). Returns (output, h_n): output
    (T, N, D·H) (batch_first: (N, T, D·H)), the last layer's states at every step, and h_n (L·D, N, H) the
    final state of each layer and direction (LSTM: (output, (h_n, c_n))). The reverse direction's output at t is
    its state after reading x_{T−1} … x_t.

    ``backward(grad_output=None, grad_h_n=None)`` (the LSTM's also ``grad_c_n=None``): ∂L/∂(what forward
    returned), None meaning zero (one at least is given); returns ∂L/∂input, adds ∂L/∂θ to every parameter's
    ``grad`` and keeps ∂L/∂hx in ``grad_hx`` (hx's shape; the LSTM's a tuple (∂L/∂h_0, ∂L/∂c_0)), for an
    encoder whose final state started this one. Caches, per layer and direction, its input, its hidden states
    h_0 … h_T and each step's gate values (``recurrent.Trace``), and the dropout masks.
    """

    _op = None   # ops.rnn, ops.lstm or ops.gru
    _gates = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             "element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and "
                          f"num_layers={num_layers}", stacklevel=3)
        for name, value in (("bias", bias), ("batch_first", batch_first)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} should be of type bool, got: {type(value).__name__}")
        self.mode = mode
        self.input_size = whole(input_size, "input_size")
        self.hidden_size = whole(hidden_size, "hidden_size")
        self.num_layers = whole(num_layers, "num_layers")
        self.proj_size = whole(proj_size, "proj_size")
        for name in ("input_size", "hidden_size", "num_layers"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be greater than zero")
        if self.proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if self.proj_size >= self.hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional = bool(bidirectional)
        dtype = np.dtype(np.float32 if dtype is None else dtype)
        directions = 2 if self.bidirectional else 1
        rows = self._gates[mode] * self.hidden_size
        width = self._width()
        self._flat_weights_names, self._all_weights = [], []
        for layer in range(self.num_layers):
            columns = self.input_size if layer == 0 else directions * width
            for suffix in ("", "_reverse")[:directions]:
                names = [f"weight_ih_l{layer}{suffix}", f"weight_hh_l{layer}{suffix}"]
                shapes = [(rows, columns), (rows, width)]
                if bias:
                    names += [f"bias_ih_l{layer}{suffix}", f"bias_hh_l{layer}{suffix}"]
                    shapes += [(rows,), (rows,)]
                if self.proj_size > 0:
                    names.append(f"weight_hr_l{layer}{suffix}")
                    shapes.append((self.proj_size, self.hidden_size))
                for name, shape in zip(names, shapes):
                    setattr(self, name, Parameter(np.empty(shape, dtype=dtype)))
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()
        if device is not None:
            self.to(device=device)
        self._traces, self._packing = None, None
        self.grad_hx = None

    def reset_parameters(self):
        """Every parameter ~ U(−1/√hidden_size, 1/√hidden_size) again, in registration order (torch's)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def flatten_parameters(self):
        """A no-op, as torch's off cuDNN (there is no flat weight buffer to rebuild)."""

    @property
    def all_weights(self):
        """The parameters per layer and direction: [[weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0], …]."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def _width(self):
        """The width of h: proj_size where the LSTM projects it, else hidden_size."""
        return self.proj_size if self.proj_size > 0 else self.hidden_size

    def _weights(self, k):
        """(W_ih, W_hh, b_ih, b_hh) of layer and direction k = layer·D + direction (biases None without bias)."""
        layer, direction = divmod(k, 2 if self.bidirectional else 1)
        suffix = "_reverse" if direction else ""
        return tuple(getattr(self, f"{name}_l{layer}{suffix}", None)
                     for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    def _options(self, k):
        """The formula's further arguments for layer and direction k (the nonlinearity, the projection)."""
        return ()

    _states = ("h",)

    def _state_sizes(self):
        return (self._width(),)

    # forward ----------------------------------------------------------------
    def forward(self, input, hx=None):
        if isinstance(input, PackedSequence):
            x, batched, packing = self._packed_input(input), True, input
        else:
            x, batched, packing = self._padded_input(input), input.ndim == 3, None
        state = self._initial_state(hx, x, batched)
        if packing is not None and packing.sorted_indices is not None:
            state = tuple(s[:, packing.sorted_indices] for s in state)
        xp = get_array_module(x)
        sizes = None if packing is None else packing.batch_sizes
        directions = 2 if self.bidirectional else 1
        self._traces, self._masks, final = [], [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                k = layer * directions + direction
                arrays = tuple(None if p is None else p.data for p in self._weights(k))
                options = tuple(o.data if isinstance(o, Parameter) else o for o in self._options(k))
                out, last, trace = self._op.run("forward", x, tuple(s[k] for s in state), *arrays, direction == 1,
                                                *options, sizes)
                outputs.append(out)
                final.append(last)
                self._traces.append(trace)
            x = outputs[0] if directions == 1 else xp.concatenate(outputs, axis=2)
            mask = None
            if self.training and self.dropout > 0 and layer < self.num_layers - 1:
                mask = self._dropout_mask(x)
                x = ops.dropout.run("forward", x, mask)
            self._masks.append(mask)
        self._batched, self._packing = batched, packing
        self.grad_hx = None
        h_n = tuple(xp.stack([last[e] for last in final]) for e in range(len(self._states)))
        if packing is not None:
            output = x[tuple(xp.asarray(i) for i in packing.positions())]
            if packing.unsorted_indices is not None:
                h_n = tuple(h[:, packing.unsorted_indices] for h in h_n)
        else:
            output = x if batched and not self.batch_first else x.transpose(1, 0, 2) if batched else x[:, 0]
            output = xp.ascontiguousarray(output)
        if not batched:
            h_n = tuple(h[:, 0] for h in h_n)
        self._shapes = (output.shape, tuple(h.shape for h in h_n))
        if packing is not None:
            output = PackedSequence(output, packing.batch_sizes, packing.sorted_indices, packing.unsorted_indices)
        return output, (h_n if len(h_n) > 1 else h_n[0])

    def _padded_input(self, input):
        """The input as (T, N, I) (a view), checked with torch's messages."""
        name = "RNN" if self.mode.startswith("RNN") else self.mode
        if type(input).__module__.startswith("torch") and isinstance(input, tuple):
            raise TypeError(f"{self!r}: the input is torch's PackedSequence; pack NumPy or CuPy arrays with "
                            f"minimlp.nn.utils.rnn.pack_padded_sequence or pack_sequence")
        if isinstance(input, tuple) or not hasattr(input, "ndim"):
            raise TypeError(f"{self!r}: expected an array (T, N, I), (N, T, I) or (T, I) or a PackedSequence "
                            f"(minimlp.nn.utils.rnn) as the input, got {type(input).__name__}")
        check_floating(self, input)
        if input.ndim not in (2, 3):
            raise InputError(f"{name}: Expected input to be 2D or 3D, got {input.ndim}D tensor instead")
        self._check_features(input)
        batched = input.ndim == 3
        x = input.transpose(1, 0, 2) if batched and self.batch_first else input if batched else input[:, None]
        if x.shape[0] == 0:
            raise InputError(f"{self!r}: Expected sequence length to be larger than 0 in RNN")
        return x

    def _packed_input(self, input):
        """A PackedSequence's data as the padded, sorted batch (T, N, I), zeros after each sequence's end."""
        check_floating(self, input.data, "packed data")
        if input.data.ndim != 2:
            raise InputError(f"{self!r}: packed input data must be 2-D (steps, input_size), got shape "
                             f"{tuple(input.data.shape)}")
        self._check_features(input.data)
        xp = get_array_module(input.data)
        x = xp.zeros((input.batch_sizes.shape[0], int(input.batch_sizes[0]), input.data.shape[1]),
                     dtype=input.data.dtype)
        x[tuple(xp.asarray(i) for i in input.positions())] = input.data
        return x

    def _check_features(self, input):
        if input.shape[-1] != self.input_size:
            raise InputError(f"{self!r}: input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                             f"got {input.shape[-1]}")
        check_like(self, input, getattr(self, self._flat_weights_names[0]).data)

    def _dropout_mask(self, x):
        xp = get_array_module(x)
        if self.dropout == 1.0:
            return xp.zeros_like(x)
        keep = rng_for(xp).random(x.shape, dtype=x.dtype) >= self.dropout
        return ops.dropout.run("mask", keep, self.dropout, x.dtype)

    def _initial_state(self, hx, x, batched):
        """hx as a tuple of (L·D, N, H) arrays: zeros when None, else checked with torch's messages."""
        xp = get_array_module(x)
        expected = [((2 if self.bidirectional else 1) * self.num_layers, x.shape[1], size)
                    for size in self._state_sizes()]
        if hx is None:
            return tuple(xp.zeros(shape, dtype=x.dtype) for shape in expected)
        entries = self._entries(hx)
        for h in entries:
            check_floating(self, h, "hx")
        dims = tuple(h.ndim for h in entries)
        if any(d != (3 if batched else 2) for d in dims):
            raise InputError(self._dims_message(batched, dims))
        if not batched:
            entries = tuple(h[:, None] for h in entries)
        for k, h in enumerate(entries):
            if tuple(h.shape) != expected[k]:
                what = "hidden" if len(entries) == 1 else f"hidden[{k}]"
                raise InputError(f"{self!r}: Expected {what} size {expected[k]}, got {list(h.shape)}")
            check_like(self, h, getattr(self, self._flat_weights_names[0]).data)
        return entries

    def _entries(self, hx):
        return (hx,)

    def _dims_message(self, batched, dims):
        return (f"{self!r}: For {'batched 3-D' if batched else 'unbatched 2-D'} input, hx should also be "
                f"{3 if batched else 2}-D but got {dims[0]}-D tensor")

    # backward ---------------------------------------------------------------
    def backward(self, grad_output=None, grad_h_n=None):
        """∂L/∂input for ∂L/∂output and ∂L/∂h_n (None: zero); adds ∂L/∂θ; keeps ∂L/∂hx in ``grad_hx``."""
        return self._backward(grad_output, (grad_h_n,), want_dx=True)

    def backward_parameters(self, grad_output=None, grad_h_n=None):
        """``backward`` without ∂L/∂input (the first layer's input projection skipped); ``grad_hx`` is kept."""
        self._backward(grad_output, (grad_h_n,), want_dx=False)

    def _backward(self, grad_output, grad_state, want_dx):
        if self._traces is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        if grad_output is None and all(g is None for g in grad_state):
            raise ValueError(f"{self!r}: backward needs grad_output or the gradient of the final state")
        output_shape, state_shapes = self._shapes
        packing = self._packing
        if packing is not None and isinstance(grad_output, PackedSequence):
            if not np.array_equal(grad_output.batch_sizes, packing.batch_sizes):
                raise ValueError(f"{self!r}: the gradient's batch_sizes {grad_output.batch_sizes.tolist()} are not "
                                 f"the output's {packing.batch_sizes.tolist()}")
            if not _same_order(grad_output.sorted_indices, packing.sorted_indices):
                raise ValueError(f"{self!r}: the gradient's sequences are packed in another order than the "
                                 f"output's (its sorted_indices differ): pack it with the output's lengths and "
                                 f"enforce_sorted, or pass output._replace(data=gradient)")
            grad_output = grad_output.data
        if grad_output is not None:
            check_grad_like(self, grad_output, output_shape)
        for g, shape in zip(grad_state, state_shapes):
            if g is not None:
                check_grad_like(self, g, shape)
        batched = self._batched
        xp = get_array_module(self._traces[0].hs)
        g_above = grad_output
        if packing is not None:
            if g_above is not None:
                g_above = pad_packed_sequence(PackedSequence(g_above, packing.batch_sizes))[0]
            if packing.sorted_indices is not None:
                grad_state = tuple(g if g is None else g[:, packing.sorted_indices] for g in grad_state)
        elif g_above is not None:
            g_above = g_above.transpose(1, 0, 2) if batched and self.batch_first else g_above if batched \
                else g_above[:, None]
        grad_state = tuple(g if g is None or batched else g[:, None] for g in grad_state)
        grad_hx = [xp.empty((len(self._traces),) + tuple(s.shape), dtype=s.dtype) for s in self._traces[0].final]
        directions = 2 if self.bidirectional else 1
        width = self._width()
        for layer in reversed(range(self.num_layers)):
            if self._masks[layer] is not None:
                g_above = ops.dropout.run("backward", g_above, self._masks[layer])
            g_below = None
            for direction in range(directions):
                k = layer * directions + direction
                g_out = None if g_above is None else g_above[:, :, direction * width:(direction + 1) * width]
                g_last = tuple(None if g is None else g[k] for g in grad_state)
                dx, d_first = self._op.run("backward", g_out, g_last, self._traces[k], *self._weights(k),
                                           want_dx or layer > 0, *self._options(k))
                for e, d in enumerate(d_first):
                    grad_hx[e][k] = d
                g_below = dx if g_below is None else g_below + dx
            g_above = g_below
        if packing is not None and packing.unsorted_indices is not None:
            grad_hx = [g[:, packing.unsorted_indices] for g in grad_hx]
        grad_hx = tuple(g if batched else g[:, 0] for g in grad_hx)
        self.grad_hx = grad_hx if len(grad_hx) > 1 else grad_hx[0]
        if not want_dx:
            return None
        if packing is not None:
            return PackedSequence(g_above[tuple(xp.asarray(i) for i in packing.positions())], packing.batch_sizes,
                                  packing.sorted_indices, packing.unsorted_indices)
        dx = g_above.transpose(1, 0, 2) if batched and self.batch_first else g_above if batched else g_above[:, 0]
        return xp.ascontiguousarray(dx)

    def _on_moved(self):
        self._traces = None

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


class RNN(_RNNBase):
    """An Elman RNN of ``num_layers`` layers (torch.nn.RNN): h_t = tanh(x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh)
    (``nonlinearity="relu"``: ReLU) at each layer, the layer above reading the one below.

    Backward through time, for δ_t = (∂L/∂h_t from the output and from step t + 1) ⊙ (1 − h_t²) (ReLU:
    ⊙ [h_t > 0]): ∂L/∂h_{t−1} += δ_t W_hh,  ∂L/∂x_t = δ_t W_ih,  ∂L/∂W_ih = Σ_t δ_tᵀ x_t,
    ∂L/∂W_hh = Σ_t δ_tᵀ h_{t−1},  ∂L/∂b_ih = ∂L/∂b_hh = Σ_{t,n} δ_t; the input projections and these sums over
    time are one matrix product each, only the recurrence loops. W_ih (H, I), W_hh (H, H). Arguments, shapes,
    ``backward(grad_output=None, grad_h_n=None)``, ``grad_hx`` and the cache: ``_RNNBase``.
    """

    _op = ops.rnn

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def _options(self, k):
        return (self.nonlinearity,)


class LSTM(_RNNBase):
    """A long short-term memory network of ``num_layers`` layers (torch.nn.LSTM), gates i, f, g, o along W's rows:

        [a_i, a_f, a_g, a_o] = x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh
        c_t = σ(a_f) ⊙ c_{t−1} + σ(a_i) ⊙ tanh(a_g),   h_t = σ(a_o) ⊙ tanh(c_t)

    Backward through time: each step's gate gradients as ``LSTMCell``'s (``minimlp.formulas.lstm_cell``), carried
    back through h and c; the weight gradients summed over time in one product each. W_ih (4H, I), W_hh (4H, H).
    ``forward(input, hx=None)`` with hx a tuple (h_0, c_0) returns (output, (h_n, c_n));
    ``backward(grad_output=None, grad_h_n=None, grad_c_n=None)``, and ``grad_hx`` = (∂L/∂h_0, ∂L/∂c_0).
    ``proj_size`` = P > 0 (torch's projected LSTM): h_t = (σ(a_o) ⊙ tanh c_t) W_hrᵀ with ``weight_hr_l{k}{s}``
    (P, H) after the biases; h_0, h_n and each direction's output are P wide, W_hh is (4H, P) and the layers
    above read D·P columns; ∂L/∂W_hr = Σ_t (∂L/∂h_t)ᵀ (o_t ⊙ tanh c_t). The rest: ``_RNNBase``.
    """

    _op = ops.lstm
    _states = ("h", "c")

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device=device, dtype=dtype)

    def _entries(self, hx):
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"{self!r}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
        return tuple(hx)

    def _state_sizes(self):
        return (self._width(), self.hidden_size)

    def _options(self, k):
        if self.proj_size == 0:
            return (None,)
        layer, direction = divmod(k, 2 if self.bidirectional else 1)
        return (getattr(self, f"weight_hr_l{layer}{'_reverse' if direction else ''}"),)

    def _dims_message(self, batched, dims):
        return (f"{self!r}: For {'batched 3-D' if batched else 'unbatched 2-D'} input, hx and cx should also be "
                f"{3 if batched else 2}-D but got ({dims[0]}-D, {dims[1]}-D) tensors")

    def backward(self, grad_output=None, grad_h_n=None, grad_c_n=None):
        """∂L/∂input for ∂L/∂output, ∂L/∂h_n and ∂L/∂c_n (None: zero); adds ∂L/∂θ; keeps (∂L/∂h_0, ∂L/∂c_0) in
        ``grad_hx``."""
        return self._backward(grad_output, (grad_h_n, grad_c_n), want_dx=True)

    def backward_parameters(self, grad_output=None, grad_h_n=None, grad_c_n=None):
        """``backward`` without ∂L/∂input."""
        self._backward(grad_output, (grad_h_n, grad_c_n), want_dx=False)


class GRU(_RNNBase):
    """A gated recurrent unit network of ``num_layers`` layers (torch.nn.GRU), gates r, z, n along W's rows:

        r_t = σ(gi_r + gh_r),  z_t = σ(gi_z + gh_z),  n_t = tanh(gi_n + r_t ⊙ gh_n),
        h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1},   gi = x_t W_ihᵀ + b_ih,  gh = h_{t−1} W_hhᵀ + b_hh

    Backward through time: each step's gradients as ``GRUCell``'s (``minimlp.formulas.gru_cell``), the weight
    gradients summed over time in one product each. W_ih (3H, I), W_hh (3H, H). The rest: ``_RNNBase``.
    """

    _op = ops.gru

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)


def _same_order(a, b):
    """Whether two PackedSequences' sorted_indices (None: already sorted) give the same order."""
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool((a == b).all())
