"""libvae.Error and the helpers that turn C status codes into it."""

from . import capi


class Error(Exception):
    """A libvae call failed.

    Attributes:
        status:  the C status code (a negative ``enum vae_status`` value)
        name:    its C name, e.g. ``'VAE_ERR_SHAPE'``
        message: what was wrong: the library's per-handle message
                 (``vae_model_errmsg`` ...) or ``vae_error.message``; for
                 problems the binding finds before calling C (a wrong
                 array shape, a closed handle) a message in the same style.
    """

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
        return "libvae.Error(%s, %r)" % (self.name, self.message)


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
