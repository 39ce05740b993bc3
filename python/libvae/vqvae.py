"""The VQ-VAE handle (vae_vqvae): discrete latents with a learned codebook."""

import ctypes
from typing import NamedTuple

import numpy as np

from . import capi
from ._errors import Error, check_handle, raise_from_error
from ._util import Handle, fit_epochs, as_float, as_int, as_path, as_rows, as_size, fptr, iptr, set_shape
from .dataset import Dataset
from .layers import network_text
from .model import _Progress
from .optimizer import Optimizer

lib = capi.lib

_CODEBOOK = {"loss": capi.VAE_VQ_CODEBOOK_LOSS, "ema": capi.VAE_VQ_CODEBOOK_EMA}


class VQStats(NamedTuple):
    """vae_vqvae_stats: rec (mean log p(x|z_q), nats), commit, loss,
    perplexity, codes_used, n."""
    rec: float
    commit: float
    loss: float
    perplexity: float
    codes_used: int
    n: int

    @classmethod
    def _from_c(cls, s):
        return cls(s.rec, s.commit, s.loss, s.perplexity, s.codes_used, s.n)


def _need(name):
    if not capi.has(name):
        raise NotImplementedError("the loaded libvae lacks %s (older than 0.3.0)" % name)


class VQVAE(Handle):
    """A VQ-VAE (vae_vqvae). Keywords map to vae_vqvae_config fields, None
    keeps the library default: input_dim, hidden (sizes, input side first),
    latents (M), code_dim (D), codes (K), beta, codebook ('ema' or 'loss'),
    ema_decay, ema_eps, restart_after, seed, threads, and (0.4.0) encoder,
    decoder (text form or libvae.layers lists, docs/networks.md) and
    input_shape. An encoder ending in a C x H x W map is quantised per
    position: latents becomes H * W and codes come back as (H, W) grids.
    Failures raise libvae.Error with the library's status and message."""

    _kind = "vqvae"
    _free_fn = lib.vae_vqvae_free if capi.has("vae_vqvae_free") else None

    def __init__(self, input_dim=None, hidden=None, latents=None, code_dim=None, codes=None,
                 beta=None, codebook=None, ema_decay=None, ema_eps=None, restart_after=None,
                 seed=None, threads=None, encoder=None, decoder=None, input_shape=None):
        super().__init__()
        _need("vae_vqvae_create")
        self.optimizer = None
        cfg = capi._padded(capi.VqvaeConfig)
        capi._init(cfg, "vqvae_config")
        ints = dict(input_dim=input_dim, n_latents=latents, code_dim=code_dim,
                    codebook_size=codes, restart_after=restart_after, threads=threads)
        for k, v in ints.items():
            if v is not None:
                setattr(cfg, k, as_int(v, k))
        for k, v in dict(beta=beta, ema_decay=ema_decay, ema_eps=ema_eps).items():
            if v is not None:
                setattr(cfg, k, as_float(v, k))
        if seed is not None:
            cfg.seed = as_int(seed, "seed", 0, (1 << 64) - 1)
        if codebook is not None:
            if codebook not in _CODEBOOK:
                raise Error(capi.VAE_ERR_INVALID, "codebook = %r: 'ema' or 'loss'" % (codebook,))
            cfg.codebook_update = _CODEBOOK[codebook]
        if hidden is not None:
            h = (hidden,) if isinstance(hidden, int) else tuple(hidden)
            if len(h) > capi.VAE_MAX_HIDDEN:
                raise Error(capi.VAE_ERR_INVALID, "hidden: at most %d layers" % capi.VAE_MAX_HIDDEN)
            cfg.n_hidden = len(h)
            for i, v in enumerate(h):
                cfg.hidden[i] = as_int(v, "hidden[%d]" % i)
        if encoder is not None:
            cfg.encoder = network_text(encoder, "encoder").encode("ascii")
        if decoder is not None:
            cfg.decoder = network_text(decoder, "decoder").encode("ascii")
        if input_shape is not None:
            set_shape(cfg, input_shape, "input_shape")
        out = ctypes.c_void_p()
        err = capi.VaeError()
        rc = lib.vae_vqvae_create(ctypes.byref(cfg), ctypes.byref(out), ctypes.byref(err))
        if rc != capi.VAE_OK:
            raise_from_error(rc, err)
        self._ptr = out.value
        self._dims()

    def _dims(self):
        cfg = capi._padded(capi.VqvaeConfig)
        capi._init(cfg, "vqvae_config")
        with self._lock:
            self._check(lib.vae_vqvae_get_config(self._h(), ctypes.byref(cfg)))
        self.input_dim, self.latents = cfg.input_dim, cfg.n_latents
        self.code_dim, self.codes = cfg.code_dim, cfg.codebook_size
        self.grid = (1, self.latents)
        if capi.has("vae_vqvae_code_grid"):
            g = (ctypes.c_int * 2)()
            with self._lock:
                self._check(lib.vae_vqvae_code_grid(self._h(), g))
            self.grid = (g[0], g[1])
        #: True when codes come per position of a spatial encoder's map.
        self.spatial = self.grid[0] > 1

    def _check(self, rc):
        return check_handle(rc, lib.vae_vqvae_errmsg, self._ptr)

    def close(self):
        super().close()
        self.optimizer = None

    @property
    def param_count(self):
        with self._lock:
            return lib.vae_vqvae_param_count(self._h())

    @property
    def bits_per_example(self):
        """M * log2 K."""
        with self._lock:
            return lib.vae_vqvae_bits_per_example(self._h())

    def set_threads(self, n):
        with self._lock:
            self._check(lib.vae_vqvae_set_threads(self._h(), as_int(n, "threads")))

    # -- training ---------------------------------------------------------------

    def _opt(self, optimizer):
        if optimizer is not None:
            return optimizer
        if self.optimizer is None or self.optimizer.closed:
            self.optimizer = Optimizer("adam")
        return self.optimizer

    def train_step(self, x, optimizer=None):
        """One step on the rows of x; the batch's VQStats."""
        x = as_rows(x, self.input_dim, "train_step")
        opt = self._opt(optimizer)
        st = capi.VqvaeStats()
        with self._lock, opt._lock:
            self._check(lib.vae_vqvae_train_step(self._h(), opt._h(), fptr(x), x.shape[0],
                                                 ctypes.byref(st)))
        return VQStats._from_c(st)

    @staticmethod
    def _ds(data):
        if isinstance(data, Dataset):
            return data, False
        return Dataset.from_numpy(data, copy=False), True

    def train_epoch(self, data, optimizer=None, batch_size=100, callback=None):
        """One epoch over data (Dataset or (n, input_dim) array); the epoch's VQStats.

        callback(batch, n_batches, running_rec), if given, runs after each
        batch: ``batch`` is the 0-based index of the batch just done (0 ..
        n_batches - 1), running_rec the epoch's mean reconstruction term so
        far (VQStats.rec). A true
        return value stops the epoch (Error VAE_ERR_CANCELLED is raised); an
        exception it raises stops the epoch and is re-raised here.
        """
        ds, temp = self._ds(data)
        opt = self._opt(optimizer)
        st = capi.VqvaeStats()
        prog = _Progress(callback) if callback is not None else None
        try:
            with self._lock, opt._lock:
                rc = lib.vae_vqvae_train_epoch(self._h(), opt._h(), ds._m().ptr,
                                               as_size(batch_size, "batch_size"),
                                               prog.cfunc if prog else capi.NULL_PROGRESS,
                                               None, ctypes.byref(st))
                if prog is not None and prog.exc is not None:
                    raise prog.exc
                self._check(rc)
        finally:
            if temp:
                ds.close()
        return VQStats._from_c(st)

    def fit(self, data, epochs=1, batch_size=100, optimizer=None, callback=None,
            on_epoch=None):
        """Train for `epochs` epochs (train_epoch each); the list of per-epoch VQStats.

        As :meth:`Model.fit`: callback(epoch, batch, n_batches, running_rec)
        runs after every batch (epoch counts from 1, batch from 0) and
        on_epoch(epoch, stats) after every epoch; either may return a true
        value to stop training early, and fit() then returns the epochs
        completed. An exception in a callback stops training and propagates.
        """
        n_epochs = as_int(epochs, "epochs", 0)
        ds, temp = self._ds(data)
        try:
            return fit_epochs(n_epochs,
                              lambda cb: self.train_epoch(ds, optimizer, batch_size, cb),
                              callback, on_epoch)
        finally:
            if temp:
                ds.close()

    def evaluate(self, data, batch_size=100):
        """VQStats over data (no change to the model)."""
        ds, temp = self._ds(data)
        st = capi.VqvaeStats()
        try:
            with self._lock:
                self._check(lib.vae_vqvae_evaluate(self._h(), ds._m().ptr,
                                                   as_size(batch_size, "batch_size"),
                                                   ctypes.byref(st)))
        finally:
            if temp:
                ds.close()
        return VQStats._from_c(st)

    # -- use ----------------------------------------------------------------------

    def encode(self, x):
        """Code indices, an (n, M) int32 array; (n, H, W) grids for a spatial encoder."""
        x = as_rows(x, self.input_dim, "encode")
        out = np.empty((x.shape[0], self.latents), dtype=np.int32)
        with self._lock:
            self._check(lib.vae_vqvae_encode(self._h(), fptr(x), x.shape[0], iptr(out)))
        return out.reshape((x.shape[0],) + self.grid) if self.spatial else out

    def decode(self, codes):
        """Decoder output (probabilities or means) for (n, M) codes."""
        c = np.ascontiguousarray(codes, dtype=np.int32)
        if c.ndim == 3 and self.spatial and c.shape[1:] == self.grid:
            c = c.reshape(c.shape[0], self.latents)
        if c.ndim != 2 or c.shape[1] != self.latents:
            raise Error(capi.VAE_ERR_SHAPE, "decode: codes has shape %s; expected (n, %d)"
                        % (tuple(c.shape), self.latents))
        out = np.empty((c.shape[0], self.input_dim), dtype=np.float32)
        with self._lock:
            self._check(lib.vae_vqvae_decode(self._h(), iptr(c), c.shape[0], fptr(out)))
        return out

    def reconstruct(self, x):
        x = as_rows(x, self.input_dim, "reconstruct")
        out = np.empty_like(x)
        with self._lock:
            self._check(lib.vae_vqvae_reconstruct(self._h(), fptr(x), x.shape[0], fptr(out)))
        return out

    @property
    def codebook(self):
        """A copy of the (K, D) codebook; assign a (K, D) array to replace it."""
        out = np.empty((self.codes, self.code_dim), dtype=np.float32)
        with self._lock:
            self._check(lib.vae_vqvae_get_codebook(self._h(), fptr(out), out.size))
        return out

    @codebook.setter
    def codebook(self, value):
        a = np.ascontiguousarray(value, dtype=np.float32)
        with self._lock:
            self._check(lib.vae_vqvae_set_codebook(self._h(), fptr(a), a.size))

    def fit_prior(self, data, alpha=1.0, batch_size=256):
        """Fit the per-position categorical prior from the codes of data."""
        ds, temp = self._ds(data)
        try:
            with self._lock:
                self._check(lib.vae_vqvae_fit_prior(self._h(), ds._m().ptr,
                                                    as_size(batch_size, "batch_size"),
                                                    as_float(alpha, "alpha")))
        finally:
            if temp:
                ds.close()

    @property
    def prior(self):
        """The fitted prior, (M, K) probabilities (Error if none fitted)."""
        out = np.empty((self.latents, self.codes), dtype=np.float32)
        with self._lock:
            rc = lib.vae_vqvae_get_prior(self._h(), fptr(out), out.size)
        if rc != capi.VAE_OK:
            raise Error(rc, "prior: no prior fitted" if rc == capi.VAE_ERR_UNSUPPORTED else "prior")
        return out

    def sample(self, n):
        """(codes (n, M), decoded (n, input_dim)) drawn from the fitted prior."""
        n = as_size(n, "n")
        codes = np.empty((n, self.latents), dtype=np.int32)
        out = np.empty((n, self.input_dim), dtype=np.float32)
        with self._lock:
            self._check(lib.vae_vqvae_sample(self._h(), n, iptr(codes), fptr(out)))
        return codes, out

    # -- checkpoints ----------------------------------------------------------------

    def save(self, path, optimizer=None):
        p = as_path(path)
        with self._lock:
            if optimizer is None:
                self._check(lib.vae_vqvae_save(self._h(), None, p))
            else:
                with optimizer._lock:
                    self._check(lib.vae_vqvae_save(self._h(), optimizer._h(), p))

    @classmethod
    def load(cls, path, with_optimizer=False):
        _need("vae_vqvae_load")
        out, opt, err = ctypes.c_void_p(), ctypes.c_void_p(), capi.VaeError()
        rc = lib.vae_vqvae_load(as_path(path), ctypes.byref(out), ctypes.byref(opt),
                                ctypes.byref(err))
        if rc != capi.VAE_OK:
            raise_from_error(rc, err)
        self = cls.__new__(cls)
        Handle.__init__(self)
        self._ptr = out.value
        self.optimizer = Optimizer._wrap(opt.value) if opt.value else None
        self._dims()
        return (self, self.optimizer) if with_optimizer else self
