"""libvae.Dataset: vae_dataset (IDX, CSV or numpy arrays)."""

import ctypes
import threading

import numpy as np

from . import capi
from ._errors import Error, raise_from_error, type_error
from ._util import (as_array, as_float, as_int, as_path, as_size, enum_value, fptr, iptr)

lib = capi.lib

SCALES = {"auto": capi.VAE_SCALE_AUTO, "none": capi.VAE_SCALE_NONE,
          "255": capi.VAE_SCALE_255, "minmax": capi.VAE_SCALE_MINMAX}
BINARIZE = {"none": capi.VAE_BINARIZE_NONE, "threshold": capi.VAE_BINARIZE_THRESHOLD,
            "dynamic": capi.VAE_BINARIZE_DYNAMIC}


class _Memory:
    """The C dataset itself, freed when the last reference goes.

    Dataset holds one reference until close(); numpy() views and running C
    calls hold others, so the memory they read stays valid. `keep` holds
    the borrowed numpy array of a VAE_ARRAY_BORROW dataset.
    """
    __slots__ = ("ptr", "keep")
    _free_fn = lib.vae_dataset_free

    def __init__(self, ptr, keep=None):
        self.ptr = ptr
        self.keep = keep

    def __del__(self):
        p, self.ptr = self.ptr, None
        if p:
            try:
                type(self)._free_fn(p)
            except Exception:
                pass


def _scale_value(scale):
    """None -> VAE_SCALE_AUTO; a name from SCALES; 255 -> VAE_SCALE_255; else the enum int."""
    if scale is None:
        return capi.VAE_SCALE_AUTO
    if isinstance(scale, str):
        return enum_value(scale, SCALES, "scale")
    if not isinstance(scale, bool) and scale == 255:
        return capi.VAE_SCALE_255
    return as_int(scale, "scale")


def _options(scale=None, binarize="none", threshold=0.5, csv_header=None,
             csv_label_column=None):
    o = capi.new_dataset_options()
    o.scale = _scale_value(scale)
    if binarize is not None:
        o.binarize = enum_value(binarize, BINARIZE, "binarize")
    if threshold is not None:
        o.threshold = as_float(threshold, "threshold")
    if csv_header is not None:
        o.csv_header = 1 if csv_header else 0
    if csv_label_column is not None:
        o.csv_label_column = as_int(csv_label_column, "label_column")
    return o


