"""Parameters to and from .safetensors files (vae_*_export/import_safetensors).

Attached to :class:`libvae.Model` and :class:`libvae.VQVAE` as the methods
``export_safetensors(path)`` and ``import_safetensors(path)``, and
:func:`read_safetensors` reads such a file with numpy alone (for
inspection or for converting to another framework; see
examples/python/to_pytorch.py). The names, shapes and layout are in
docs/format.md ("safetensors").
"""
import json
import struct

import numpy as np

from . import capi
from ._errors import Error
from ._util import as_path

lib = capi.lib

_MAX_HEADER = 100000000


def _call(obj, fn_name, path, errmsg):
    if not capi.has(fn_name):
        raise Error(capi.VAE_ERR_UNSUPPORTED, "the loaded library has no %s" % fn_name)
    p = as_path(path)
    with obj._lock:
        h = obj._h()
        rc = getattr(lib, fn_name)(h, p)
        if rc != capi.VAE_OK:
            raise Error(rc, errmsg(h).decode("utf-8", "replace"))


def _model_export(self, path):
    """Write the parameters to a .safetensors file (vae_model_export_safetensors).

    One float32 tensor per entry of :meth:`param_tensors`, same names and
    shapes (libvae layout), and the architecture as ``__metadata__``
    strings. Written under a temporary name and renamed.
    """
    _call(self, "vae_model_export_safetensors", path, lib.vae_model_errmsg)


def _model_import(self, path):
    """Replace the parameters with a .safetensors file's (vae_model_import_safetensors).

    Every tensor of the model must be there once, F32, F16, BF16 or F64
    (converted to float32: the halves exactly, F64 to nearest), with its
    exact shape, and nothing else; on any error libvae.Error is raised and
    the model is unchanged.
    """
    _call(self, "vae_model_import_safetensors", path, lib.vae_model_errmsg)


def _vq_export(self, path):
    """Write the parameters and codebook to a .safetensors file (vae_vqvae_export_safetensors)."""
    _call(self, "vae_vqvae_export_safetensors", path, lib.vae_vqvae_errmsg)


def _vq_import(self, path):
    """Replace the parameters and codebook with a file's (vae_vqvae_import_safetensors)."""
    _call(self, "vae_vqvae_import_safetensors", path, lib.vae_vqvae_errmsg)


def _f32_from(raw, dtype, path, name):
    """A tensor's little-endian bytes in dtype as float32, as libvae reads them."""
    if dtype == "F32":
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if dtype == "F16":
        return np.frombuffer(raw, dtype="<f2").astype(np.float32)  # exact
    if dtype == "BF16":  # float32's upper half
        return (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    d = np.frombuffer(raw, dtype="<f8")
    with np.errstate(over="ignore"):
        f = d.astype(np.float32)  # to nearest
    if np.any(np.isinf(f) & np.isfinite(d)):
        raise ValueError("%s: tensor %r: an F64 value is beyond float32's range" % (path, name))
    return f


_DTYPE_SIZE = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8}


def read_safetensors(path):
    """Read a .safetensors file with numpy: (tensors, metadata).

    tensors is a dict name -> numpy array (float32, the file's shape, in
    file order; F16, BF16 and F64 tensors converted as libvae's import
    converts them); metadata the ``__metadata__`` dict (empty if none).
    Raises ValueError for a malformed file or another dtype.
    """
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise ValueError("%s: too short for a safetensors file" % path)
        (n,) = struct.unpack("<Q", raw)
        if n > _MAX_HEADER:
            raise ValueError("%s: header length %d is absurd" % (path, n))
        head = f.read(n)
        if len(head) != n:
            raise ValueError("%s: truncated header" % path)
        data = f.read()
    header = json.loads(head.decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, e in header.items():
        size = _DTYPE_SIZE.get(e["dtype"])
        if size is None:
            raise ValueError("%s: tensor %r has dtype %s (F32, F16, BF16 or F64 expected)"
                             % (path, name, e["dtype"]))
        b, end = e["data_offsets"]
        shape = tuple(int(d) for d in e["shape"])
        if not 0 <= b <= end <= len(data) or end - b != size * int(np.prod(shape, dtype=np.int64)):
            raise ValueError("%s: tensor %r: bad data_offsets" % (path, name))
        tensors[name] = _f32_from(data[b:end], e["dtype"], path, name).reshape(shape)
    return tensors, meta


def write_safetensors(path, tensors, metadata=None):
    """Write a dict name -> float32 array as a .safetensors file (numpy only).

    The arrays are written in the dict's order, C-contiguous little-endian;
    metadata is a dict of strings. Not atomic (use the library's export for
    a model's own parameters).
    """
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs, off = [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(np.asarray(a, dtype="<f4"))
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def attach(model_cls, vq_cls):
    """Give Model and VQVAE their export_safetensors/import_safetensors methods."""
    model_cls.export_safetensors = _model_export
    model_cls.import_safetensors = _model_import
    vq_cls.export_safetensors = _vq_export
    vq_cls.import_safetensors = _vq_import
