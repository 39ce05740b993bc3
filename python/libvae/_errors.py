"""libvae.Error and the helpers that turn C status codes into it."""

import re

from . import capi


# Statuses that mean the caller passed a bad value: raised as ArgumentValueError.
_VALUE_STATUSES = frozenset()   # filled below, once the constants are known


class Error(Exception):
    """A libvae call failed: the common base of every exception of the package.

    ``Error(status, message)`` makes the subclass that fits the status: a bad
    value (VAE_ERR_INVALID, VAE_ERR_SHAPE, VAE_ERR_NONFINITE, VAE_ERR_LIMIT)
    is an :class:`ArgumentValueError`, also a :class:`ValueError`; an argument
    of the wrong type is an :class:`ArgumentTypeError`, also a
    :class:`TypeError`. ``except libvae.Error`` catches them all.

    Attributes:
        status:  the C status code (a negative ``enum vae_status`` value)
        name:    its C name, e.g. ``'VAE_ERR_SHAPE'``
        message: what was wrong: the library's per-handle message
                 (``vae_model_errmsg`` ...) or ``vae_error.message``; for
                 problems the binding finds before calling C (a wrong
                 array shape, a closed handle) a message in the same style.
    """

    def __new__(cls, status=0, message="", *args, **kwargs):
        if cls is Error:
            try:
                if int(status) in _VALUE_STATUSES:
                    cls = ArgumentValueError
            except (TypeError, ValueError):
                pass
        return super().__new__(cls, status, message)

    def __init__(self, status, message=""):
        self.status = int(status)
        self.name = capi.STATUS_NAMES.get(self.status, "VAE_STATUS_%d" % self.status)
        if not message:
            message = status_str(self.status)
        self.message = message
        super().__init__(status, message)

    def __str__(self):
        return "%s: %s" % (self.name, self.message)

    def __repr__(self):
        return "libvae.%s(%s, %r)" % (type(self).__name__, self.name, self.message)


class ArgumentValueError(Error, ValueError):
    """An argument has a bad value or shape (an out-of-range number, an array
    of the wrong shape, NaN in the data, a size over the library's limits):
    both a :class:`libvae.Error` and a :class:`ValueError`. ``status`` is
    VAE_ERR_INVALID, VAE_ERR_SHAPE, VAE_ERR_NONFINITE or VAE_ERR_LIMIT."""


class ArgumentTypeError(Error, TypeError):
    """An argument has the wrong type (a string for a number, an unknown
    keyword, an object where an array or a path belongs): both a
    :class:`libvae.Error` and a :class:`TypeError`; status VAE_ERR_INVALID."""

    def __init__(self, status=None, message=""):
        if isinstance(status, str) and not message:   # ArgumentTypeError("message")
            status, message = capi.VAE_ERR_INVALID, status
        super().__init__(capi.VAE_ERR_INVALID if status is None else status, message)

    def __new__(cls, status=None, message="", *args, **kwargs):
        return Exception.__new__(cls, status, message)


_VALUE_STATUSES = frozenset((capi.VAE_ERR_INVALID, capi.VAE_ERR_SHAPE, capi.VAE_ERR_NONFINITE,
                             capi.VAE_ERR_LIMIT))


def type_error(message):
    """An ArgumentTypeError (status VAE_ERR_INVALID) with `message`."""
    return ArgumentTypeError(capi.VAE_ERR_INVALID, message)


def value_error(message, status=None):
    """An ArgumentValueError (status VAE_ERR_INVALID unless given) with `message`."""
    return ArgumentValueError(capi.VAE_ERR_INVALID if status is None else status, message)


def status_str(status):
    """The library's English description of a status code (vae_status_str)."""
    return capi.lib.vae_status_str(int(status)).decode("utf-8", "replace")


def _decode(b):
    return python_message(b.decode("utf-8", "replace")) if b else ""


# C handle prefix -> how Python code spells the object.
_CLASSES = {"model": "Model", "vqvae": "VQVAE", "dataset": "Dataset", "pca": "PCA",
            "optimizer": "Optimizer"}
# C function -> the Python call, where the names differ.
_RENAMED = {
    "vae_dataset_from_array": "Dataset.from_numpy", "vae_dataset_load_idx": "Dataset.from_idx",
    "vae_dataset_load_csv": "Dataset.from_csv", "vae_model_load": "libvae.Model.load",
    "vae_vqvae_load": "libvae.VQVAE.load", "vae_pca_fit": "libvae.PCA",
    "vae_model_create": "libvae.Model", "vae_vqvae_create": "libvae.VQVAE",
    "vae_optimizer_create": "libvae.Optimizer", "vae_png_write_grid": "libvae.write_png_grid",
    "vae_corrupt": "libvae.corrupt", "vae_corruption_parse": "libvae.corruption_parse",
    "vae_dataset_set_onehot": "Dataset.set_onehot",
    "vae_dataset_set_conditions": "Dataset.set_conditions",
    "vae_vqvae_fit_prior": "VQVAE.fit_prior",
}
_COND_USE = re.compile(r"(\w+): the model is conditional \(cond_dim = (\d+)\): "
                       r"use vae_model_\w+?_cond with the conditions")
_UNCOND_USE = re.compile(r"(\w+?)_cond: the model is unconditional \(cond_dim = 0\): "
                         r"use vae_model_\w+")
_C_NAME = re.compile(r"\bvae_(model|vqvae|dataset|pca|optimizer)_(\w+)|\bvae_\w+")


def _py_call(m):
    name = m.group(0)
    if name in _RENAMED:
        return _RENAMED[name]
    if m.group(1) is None:
        return name
    method = m.group(2)
    if method.endswith("_cond"):
        return "%s.%s(..., c=...)" % (_CLASSES[m.group(1)], method[:-5])
    return "%s.%s" % (_CLASSES[m.group(1)], method)


# The C call stems whose Python method has another name: stem -> (method, extra keywords).
_METHODS = {"compute_gradients_keyed": ("compute_gradients", "key=..., "),
            "train_step_cond": ("train_step", "")}


def _method(stem):
    name, extra = _METHODS.get(stem, (stem, ""))
    return name, extra


def python_message(msg):
    """A C library message in Python terms: ``model.sample(..., c=...)`` where
    the C text says ``use vae_model_sample_cond``, ``Dataset.from_numpy`` for
    ``vae_dataset_from_array`` (the mapping of docs/python.md)."""
    msg = _COND_USE.sub(lambda m: "%s: the model is conditional (cond_dim = %s): pass the "
                        "conditions, model.%s(..., %sc=...)"
                        % ((_method(m.group(1))[0], m.group(2)) + _method(m.group(1))), msg)
    msg = _UNCOND_USE.sub(lambda m: "%s: the model is unconditional (cond_dim = 0): call "
                          "model.%s(...) without c"
                          % (_method(m.group(1))[0], _method(m.group(1))[0]), msg)
    return _C_NAME.sub(_py_call, msg)


def raise_from_error(status, err):
    """Raise Error for a failed creating call that filled a vae_error."""
    msg = _decode(err.message) if err is not None else ""
    raise Error(status, msg)


def check_handle(status, errmsg_fn, handle):
    """Raise Error for a failed call on `handle` (the message from errmsg_fn)."""
    if status != capi.VAE_OK:
        raise Error(status, _decode(errmsg_fn(handle)))
    return status
