"""Pictures: write image grids as PNG files (vae_png_write_grid)."""

import numpy as np

from . import capi
from ._errors import Error, raise_from_error
from ._util import as_array, as_path, as_size, fptr


def write_png_grid(path, images, cols=10, shape=None):
    """Write grayscale images as one 8-bit PNG grid (vae_png_write_grid).

    Arguments:
        path:   the file to write (str or os.PathLike); written whole, as the
                library writes checkpoints.
        images: (n, height, width), or (n, d) with shape=(height, width)
                given (e.g. decoder means of a 784-dimensional model with
                shape=(28, 28)); any real dtype, values in [0, 1] (clamped;
                0 black, 1 white).
        cols:   images per row (the last row may be partly empty); 2-pixel
                mid-gray gaps between cells.
        shape:  (height, width) of an image when images is 2-D.

    Returns None. Raises ArgumentValueError (a ValueError) for a wrong shape
    or value, ArgumentTypeError for a non-numeric array, libvae.Error
    (VAE_ERR_IO) when the file cannot be written.

    Example::

        libvae.write_png_grid("samples.png", model.sample(100), cols=10, shape=(28, 28))
    """
    a = as_array(images, "write_png_grid", "images")
    if shape is not None:
        h, w = (as_size(shape[0], "shape[0]"), as_size(shape[1], "shape[1]"))
        if a.ndim != 2 or a.shape[1] != h * w:
            raise Error(capi.VAE_ERR_SHAPE, "write_png_grid: images has shape %s; expected "
                        "(n, %d) for shape=(%d, %d)" % (tuple(a.shape), h * w, h, w))
    else:
        if a.ndim != 3:
            raise Error(capi.VAE_ERR_SHAPE, "write_png_grid: images has shape %s; expected "
                        "(n, height, width) or shape=(height, width)" % (tuple(a.shape),))
        h, w = a.shape[1], a.shape[2]
    a = np.ascontiguousarray(a, dtype=np.float32)
    err = capi.VaeError()
    st = capi.lib.vae_png_write_grid(as_path(path), fptr(a), a.shape[0], h, w,
                                     as_size(cols, "cols"), err)
    if st != capi.VAE_OK:
        raise_from_error(st, err)
