"""libvae.Error and the helpers that turn C status codes into it."""

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
    return b.decode("utf-8", "replace") if b else ""


def raise_from_error(status, err):
    """Raise Error for a failed creating call that filled a vae_error."""
    msg = _decode(err.message) if err is not None else ""
    raise Error(status, msg)


def check_handle(status, errmsg_fn, handle):
    """Raise Error for a failed call on `handle` (the message from errmsg_fn)."""
    if status != capi.VAE_OK:
        raise Error(status, _decode(errmsg_fn(handle)))
    return status
