"""The raw C API of libvae through ctypes.

This module finds and loads ``libvae.so`` and declares ``argtypes``/
``restype`` for every exported function. The declarations, the
:class:`ctypes.Structure` mirrors of the public structs (same field order and
types) and the ``VAE_*`` constants are *generated* from ``<libvae/vae.h>``
into ``libvae/_capi_h.py`` by ``python3 python/gen_capi.py`` (a test fails
when the header changes without regenerating). The Pythonic classes
(:class:`libvae.Model`, ...) are built on it; it is public for callers who
want the C functions themselves::

    from libvae import capi
    cfg = capi.new_model_config()          # filled by vae_model_config_init_size
    capi.lib.vae_version_string()          # b'0.4.0'

Where the library is loaded from, in order:

1. ``$LIBVAE_LIBRARY``: a path to the shared library (or to a directory
   holding ``libvae.so``);
2. ``$LIBVAE_BUILD_DIR/src/libvae.so``;
3. an installed package (``meson install`` writes ``libvae/_config.py``):
   the libvae.so of the same prefix (``<prefix>/<libdir>``, found relative
   to the package directory, so a staged or moved prefix works too);
4. the build tree this package sits in: ``<repo>/build/src/libvae.so``,
   then ``<repo>/build*/src/libvae.so`` (the most recently built first);
5. ``ctypes.util.find_library("vae")`` (the system's libvae, via the
   dynamic loader's paths).
"""

import ctypes
import ctypes.util
import glob
import os

__all__ = [
    "lib", "library_path", "DatasetOptions", "OptimizerConfig", "ModelConfig", "ElboStats",
    "GradStats", "TrainingState", "Diagnostics",
    "VaeError", "PcaOptions", "PROGRESS_FN", "new_dataset_options", "new_optimizer_config",
    "new_model_config", "has", "STATUS_NAMES", "LayerStats", "VqvaeConfig", "VqvaeStats",
    "NULL_PROGRESS", "PROTOTYPES", "STRUCTS",
]

# ---------------------------------------------------------------------------
# Constants, structs and prototypes: generated from vae.h (python/gen_capi.py)
# ---------------------------------------------------------------------------

from ._capi_h import *                       # noqa: F401,F403  (VAE_* constants, structs)
from ._capi_h import PROTOTYPES, STRUCTS, OPAQUE, STATUS_NAMES, PROGRESS_FN, VaeError  # noqa

#: A NULL vae_progress_fn (ctypes does not accept None for a function pointer argument).
NULL_PROGRESS = PROGRESS_FN()

# ---------------------------------------------------------------------------
# Finding and loading the library
# ---------------------------------------------------------------------------

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(os.path.dirname(_HERE))   # python/libvae -> <repo>


def _installed_candidates():
    """The library of the prefix an installed package sits in (_config.py,
    written by meson install: LIBDIR_FROM_PACKAGE is the libdir relative to
    this package's directory, or absolute)."""
    try:
        from . import _config
    except ImportError:
        return []   # a source tree, or a package installed by pip
    rel = getattr(_config, "LIBDIR_FROM_PACKAGE", "")
    if not rel:
        return []
    return [os.path.normpath(os.path.join(_HERE, rel, "libvae.so"))]


def _candidates():
    """Paths to try, in order (see the module docstring)."""
    env = os.environ.get("LIBVAE_LIBRARY")
    if env:
        if os.path.isdir(env):
            return [os.path.join(env, "libvae.so")], True
        return [env], True
    out = []
    build = os.environ.get("LIBVAE_BUILD_DIR")
    if build:
        out.append(os.path.join(build, "src", "libvae.so"))
    out.extend(_installed_candidates())
    default = os.path.join(_REPO, "build", "src", "libvae.so")
    others = [p for p in glob.glob(os.path.join(_REPO, "build*", "src", "libvae.so"))
              if os.path.abspath(p) != default]
    others.sort(key=lambda p: os.path.getmtime(p), reverse=True)
    out.append(default)
    out.extend(others)
    return out, False


def _load():
    paths, explicit = _candidates()
    tried = []
    for p in paths:
        if not explicit and not os.path.exists(p):
            tried.append("%s (absent)" % p)
            continue
        try:
            return ctypes.CDLL(p), p
        except OSError as e:
            tried.append("%s (%s)" % (p, e))
            if explicit:
                break
    if not explicit:
        name = ctypes.util.find_library("vae")
        if name:
            try:
                return ctypes.CDLL(name), name
            except OSError as e:
                tried.append("%s (%s)" % (name, e))
        else:
            tried.append('find_library("vae") found nothing')
    raise ImportError(
        "libvae: cannot load libvae.so; tried: " + "; ".join(tried or paths) +
        ". Build it with meson (see docs/python.md) or set LIBVAE_LIBRARY to its path.")


lib, library_path = _load()

# ---------------------------------------------------------------------------
# Prototypes: every function of vae.h (PROTOTYPES, generated)
# ---------------------------------------------------------------------------