class Dataset:
    """An immutable table of n examples of d float32 features (vae_dataset).

    Make one with :meth:`from_numpy`, :meth:`from_idx`, :meth:`from_csv` or
    :meth:`subset`. ``len(ds)`` is n, ``ds.dim`` is d. close() (or a
    ``with`` block, or garbage collection) frees it; the memory stays until
    the numpy() views of it are gone too.
    """

    def __init__(self, _ptr=None, _keep=None):
        if _ptr is None:
            raise type_error("use Dataset.from_numpy, from_idx, from_csv or subset")
        self._mem = _Memory(_ptr, _keep)
        self._lock = threading.Lock()

    # -- creation ---------------------------------------------------------

    @staticmethod
    def _create(fn, *args):
        out = ctypes.c_void_p()
        err = capi.VaeError()
        rc = fn(*args, ctypes.byref(out), ctypes.byref(err))
        if rc != capi.VAE_OK:
            raise_from_error(rc, err)
        return out.value

    @classmethod
    def from_numpy(cls, x, labels=None, conditions=None, copy=True, scale=None,
                   binarize="none", threshold=0.5):
        """A dataset from an (n, d) array (vae_dataset_from_array).

        x is converted to C-contiguous float32 (a copy only when it is not
        already); arrays of more than 2 dimensions are flattened per example
        like IDX images. copy=False borrows the (converted) array: the
        dataset keeps a reference to it, and it must not be modified while
        the dataset lives. scale: None (as given), 'none', '255' (divide by
        255, in float32, exactly as the IDX loader) or 'minmax'; scaling
        needs copy=True. binarize: 'none', 'threshold' (> threshold) or
        'dynamic' (redrawn each epoch). labels: n integers, or None.
        conditions: an (n, cond_dim) array of condition vectors for a
        conditional model (copied, see :meth:`set_conditions`), or None.
        """
        x = as_array(x, "Dataset.from_numpy")
        if x.ndim < 2:
            raise Error(capi.VAE_ERR_SHAPE, "Dataset.from_numpy: x has shape %s; expected "
                        "(n, d) (or (n, ...) flattened per example)" % (tuple(x.shape),))
        if x.ndim > 2:
            x = x.reshape(x.shape[0], -1)
        x = np.ascontiguousarray(x, dtype=np.float32)
        n, d = x.shape
        lab = None
        if labels is not None:
            lab = as_array(labels, "Dataset.from_numpy", "labels")
            if lab.dtype.kind == "f":
                if not np.all(np.isfinite(lab)) or not np.all(lab == np.round(lab)):
                    raise Error(capi.VAE_ERR_INVALID,
                                "Dataset.from_numpy: labels must be integers")
            if lab.ndim != 1 or lab.shape[0] != n:
                raise Error(capi.VAE_ERR_SHAPE, "Dataset.from_numpy: labels have shape %s; "
                            "expected (%d,)" % (tuple(lab.shape), n))
            if lab.size and (lab.min() < -(1 << 31) or lab.max() > (1 << 31) - 1):
                raise Error(capi.VAE_ERR_INVALID,
                            "Dataset.from_numpy: labels do not fit a C int")
            lab = np.ascontiguousarray(lab, dtype=np.intc)
        opt = _options(scale, binarize, threshold)
        mode = capi.VAE_ARRAY_COPY if copy else capi.VAE_ARRAY_BORROW
        ptr = cls._create(lib.vae_dataset_from_array, fptr(x), n, d, iptr(lab), mode,
                          ctypes.byref(opt))
        ds = cls(ptr, None if copy else x)
        if conditions is not None:
            try:
                ds.set_conditions(conditions)
            except Error as e:
                ds.close()
                raise Error(e.status, "Dataset.from_numpy: %s" % e.message) from None
        return ds

    @classmethod
    def from_idx(cls, images, labels=None, scale=None, binarize="none", threshold=0.5):
        """Images (and optional labels) from IDX files, raw or gzip (vae_dataset_load_idx).

        uint8 images are divided by 255 unless scale says otherwise.
        """
        opt = _options(scale, binarize, threshold)
        ptr = cls._create(lib.vae_dataset_load_idx, as_path(images, "images"),
                          None if labels is None else as_path(labels, "labels"),
                          ctypes.byref(opt))
        return cls(ptr)

    @classmethod
    def from_csv(cls, path, header=False, label_column=None, scale=None, binarize="none",
                 threshold=0.5):
        """A CSV file of numbers, one example per line (vae_dataset_load_csv).

        header=True skips the first line; label_column (0-based) is taken out
        of the features as integer labels.
        """
        opt = _options(scale, binarize, threshold, csv_header=header,
                       csv_label_column=-1 if label_column is None else label_column)
        ptr = cls._create(lib.vae_dataset_load_csv, as_path(path), ctypes.byref(opt))
        return cls(ptr)

    def subset(self, first, count):
        """A new dataset of rows [first, first + count), copied (vae_dataset_subset)."""
        mem = self._m()
        ptr = self._create(lib.vae_dataset_subset, mem.ptr, as_size(first, "first"),
                           as_size(count, "count"))
        return Dataset(ptr)

    def gather(self, rows, seed, key):
        """Rows `rows` (a sequence of indices) as an (n, dim) float32 array,
        binarised as the dataset says; dynamic binarisation is keyed by
        (seed, key, row) (vae_dataset_gather)."""
        if not capi.has("vae_dataset_gather"):
            raise NotImplementedError("libvae: gather needs vae_dataset_gather (libvae >= 0.3.0)")
        idx = np.ascontiguousarray(np.asarray(rows, dtype=np.uint64).reshape(-1)).astype(
            np.dtype(ctypes.c_size_t))
        mem = self._m()
        out = np.empty((idx.size, self.dim), dtype=np.float32)
        err = capi.VaeError()
        rc = lib.vae_dataset_gather(mem.ptr, idx.ctypes.data_as(ctypes.POINTER(ctypes.c_size_t)),
                                    idx.size, as_size(seed, "seed"), as_size(key, "key"),
                                    fptr(out), ctypes.byref(err))
        if rc != capi.VAE_OK:
            raise_from_error(rc, err)
        return out

    def gather_cond(self, rows):
        """The conditions of rows `rows` as an (n, cond_dim) float32 array
        (vae_dataset_gather_cond, libvae >= 0.4.0)."""
        if not capi.has("vae_dataset_gather_cond"):
            raise NotImplementedError("libvae: gather_cond needs vae_dataset_gather_cond "
                                      "(libvae >= 0.4.0)")
        idx = np.ascontiguousarray(np.asarray(rows, dtype=np.uint64).reshape(-1)).astype(
            np.dtype(ctypes.c_size_t))
        mem = self._m()
        out = np.empty((idx.size, max(1, lib.vae_dataset_cond_dim(mem.ptr))), dtype=np.float32)
        err = capi.VaeError()
        rc = lib.vae_dataset_gather_cond(mem.ptr,
                                         idx.ctypes.data_as(ctypes.POINTER(ctypes.c_size_t)),
                                         idx.size, fptr(out), ctypes.byref(err))
        if rc != capi.VAE_OK:
            raise_from_error(rc, err)
        return out

    # -- queries ----------------------------------------------------------

    def _m(self):
        mem = self._mem
        if mem is None:
            raise Error(capi.VAE_ERR_NULL, "dataset is closed")
        return mem

    def __len__(self):
        return lib.vae_dataset_count(self._m().ptr)

    @property
    def count(self):
        """Number of examples (vae_dataset_count)."""
        return lib.vae_dataset_count(self._m().ptr)

    @property
    def dim(self):
        """Features per example (vae_dataset_dim)."""
        return lib.vae_dataset_dim(self._m().ptr)

    @property
    def shape(self):
        mem = self._m()
        return (lib.vae_dataset_count(mem.ptr), lib.vae_dataset_dim(mem.ptr))

    @property
    def has_labels(self):
        return bool(lib.vae_dataset_has_labels(self._m().ptr))

    @staticmethod
    def _view(mem, addr, ctype, dtype, shape):
        count = 1
        for s in shape:
            count *= s
        buf = (ctype * count).from_address(addr)
        buf._owner = mem            # the view keeps the C dataset alive
        a = np.frombuffer(buf, dtype=dtype).reshape(shape)
        a.flags.writeable = False
        return a

    def numpy(self):
        """A read-only, zero-copy (n, d) float32 view of the stored features.

        The values are scaled but not binarised (vae_dataset_data). The view
        keeps the dataset's memory alive, even after close(). A dataset read
        from an IDX u8 file stores bytes: its first numpy() call makes the
        float copy (n * d * 4 bytes) the view shows, owned by the dataset;
        Error(VAE_ERR_NOMEM) when that copy cannot be allocated.
        """
        mem = self._m()
        n, d = lib.vae_dataset_count(mem.ptr), lib.vae_dataset_dim(mem.ptr)
        p = lib.vae_dataset_data(mem.ptr)
        if not p:
            raise Error(capi.VAE_ERR_NOMEM, (lib.vae_dataset_errmsg(mem.ptr) or b"").decode()
                        or "vae_dataset_data: out of memory")
        return self._view(mem, ctypes.addressof(p.contents), ctypes.c_float, np.float32, (n, d))

    def labels(self):
        """A read-only zero-copy int32 view of the n labels, or None (vae_dataset_labels)."""
        mem = self._m()
        p = lib.vae_dataset_labels(mem.ptr)
        if not p:
            return None
        n = lib.vae_dataset_count(mem.ptr)
        return self._view(mem, ctypes.addressof(p.contents), ctypes.c_int, np.intc, (n,))

    def set_binarize(self, mode, threshold=0.5):
        """How batches drawn from the dataset are binarised (vae_dataset_set_binarize).

        mode: 'none', 'threshold' (1 if v > threshold) or 'dynamic'.
        """
        m = enum_value(mode, BINARIZE, "binarize")
        t = as_float(threshold, "threshold")
        with self._lock:
            mem = self._m()
            rc = lib.vae_dataset_set_binarize(mem.ptr, m, t)
            if rc != capi.VAE_OK:
                raise Error(rc, (lib.vae_dataset_errmsg(mem.ptr) or b"").decode())

    # -- conditions (0.3.0) -----------------------------------------------

    def _call(self, fn, *args):
        """A status call on the dataset, under its lock; Error with its errmsg."""
        with self._lock:
            mem = self._m()
            rc = fn(mem.ptr, *args)
            if rc != capi.VAE_OK:
                raise Error(rc, (lib.vae_dataset_errmsg(mem.ptr) or b"").decode())

    def set_conditions(self, c):
        """Attach condition vectors for a conditional model: an (n, cond_dim)
        array, one row per example, copied (vae_dataset_set_conditions). They
        replace earlier ones and follow their examples through subset() and
        the epoch shuffle; they are not scaled or binarised."""
        if not capi.has("vae_dataset_set_conditions"):
            raise NotImplementedError("libvae: set_conditions needs libvae >= 0.3.0")
        c = as_array(c, "set_conditions", "c")
        if c.ndim == 1:
            c = c.reshape(-1, 1)
        if c.ndim != 2:
            raise Error(capi.VAE_ERR_SHAPE, "set_conditions: c has shape %s; expected "
                        "(n, cond_dim)" % (tuple(c.shape),))
        c = np.ascontiguousarray(c, dtype=np.float32)
        self._call(lib.vae_dataset_set_conditions, fptr(c), c.shape[0], c.shape[1])

    def set_onehot(self, n_classes):
        """Attach one-hot conditions from the labels: example i gets n_classes
        floats with a 1 at labels[i] (vae_dataset_set_onehot)."""
        if not capi.has("vae_dataset_set_onehot"):
            raise NotImplementedError("libvae: set_onehot needs libvae >= 0.3.0")
        self._call(lib.vae_dataset_set_onehot, as_int(n_classes, "n_classes"))

    @property
    def cond_dim(self):
        """Condition features per example; 0 without conditions (vae_dataset_cond_dim)."""
        if not capi.has("vae_dataset_cond_dim"):
            return 0
        return lib.vae_dataset_cond_dim(self._m().ptr)

    def conditions(self):
        """A copy of the conditions as an (n, cond_dim) float32 array, or None
        (vae_dataset_conditions). A copy, not a view: set_conditions and
        set_onehot free the C buffer a view would point into."""
        if not capi.has("vae_dataset_conditions"):
            return None
        with self._lock:
            mem = self._m()
            p = lib.vae_dataset_conditions(mem.ptr)
            if not p:
                return None
            n, cd = lib.vae_dataset_count(mem.ptr), lib.vae_dataset_cond_dim(mem.ptr)
            return np.ctypeslib.as_array(p, shape=(n, cd)).copy()

    # -- lifetime ---------------------------------------------------------

    def close(self):
        """Release the dataset (idempotent). Its memory is freed once no
        numpy() view of it and no running call uses it."""
        self._mem = None

    @property
    def closed(self):
        return self._mem is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        if self._mem is None:
            return "<libvae.Dataset closed>"
        n, d = self.shape
        cd = self.cond_dim
        return "<libvae.Dataset %d x %d%s%s>" % (n, d, ", labels" if self.has_labels else "",
                                                 ", %d conditions" % cd if cd else "")


def version_string():
    return lib.vae_version_string().decode()
