/* Parameters as a .safetensors file (docs/format.md, "safetensors").
 *
 * The format: an 8-byte little-endian u64 N, N bytes of a JSON object
 *   {"__metadata__": {"key": "value", ...},
 *    "name": {"dtype": "F32", "shape": [r, c], "data_offsets": [begin, end]}, ...}
 * then the tensors' little-endian bytes; offsets count from the first byte
 * after the header. 2-D tensors only; written as F32, read as F32, F16,
 * BF16 or F64 (converted to float32: see safetensors.c).
 *
 * The caller lists the tensors (names, [rows, cols]); vst_write writes them
 * atomically (temporary file + fsync + rename); vst_read checks a file
 * against the list (every name present once, no other, a dtype it reads, the exact
 * shape, offsets that tile the data section exactly, finite values) and
 * fills each tensor's dst. On failure dst buffers may be partly written:
 * the caller reads into scratch and copies only after VAE_OK. */
#ifndef VAE_IO_SAFETENSORS_H
#define VAE_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

/* Largest JSON header the reader accepts (the reference implementation's
 * limit); a larger declared length is refused before any allocation. */
#define VST_MAX_HEADER ((uint64_t)100000000)

typedef struct vst_tensor {
    const char *name;      /* printable ASCII, no '"' or '\\' */
    uint64_t rows, cols;   /* shape [rows, cols] */
    const float *src;      /* vst_write: rows*cols values */
    float *dst;            /* vst_read: receives rows*cols values */
} vst_tensor;

typedef struct vst_meta {
    const char *key, *value;  /* NUL-terminated; escaped as JSON strings */
} vst_meta;

/* Write the n tensors (and the metadata) to path atomically. VAE_OK, or
 * VAE_ERR_NONFINITE (a value, named), VAE_ERR_LIMIT, VAE_ERR_NOMEM,
 * VAE_ERR_IO with msg (VAE_ERRMSG_LEN bytes); path is untouched on failure. */
int vst_write(const char *path, const vst_tensor *t, size_t n, const vst_meta *meta,
              size_t n_meta, char *msg);

/* Read path into the n tensors' dst. VAE_OK, or VAE_ERR_IO (cannot open or
 * read, not a regular file), VAE_ERR_FORMAT (truncated, bad JSON, a missing,
 * unknown or duplicate tensor, wrong dtype or shape, bad offsets),
 * VAE_ERR_LIMIT (header length above VST_MAX_HEADER), VAE_ERR_NONFINITE,
 * VAE_ERR_NOMEM, with msg naming the file and the tensor. */
int vst_read(const char *path, const vst_tensor *t, size_t n, char *msg);

#endif
