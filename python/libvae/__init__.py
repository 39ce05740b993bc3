"""libvae: variational autoencoders in C, from Python (ctypes + numpy).

    import numpy as np, libvae
    x = np.random.default_rng(0).random((1000, 784), dtype=np.float32)
    with libvae.Model(input_dim=784, hidden=(400,), latent=20, seed=1) as model:
        for st in model.fit(x, epochs=3, batch_size=100):
            print(st.elbo)
        mu, logvar = model.encode(x[:10])

The classes wrap the C handles of <libvae/vae.h>: :class:`Model`
(vae_model), :class:`Optimizer` (vae_optimizer) and :class:`Dataset`
(vae_dataset). Failures raise :class:`Error` with the library's status and
message; a bad argument value raises :class:`ArgumentValueError` (also a
ValueError), an argument of the wrong type :class:`ArgumentTypeError` (also a
TypeError), both subclasses of :class:`Error`. The raw C functions and structs are in :mod:`libvae.capi`. See
docs/python.md for the mapping to the C API.
"""

from . import capi
from ._errors import ArgumentTypeError, ArgumentValueError, Error, status_str
from .dataset import Dataset
from .model import (Diagnostics, GradientReport, GradStats, LayerStats, Model, ParamTensor,
                    Stats, TrainingState)
from .optimizer import Optimizer
from .image import write_png_grid
from . import layers
from .vqvae import VQVAE, VQStats
from .pca import PCA, corrupt, corruption_parse
from . import weights  # Model/VQVAE.export_safetensors, import_safetensors
weights.attach(Model, VQVAE)

from .capi import (VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID, VAE_ERR_SHAPE, VAE_ERR_NOMEM,
                   VAE_ERR_IO, VAE_ERR_FORMAT, VAE_ERR_NONFINITE, VAE_ERR_DIVERGED,
                   VAE_ERR_LIMIT, VAE_ERR_CANCELLED, VAE_ERR_UNSUPPORTED)

__all__ = [
    "layers",
    "Model", "Optimizer", "Dataset", "Stats", "ParamTensor", "GradStats", "GradientReport",
    "TrainingState", "Diagnostics", "LayerStats",
    "VQVAE", "VQStats",
    "PCA", "corrupt", "corruption_parse",
    "Error", "ArgumentTypeError", "ArgumentValueError", "version", "version_info", "write_png_grid",
    "status_str", "library_path", "capi",
    "VAE_OK", "VAE_ERR_NULL", "VAE_ERR_INVALID", "VAE_ERR_SHAPE", "VAE_ERR_NOMEM",
    "VAE_ERR_IO", "VAE_ERR_FORMAT", "VAE_ERR_NONFINITE", "VAE_ERR_DIVERGED",
    "VAE_ERR_LIMIT", "VAE_ERR_CANCELLED", "VAE_ERR_UNSUPPORTED",
]

#: The path the shared library was loaded from.
library_path = capi.library_path


def version():
    """The loaded library's version string, e.g. '0.1.0' (vae_version_string)."""
    return capi.lib.vae_version_string().decode()


def version_info():
    """(major, minor, patch) of the loaded library (vae_version_number)."""
    v = capi.lib.vae_version_number()
    return (v // 10000, v // 100 % 100, v % 100)


__version__ = version()
