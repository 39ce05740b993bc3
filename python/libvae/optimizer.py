"""libvae.Optimizer: vae_optimizer (SGD, momentum, Adagrad, Adam)."""

import ctypes

from . import capi
from ._errors import Error, check_handle, raise_from_error, type_error
from ._util import Handle, as_float, enum_name, enum_value, f32

lib = capi.lib

TYPES = {"sgd": capi.VAE_OPT_SGD, "momentum": capi.VAE_OPT_MOMENTUM,
         "adagrad": capi.VAE_OPT_ADAGRAD, "adam": capi.VAE_OPT_ADAM}

#: The hyperparameters of vae_optimizer_config, settable by keyword and property.
HYPERPARAMETERS = ("lr", "momentum", "beta1", "beta2", "eps", "weight_decay", "clip_norm")


def _check(opt, rc):
    return check_handle(rc, lib.vae_optimizer_errmsg, opt)


class Optimizer(Handle):
    """An optimizer and its state (vae_optimizer).

    ``Optimizer('adam', lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
    weight_decay=0, clip_norm=0)``; the type is 'sgd', 'momentum' (with
    ``momentum=``), 'adagrad' or 'adam'. Unset hyperparameters take the
    library's defaults for the type (vae_optimizer_config_init). Every
    hyperparameter is also a property; setting ``lr`` calls
    vae_optimizer_set_lr, the others vae_optimizer_set_config (the state is
    kept). The state is sized on the first step and then bound to models
    with that parameter count.
    """

    _kind = "optimizer"
    _free_fn = lib.vae_optimizer_free

    def __init__(self, type="adam", **hyper):
        super().__init__()
        t = enum_value(type, TYPES, "optimizer type")
        unknown = set(hyper) - set(HYPERPARAMETERS)
        if unknown:
            raise type_error("Optimizer: unknown hyperparameter(s) %s; known: %s"
                            % (", ".join(sorted(unknown)), ", ".join(HYPERPARAMETERS)))
        cfg = capi.new_optimizer_config(t)
        for k, v in hyper.items():
            if v is not None:
                setattr(cfg, k, as_float(v, k))
        out = ctypes.c_void_p()
        err = capi.VaeError()
        rc = lib.vae_optimizer_create(ctypes.byref(cfg), ctypes.byref(out), ctypes.byref(err))
        if rc != capi.VAE_OK:
            raise_from_error(rc, err)
        self._ptr = out.value

    @classmethod
    def _wrap(cls, ptr):
        self = cls.__new__(cls)
        Handle.__init__(self)
        self._ptr = ptr
        return self

    def _get_config(self):
        with self._lock:
            h = self._h()
            cfg = capi.empty_optimizer_config()
            _check(h, lib.vae_optimizer_get_config(h, ctypes.byref(cfg)))
            return cfg

    @property
    def config(self):
        """The hyperparameters as a dict (vae_optimizer_get_config)."""
        c = self._get_config()
        d = {"type": enum_name(c.type, TYPES)}
        for k in HYPERPARAMETERS:
            d[k] = f32(getattr(c, k))
        return d

    def set_config(self, **hyper):
        """Change several hyperparameters at once (vae_optimizer_set_config)."""
        unknown = set(hyper) - set(HYPERPARAMETERS)
        if unknown:
            raise type_error("Optimizer.set_config: unknown hyperparameter(s) %s"
                            % ", ".join(sorted(unknown)))
        vals = {k: as_float(v, k) for k, v in hyper.items()}
        with self._lock:
            h = self._h()
            cfg = capi.empty_optimizer_config()
            _check(h, lib.vae_optimizer_get_config(h, ctypes.byref(cfg)))
            for k, v in vals.items():
                setattr(cfg, k, v)
            _check(h, lib.vae_optimizer_set_config(h, ctypes.byref(cfg)))

    @property
    def type(self):
        """'sgd', 'momentum', 'adagrad' or 'adam'."""
        return enum_name(self._get_config().type, TYPES)

    @property
    def lr(self):
        return f32(self._get_config().lr)

    @lr.setter
    def lr(self, value):
        v = as_float(value, "lr")
        with self._lock:
            h = self._h()
            _check(h, lib.vae_optimizer_set_lr(h, v))

    @property
    def steps(self):
        """Number of steps taken so far (vae_optimizer_steps)."""
        with self._lock:
            return lib.vae_optimizer_steps(self._h())

    def __repr__(self):
        if self.closed:
            return "<libvae.Optimizer closed>"
        c = self.config
        return "<libvae.Optimizer %s lr=%g steps=%d>" % (c["type"], c["lr"], self.steps)


def _hyper_property(name):
    def get(self):
        return f32(getattr(self._get_config(), name))

    def set(self, value):
        self.set_config(**{name: value})
    return property(get, set, doc="The %s hyperparameter (vae_optimizer_config.%s)."
                    % (name, name))


for _name in HYPERPARAMETERS:
    if _name != "lr":
        setattr(Optimizer, _name, _hyper_property(_name))
del _name
