"""Helpers shared by the Python tests: paths from the environment, MNIST via numpy."""
import gzip
import os
import struct
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# Standalone runs (python3 -m unittest from tests/python) find the package in the tree.
if os.path.join(REPO, "python") not in sys.path:
    sys.path.insert(0, os.path.join(REPO, "python"))

import numpy as np  # noqa: E402

MNIST_DIR = os.environ.get("VAE_MNIST_DIR") or os.path.join(REPO, "..", "shared", "data",
                                                              "mnist")
MNIST_IMAGES = os.path.join(MNIST_DIR, "t10k-images-idx3-ubyte.gz")
MNIST_LABELS = os.path.join(MNIST_DIR, "t10k-labels-idx1-ubyte.gz")
HAVE_MNIST = os.path.exists(MNIST_IMAGES)
need_mnist = unittest.skipUnless(HAVE_MNIST, "no MNIST data in %s" % MNIST_DIR)


def vae_train_path():
    """The vae-train executable: $VAE_TRAIN, else <build>/examples/vae-train."""
    p = os.environ.get("VAE_TRAIN")
    if p:
        return p
    lib = os.environ.get("LIBVAE_LIBRARY")
    if lib:
        cand = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(lib))),
                            "examples", "vae-train")
        if os.path.exists(cand):
            return cand
    import libvae
    cand = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(libvae.library_path))),
                        "examples", "vae-train")
    return cand if os.path.exists(cand) else None


def read_idx_numpy(path):
    """An IDX file (gzip or raw) as a numpy array of its element type and shape."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    zero, dtype_code, ndim = raw[0] | raw[1], raw[2], raw[3]
    assert zero == 0, "not an IDX file"
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    dtype = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4",
             0x0E: ">f8"}[dtype_code]
    return np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim).reshape(dims)


def mnist_numpy():
    """The MNIST test images as raw 0..255 values in a float32 (n, 784) array."""
    img = read_idx_numpy(MNIST_IMAGES)
    return img.reshape(img.shape[0], -1).astype(np.float32)


def tmpdir():
    """A fresh temporary directory under $VAE_TEST_TMPDIR (or the system's)."""
    base = os.environ.get("VAE_TEST_TMPDIR")
    if base and not os.path.isdir(base):
        base = None
    return tempfile.TemporaryDirectory(prefix="libvae-py-", dir=base)


def unit_data(n, d, seed=0):
    """n x d float32 values in [0, 1]."""
    return np.random.default_rng(seed).random((n, d), dtype=np.float32)