# The functions of the first release (@since 0.1.0) must be there; the later
# ones are declared when the loaded library has them (the methods that need
# them fail otherwise; has(name) tells).
_PROTOTYPES = {n: (r, a) for n, (r, a, since) in PROTOTYPES.items() if since == "0.1.0"}
_OPTIONAL_PROTOTYPES = {n: (r, a) for n, (r, a, since) in PROTOTYPES.items()
                        if since != "0.1.0"}

_missing = []
for _name, (_res, _args) in _PROTOTYPES.items():
    try:
        _fn = getattr(lib, _name)
    except AttributeError:
        _missing.append(_name)
        continue
    _fn.restype = _res
    _fn.argtypes = _args
if _missing:
    raise ImportError("libvae: %s lacks %s (a library older than this binding?)"
                      % (library_path, ", ".join(_missing)))

for _name, (_res, _args) in _OPTIONAL_PROTOTYPES.items():
    if hasattr(lib, _name):
        _fn = getattr(lib, _name)
        _fn.restype = _res
        _fn.argtypes = _args


def has(name):
    """True if the loaded library exports the C function `name`."""
    try:
        getattr(lib, name)
        return True
    except AttributeError:
        return False


# The binding mirrors the 0.x structs; a new major version may change them.
_MAJOR = lib.vae_version_number() // 10000
if _MAJOR != 0:
    raise ImportError("libvae: %s is version %s, this binding is for 0.x"
                      % (library_path, lib.vae_version_string().decode()))

# ---------------------------------------------------------------------------
# Config structs, always filled by the library's *_init first
# ---------------------------------------------------------------------------

# The structs are filled by the sized initialisers (vae_*_init_size) with
# this binding's ctypes size: the library writes min(that, its own size)
# bytes and sets struct_size to the count, so fields this binding knows but
# an older library does not are left alone, and the library never writes
# past the struct. A library older than the sized initialisers (0.3.0 and
# before) only has the plain *_init, which writes the library's own size:
# for it each struct also lives at the start of a larger zeroed buffer.
_SLACK = 1024


def _init(cfg, name, *args):
    """Fill cfg with vae_<name>_init_size(cfg, *args, sizeof cfg), or with
    the plain vae_<name>_init(cfg, *args) of an older library."""
    sized = "vae_%s_init_size" % name
    if has(sized):
        getattr(lib, sized)(ctypes.byref(cfg), *args, ctypes.sizeof(type(cfg)))
    else:
        getattr(lib, "vae_%s_init" % name)(ctypes.byref(cfg), *args)


def _padded(cls):
    buf = ctypes.create_string_buffer(ctypes.sizeof(cls) + _SLACK)
    return cls.from_buffer(buf)   # keeps buf alive


def new_dataset_options():
    """A :class:`DatasetOptions` filled by ``vae_dataset_options_init_size``."""
    o = _padded(DatasetOptions)
    _init(o, "dataset_options")
    return o


def new_optimizer_config(type_):
    """An :class:`OptimizerConfig` filled by ``vae_optimizer_config_init_size(cfg, type_, size)``."""
    c = _padded(OptimizerConfig)
    _init(c, "optimizer_config", type_)
    return c


def new_model_config():
    """A :class:`ModelConfig` filled by ``vae_model_config_init_size``."""
    c = _padded(ModelConfig)
    _init(c, "model_config")
    return c


def empty_model_config():
    """A :class:`ModelConfig` for vae_model_get_config: struct_size is what
    the sized initialiser set (this binding's size, or the library's if that
    is smaller), so every field both know is copied and nothing beyond."""
    return new_model_config()


# Struct fields added after 0.1.0 -> the version (MAJOR*10000+MINOR*100+PATCH)
# that added them. struct_size alone cannot tell: an older struct's tail
# padding may cover a newer field.
_FIELD_SINCE = {
    "posterior": 200, "estimator": 200, "baseline": 200, "ema_decay": 200,
    "score_reward": 200, "objective": 200, "beta": 200,
    "kl_schedule": 300, "kl_warmup_steps": 300, "kl_cycle_steps": 300, "kl_cycle_ratio": 300,
    "kl_cycles": 300, "capacity_gamma": 300, "capacity_max": 300, "capacity_steps": 300,
    "free_bits": 300, "aggressive": 300, "aggressive_max_inner": 300,
    "cond_dim": 300, "prior": 300, "prior_hidden": 300,
}
_VERSION = lib.vae_version_number()


def field_supported(cfg, name):
    """True if the loaded library knows field `name` of a config struct filled
    by its *_init (an older library's struct ends before later fields)."""
    field = getattr(type(cfg), name)
    return (cfg.struct_size >= field.offset + field.size
            and _VERSION >= _FIELD_SINCE.get(name, 0))


def empty_optimizer_config():
    """A zeroed :class:`OptimizerConfig` with struct_size set, for vae_optimizer_get_config."""
    c = _padded(OptimizerConfig)
    c.struct_size = ctypes.sizeof(OptimizerConfig)
    return c
