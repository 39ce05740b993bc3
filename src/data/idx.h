/* IDX file reader (the MNIST format), raw or gzip-compressed.
 *
 * An IDX file is a 4-byte magic (0x00 0x00 type rank), rank big-endian
 * uint32 dimensions, then the elements in row-major order, big-endian.
 * Only element types u8 (0x08) and f32 (0x0D) are read. Sizes claimed by
 * the header are checked against the limits below before anything large is
 * allocated, and the output buffer grows with the data actually read, so a
 * tiny file claiming a huge size cannot make the reader allocate much. A
 * claim larger than the file can hold (its size for raw files, 1040 times
 * it for gzip, the most deflate can expand) is refused before reading. Only
 * regular files are opened (common/files.h): a FIFO is refused at once.
 *
 * Both readers write a message naming the file into msg (VAE_ERRMSG_LEN
 * bytes) on failure, leave their outputs untouched, and return a status:
 * VAE_ERR_IO (cannot open or read), VAE_ERR_FORMAT (bad magic, unsupported
 * type or rank, zero dimension, truncated, trailing data, corrupt gzip),
 * VAE_ERR_LIMIT, VAE_ERR_NONFINITE (NaN/Inf in f32 data), VAE_ERR_NOMEM.
 */
#ifndef VAE_DATA_IDX_H
#define VAE_DATA_IDX_H

#include <stddef.h>

/* The most examples (first dimension) and values per example accepted. */
#define VDS_MAX_EXAMPLES ((size_t)1 << 28)
#define VDS_MAX_VALUES ((size_t)1 << 24)

/* IDX element type codes (the third magic byte). */
enum vds_idx_type {
    VDS_IDX_U8 = 0x08,
    VDS_IDX_F32 = 0x0D
};

/* Read an images file of rank >= 2: *n examples of *d values each (d is the
 * product of the dimensions after the first; shape receives the sample
 * shape: (1, H, W) for rank 3, (C, H, W) for rank 4, else (d, 1, 1)) into a new malloc'd array *x
 * (freed by the caller). *type receives the element type (enum
 * vds_idx_type), which says what *x holds: for VDS_IDX_U8 the n*d bytes as
 * stored (1 byte per value, nothing converted), for VDS_IDX_F32 n*d floats
 * (checked finite, not scaled). */
int vds_idx_read_images(const char *path, void **x, size_t *n, size_t *d, int *type,
                        int shape[3], char *msg);

/* Read a labels file of rank 1 and type u8 into a new malloc'd array of
 * *n ints (freed by the caller). */
int vds_idx_read_labels(const char *path, int **labels, size_t *n, char *msg);

/* The same for the labels of n_images images (0: any count): a header
 * claiming another count is refused (VAE_ERR_SHAPE) right after the 8-byte
 * header, before anything is allocated for the labels. */
int vds_idx_read_labels_for(const char *path, size_t n_images, int **labels, size_t *n,
                            char *msg);

#endif
