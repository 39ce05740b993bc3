"""libvae.PCA (vae_pca) and libvae.corrupt (vae_corrupt): a linear baseline
and input noise for (denoising) autoencoders. See docs/pca.md.

    import numpy as np, libvae
    x = np.random.default_rng(0).random((1000, 20), dtype=np.float32)
    with libvae.PCA(x, k=5) as pca:
        codes = pca.project(x)            # (1000, 5)
        err = pca.reconstruction_error(x) # mean over rows of the squared error sum
    noisy = libvae.corrupt(x, "mask", 0.3, seed=1)
"""

import ctypes

import numpy as np

from . import capi
from ._errors import Error, raise_from_error
from ._util import Handle, as_float, as_int, as_rows, enum_value, fptr
from .dataset import Dataset

lib = capi.lib

CORRUPTIONS = {"none": capi.VAE_CORRUPT_NONE, "gaussian": capi.VAE_CORRUPT_GAUSSIAN,
               "mask": capi.VAE_CORRUPT_MASK, "saltpepper": capi.VAE_CORRUPT_SALT_PEPPER,
               "salt-pepper": capi.VAE_CORRUPT_SALT_PEPPER}


def _need(name):
    if not capi.has(name):
        raise NotImplementedError("%s: the loaded libvae (%s) predates PCA and corruption"
                                  % (name, capi.library_path))


def _dataset(data):
    """(Dataset, temporary?) for a Dataset or a 2-D array (borrowed, not copied)."""
    if isinstance(data, Dataset):
        return data, False
    return Dataset.from_numpy(as_rows(data, None, "PCA"), copy=False), True


class PCA(Handle):
    """Principal component analysis (vae_pca), fitted at construction.

    ``PCA(data, k, center=True, max_iterations=None)``: data is a
    :class:`Dataset` (its stored values, never binarised) or an (n, d)
    array. The covariance (divisor n) is formed from float32 products of
    256-row blocks summed in double and decomposed in double precision by
    Householder tridiagonalisation + implicit QL (no LAPACK).

    Attributes (numpy copies): ``components`` (k, d) unit rows, by
    decreasing eigenvalue, the largest-magnitude entry of each positive;
    ``mean`` (d,); ``explained_variance`` (k,) eigenvalues;
    ``total_variance`` (the trace); ``explained_variance_ratio`` (k,).
    """

    _kind = "pca"
    _free_fn = lib.vae_pca_free if capi.has("vae_pca_free") else None

    def __init__(self, data, k, center=True, max_iterations=None):
        super().__init__()
        _need("vae_pca_fit")
        opt = capi._padded(capi.PcaOptions)
        capi._init(opt, "pca_options")
        opt.center = 1 if center else 0
        if max_iterations is not None:
            opt.max_iterations = as_int(max_iterations, "max_iterations")
        k = as_int(k, "k")
        ds, temp = _dataset(data)
        err = capi.VaeError()
        out = ctypes.c_void_p()
        try:
            rc = lib.vae_pca_fit(ds._m().ptr, k, ctypes.byref(opt), ctypes.byref(out),
                                 ctypes.byref(err))
        finally:
            if temp:
                ds.close()
        if rc != capi.VAE_OK:
            raise_from_error(rc, err)
        self._ptr = out.value
        with self._lock:
            h = self._h()
            self.dim = int(lib.vae_pca_dim(h))
            self.k = int(lib.vae_pca_components_count(h))
            self.components = np.ctypeslib.as_array(lib.vae_pca_components(h),
                                                    (self.k, self.dim)).copy()
            self.mean = np.ctypeslib.as_array(lib.vae_pca_mean(h), (self.dim,)).copy()
            self.explained_variance = np.ctypeslib.as_array(
                lib.vae_pca_explained_variance(h), (self.k,)).copy()
            self.total_variance = float(lib.vae_pca_total_variance(h))
        for a in (self.components, self.mean, self.explained_variance):
            a.flags.writeable = False

    @property
    def explained_variance_ratio(self):
        """explained_variance / total_variance (zeros for constant data)."""
        t = self.total_variance
        return self.explained_variance / t if t > 0 else np.zeros_like(self.explained_variance)

    def _check(self, rc):
        if rc != capi.VAE_OK:
            raise Error(rc, (lib.vae_pca_errmsg(self._ptr) or b"").decode("utf-8", "replace"))

    def project(self, x):
        """Codes (x - mean) @ components.T, an (n, k) float32 array."""
        x = as_rows(x, self.dim, "project")
        out = np.empty((x.shape[0], self.k), dtype=np.float32)
        with self._lock:
            self._check(lib.vae_pca_project(self._h(), fptr(x), x.shape[0], fptr(out)))
        return out

    def decode(self, codes):
        """mean + codes @ components, an (n, d) float32 array."""
        codes = as_rows(codes, self.k, "decode", "codes")
        out = np.empty((codes.shape[0], self.dim), dtype=np.float32)
        with self._lock:
            self._check(lib.vae_pca_decode(self._h(), fptr(codes), codes.shape[0], fptr(out)))
        return out

    def reconstruct(self, x):
        """The rank-k reconstruction decode(project(x)), an (n, d) float32 array."""
        x = as_rows(x, self.dim, "reconstruct")
        out = np.empty_like(x)
        with self._lock:
            self._check(lib.vae_pca_reconstruct(self._h(), fptr(x), x.shape[0], fptr(out)))
        return out

    def reconstruction_error(self, data):
        """Mean over examples of the sum over dimensions of the squared error
        of the rank-k reconstruction (the Gaussian loss's units), for a
        Dataset (stored values) or an (n, d) array."""
        ds, temp = _dataset(data)
        mse = ctypes.c_double()
        try:
            with self._lock:
                self._check(lib.vae_pca_reconstruction_error(self._h(), ds._m().ptr,
                                                             ctypes.byref(mse)))
        finally:
            if temp:
                ds.close()
        return mse.value


