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

    Every tensor of the model must be there once, float32, with its exact
    shape, and nothing else; on any error libvae.Error is raised and the
    model is unchanged.
    """
    _call(self, "vae_model_import_safetensors", path, lib.vae_model_errmsg)


def _vq_export(self, path):
    """Write the parameters and codebook to a .safetensors file (vae_vqvae_export_safetensors)."""
    _call(self, "vae_vqvae_export_safetensors", path, lib.vae_vqvae_errmsg)


def _vq_import(self, path):
    """Replace the parameters and codebook with a file's (vae_vqvae_import_safetensors)."""
    _call(self, "vae_vqvae_import_safetensors", path, lib.vae_vqvae_errmsg)


def read_safetensors(path):
    """Read a float32 .safetensors file with numpy: (tensors, metadata).

    tensors is a dict name -> numpy array (float32, the file's shape, in
    file order); metadata the ``__metadata__`` dict (empty if none).
    Raises ValueError for a malformed file.
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
        if e["dtype"] != "F32":
            raise ValueError("%s: tensor %r has dtype %s (F32 expected)" % (path, name, e["dtype"]))
        b, end = e["data_offsets"]
        shape = tuple(int(d) for d in e["shape"])
        if not 0 <= b <= end <= len(data) or end - b != 4 * int(np.prod(shape, dtype=np.int64)):
            raise ValueError("%s: tensor %r: bad data_offsets" % (path, name))
        tensors[name] = np.frombuffer(data[b:end], dtype="<f4").reshape(shape).astype(np.float32)
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
