"""Shared helpers: handle lifetime, argument conversion, enum names."""

import ctypes
import operator
import os
import threading

import numpy as np

from . import capi
from ._errors import Error, type_error, value_error

_FLOAT_P = ctypes.POINTER(ctypes.c_float)
_INT_P = ctypes.POINTER(ctypes.c_int)

INT_MIN, INT_MAX = -(1 << 31), (1 << 31) - 1


class Handle:
    """Base of Model and Optimizer: owns one C handle.

    Every C call on the handle holds ``self._lock``, so one handle is used by
    one thread at a time (the library's rule) and close() from another
    thread waits for a running call. ``_busy`` is set while a C call that
    calls back into Python runs: the callback must not use the handle.
    """

    _kind = "handle"
    _free_fn = None          # the C free function (a class attribute survives shutdown)

    def __init__(self):
        self._ptr = None
        self._lock = threading.RLock()
        self._busy = False

    def _h(self):
        """The C pointer; the caller holds self._lock."""
        if self._ptr is None:
            raise Error(capi.VAE_ERR_NULL, "%s is closed" % self._kind)
        if self._busy:
            raise Error(capi.VAE_ERR_INVALID,
                        "%s is in use by a running call (a progress callback must not "
                        "use the handles of the call it was passed to)" % self._kind)
        return self._ptr

    def close(self):
        """Free the C handle now. Idempotent; later calls raise libvae.Error."""
        lock = getattr(self, "_lock", None)
        if lock is None:
            return
        with lock:
            if self._busy:
                raise Error(capi.VAE_ERR_INVALID,
                            "cannot close a %s from inside its own progress callback"
                            % self._kind)
            p, self._ptr = self._ptr, None
            if p:
                type(self)._free_fn(p)

    @property
    def closed(self):
        """True once close() has run."""
        return self._ptr is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:   # interpreter shutdown or a callback's handle
            pass


class Busy:
    """Mark handles busy for the duration of a call that runs Python callbacks."""

    def __init__(self, *handles):
        self.handles = [h for h in handles if h is not None]

    def __enter__(self):
        for h in self.handles:
            h._busy = True
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h._busy = False
        return False


# ---------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------

def as_int(v, name, lo=INT_MIN, hi=INT_MAX):
    """A Python int for a C int (or size_t, with lo=0, hi=2**64-1) argument."""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    try:
        i = operator.index(v)
    except TypeError:
        raise type_error("%s = %r: expected an integer" % (name, v)) from None
    if i < lo or i > hi:
        raise Error(capi.VAE_ERR_INVALID,
                    "%s = %d does not fit the C type (range %d..%d)" % (name, i, lo, hi))
    return i


def as_size(v, name):
    return as_int(v, name, 0, (1 << 64) - 1)


def as_float(v, name):
    """A Python float for a C float; range and finiteness are the library's to check."""
    try:
        return float(v)
    except (TypeError, ValueError):
        raise type_error("%s = %r: expected a number" % (name, v)) from None


def as_path(p, name="path"):
    """bytes for a C path argument (str or os.PathLike)."""
    try:
        return os.fsencode(p)
    except TypeError:
        raise type_error("%s = %r: expected a path" % (name, p)) from None


def enum_value(v, table, name):
    """An enum int from a name in `table` (case-insensitive, '-' == '_') or an int."""
    if isinstance(v, str):
        key = v.strip().lower().replace("_", "-")
        if key in table:
            return table[key]
        raise Error(capi.VAE_ERR_INVALID, "%s = %r: expected one of %s"
                    % (name, v, ", ".join(repr(k) for k in table)))
    return as_int(v, name)


def enum_name(i, table):
    """The first name for enum value i in `table`, or i itself when unknown."""
    for k, val in table.items():
        if val == i:
            return k
    return i


def as_array(x, what, name="x"):
    """numpy view of x, numeric dtype checked (no conversion yet)."""
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except Exception as e:  # ragged lists and the like
            raise Error(capi.VAE_ERR_INVALID,
                        "%s: %s cannot be made into an array: %s" % (what, name, e)) from None
    kind = x.dtype.kind
    if kind == "O":
        try:
            x = x.astype(np.float32)
        except (TypeError, ValueError) as e:
            raise type_error("%s: %s has dtype object with non-numbers: %s"
                             % (what, name, e)) from None
    elif kind not in "biuf":
        raise type_error("%s: %s has dtype %s; expected real numbers (float32)"
                         % (what, name, x.dtype))
    return x


def as_rows(x, width, what, name="x"):
    """A C-contiguous float32 (n, width) array for x.

    The dtype and memory layout are converted (a copy only when needed);
    a wrong number of dimensions or columns raises Error(VAE_ERR_SHAPE).
    """
    x = as_array(x, what, name)
    if x.ndim != 2:
        raise Error(capi.VAE_ERR_SHAPE, "%s: %s has shape %s; expected a 2-D array (n, %s)"
                    % (what, name, tuple(x.shape), width if width is not None else "d"))
    if width is not None and x.shape[1] != width:
        raise Error(capi.VAE_ERR_SHAPE, "%s: %s has %d columns; the model expects %d"
                    % (what, name, x.shape[1], width))
    return np.ascontiguousarray(x, dtype=np.float32)


def f32(v):
    """A C float field as the shortest Python float that round-trips it (0.01, not
    0.009999999776482582): passing it back gives the same float32."""
    return float(str(np.float32(v)))


def fptr(a):
    """float * to the data of a float32 C-contiguous array (None -> NULL)."""
    return None if a is None else a.ctypes.data_as(_FLOAT_P)


def iptr(a):
    return None if a is None else a.ctypes.data_as(_INT_P)


def set_shape(cfg, value, name):
    """Write a (channels, height, width) tuple (or None/() for flat) into cfg.input_shape."""
    if value is None or tuple(value) == ():
        value = (0, 0, 0)
    try:
        dims = tuple(value)
    except TypeError:
        raise type_error("%s = %r: expected (channels, height, width)" % (name, value)) from None
    if len(dims) != 3:
        raise value_error("%s = %r: expected three sizes (channels, height, width)"
                          % (name, value))
    for i, d in enumerate(dims):
        cfg.input_shape[i] = as_int(d, "%s[%d]" % (name, i))


def fit_epochs(n_epochs, run_epoch, callback=None, on_epoch=None):
    """The epoch loop of Model.fit and VQVAE.fit: run_epoch(cb) trains one
    epoch with the batch callback cb (None, or cb(batch, n_batches,
    running) built from callback(epoch, batch, n_batches, running)) and
    returns its statistics. A callback's stop (VAE_ERR_CANCELLED) ends the
    loop; on_epoch(epoch, stats) returning a true value ends it after that
    epoch. Returns the completed epochs' statistics."""
    out = []
    for e in range(1, n_epochs + 1):
        cb = None
        if callback is not None:
            def cb(batch, n_batches, running, _e=e):
                return callback(_e, batch, n_batches, running)
        try:
            st = run_epoch(cb)
        except Error as err:
            if err.status == capi.VAE_ERR_CANCELLED and cb is not None:
                break
            raise
        out.append(st)
        if on_epoch is not None and on_epoch(e, st):
            break
    return out
