/* Checkpoint container: a file of named, typed, shaped tensors with a
 * CRC-32 over the payload (layout in docs/format.md).
 *
 * Writing builds the payload in memory (vio_writer), then vio_writer_commit
 * writes header + payload + CRC to a temporary file beside the target,
 * fsyncs it, renames it over the target and fsyncs the directory.
 *
 * Reading (vio_file_read) loads and validates the whole file — magic,
 * version, sizes against the file length, CRC, every record's bounds —
 * before anything is handed out; lookups then return borrowed pointers to
 * host-order, aligned copies of the tensors, valid until vio_file_free.
 * All multi-byte values are little-endian on disk.
 */
#ifndef VAE_IO_CKPT_H
#define VAE_IO_CKPT_H

#include <stddef.h>
#include <stdint.h>

#define VIO_MAX_DIMS 4
#define VIO_MAX_NAME 255
/* Largest checkpoint file the reader accepts (16 GiB); the writer refuses
 * to build a larger one (VAE_ERR_LIMIT). */
#define VIO_MAX_FILE_BYTES ((uint64_t)1 << 34)

enum vio_dtype {
    VIO_F32 = 1,  /* IEEE float32 */
    VIO_I64 = 2,  /* two's-complement int64 */
    VIO_F64 = 3,  /* IEEE float64 */
    VIO_U64 = 4,  /* uint64 */
    VIO_U8 = 5    /* bytes; 1-D u8 tensors hold texts (since 0.4.0) */
};

typedef struct vio_writer vio_writer;

/* A new, empty writer; NULL when out of memory. */
vio_writer *vio_writer_new(void);

/* Append a tensor record. ndim in [0, VIO_MAX_DIMS] (0 = scalar, 1 element);
 * name 1..VIO_MAX_NAME printable ASCII bytes (0x20..0x7E), unique. data
 * holds prod(dims) elements in host order (may be NULL when that is 0).
 * Returns VAE_OK or VAE_ERR_NOMEM / VAE_ERR_INVALID / VAE_ERR_LIMIT
 * (the file would exceed VIO_MAX_FILE_BYTES) with msg filled; on failure
 * the writer is unchanged. */
int vio_writer_add(vio_writer *w, const char *name, int dtype, int ndim, const uint64_t *dims,
                   const void *data, char *msg);

/* Convenience: scalar records. */
int vio_writer_add_i64(vio_writer *w, const char *name, int64_t v, char *msg);
int vio_writer_add_f64(vio_writer *w, const char *name, double v, char *msg);
/* A text (printable ASCII, no NUL) as a 1-D u8 record. */
int vio_writer_add_text(vio_writer *w, const char *name, const char *text, char *msg);

/* Write atomically to path (temp file + fsync + rename). The writer stays
 * valid and must still be freed. Returns VAE_OK or VAE_ERR_IO with msg. */
int vio_writer_commit(vio_writer *w, const char *path, char *msg);

/* Free the writer (NULL is a no-op). */
void vio_writer_free(vio_writer *w);

typedef struct vio_tensor {
    const char *name;         /* NUL-terminated copy */
    int dtype;
    int ndim;
    uint64_t dims[VIO_MAX_DIMS];
    uint64_t count;           /* prod(dims) */
    const void *data;         /* count elements, converted to host order, suitably aligned */
} vio_tensor;

typedef struct vio_file vio_file;

/* Read and validate a whole checkpoint. On failure returns VAE_ERR_IO,
 * VAE_ERR_FORMAT, VAE_ERR_LIMIT or VAE_ERR_NOMEM with msg filled and *out = NULL. */
int vio_file_read(const char *path, vio_file **out, char *msg);

void vio_file_free(vio_file *f);

size_t vio_file_count(const vio_file *f);
const vio_tensor *vio_file_at(const vio_file *f, size_t i);

/* The tensor called name, or NULL. */
const vio_tensor *vio_file_find(const vio_file *f, const char *name);

/* Find name and check its dtype and element count: returns VAE_OK, or
 * VAE_ERR_FORMAT with msg naming the tensor ("missing", "dtype", "shape"). */
int vio_file_expect(const vio_file *f, const char *name, int dtype, uint64_t count,
                    const vio_tensor **out, char *msg);

/* Scalar getters: VAE_ERR_FORMAT with msg if missing or not a 1-element tensor of that type. */
int vio_file_i64(const vio_file *f, const char *name, int64_t *v, char *msg);
int vio_file_f64(const vio_file *f, const char *name, double *v, char *msg);
/* A text record (1-D u8 of printable ASCII, shorter than cap) into buf,
 * NUL-terminated. VAE_ERR_FORMAT when missing or not such a text. */
int vio_file_text(const vio_file *f, const char *name, char *buf, size_t cap, char *msg);

#endif