def corruption_parse(text):
    """(kind, param) of a command-line form 'gaussian:0.5', 'mask:0.3',
    'saltpepper:0.2' or 'none' (vae_corruption_parse)."""
    _need("vae_corruption_parse")
    kind, param, err = ctypes.c_int(), ctypes.c_float(), capi.VaeError()
    if not isinstance(text, (str, bytes)):
        raise Error(capi.VAE_ERR_INVALID, "corruption = %r: expected text" % (text,))
    b = text.encode() if isinstance(text, str) else text
    rc = lib.vae_corruption_parse(b, ctypes.byref(kind), ctypes.byref(param),
                                  ctypes.byref(err))
    if rc != capi.VAE_OK:
        raise_from_error(rc, err)
    return kind.value, param.value


def corrupt(x, kind, param=None, seed=0):
    """A corrupted float32 copy of the (n, d) array x (vae_corrupt).

    kind: 'none', 'gaussian' (x + param * N(0,1)), 'mask' (each value set to
    0 with probability param), 'saltpepper' (each value set to 0 or 1,
    equally likely, with probability param), an enum int, or the
    command-line form 'mask:0.3' with param None. The same seed gives the
    same result; use a new seed per batch for fresh noise."""
    _need("vae_corrupt")
    if param is None:
        if not isinstance(kind, str) or ":" not in kind and kind != "none":
            raise Error(capi.VAE_ERR_INVALID, "corrupt: param is needed for kind %r" % (kind,))
        kind, param = corruption_parse(kind)
    k = enum_value(kind, CORRUPTIONS, "kind")
    x = as_array2(x)
    out = np.empty_like(x)
    err = capi.VaeError()
    rc = lib.vae_corrupt(k, as_float(param, "param"), as_int(seed, "seed", 0, (1 << 64) - 1),
                         fptr(x), x.shape[0], x.shape[1], fptr(out), ctypes.byref(err))
    if rc != capi.VAE_OK:
        raise_from_error(rc, err)
    return out


def as_array2(x):
    """x as a C-contiguous float32 (n, d) array; a 1-D array is one row."""
    a = np.asarray(x)
    if a.ndim == 1:
        a = a[None, :]
    return as_rows(a, None, "corrupt")
