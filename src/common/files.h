/* Opening input files safely (issue 19), and writing output files atomically.
 *
 * Every loader (IDX, CSV, checkpoints) reads regular files only. A FIFO
 * without a writer would block a plain open() forever and a device like
 * /dev/zero never ends, so the check must come before any blocking call:
 * vae_open_regular opens with O_NONBLOCK (which never blocks on a FIFO),
 * fstat()s the descriptor, refuses anything but a regular file, and then
 * clears O_NONBLOCK so reads behave as usual. */
#ifndef VAE_COMMON_FILES_H
#define VAE_COMMON_FILES_H

#include <stddef.h>

/* Open path read-only (close-on-exec). On success *fd is the descriptor,
 * owned by the caller, and VAE_OK is returned; otherwise *fd = -1 and
 * VAE_ERR_IO with a message naming the path in msg (VAE_ERRMSG_LEN bytes):
 * "cannot open: <reason>" or "not a regular file (a FIFO)" and the like. */
int vae_open_regular(const char *path, int *fd, char *msg);

/* write() until all n bytes are out (retrying EINTR); 0 or an errno value. */
int vae_write_all(int fd, const void *p, size_t n);

/* The body of an atomically written file: writes its content to fd and
 * returns 0 or an errno value. */
typedef int (*vae_file_body)(int fd, const void *ctx);

/* Write path atomically (checkpoints, safetensors exports): body writes to
 * "<path>.tmp.<pid>.<n>", created exclusively beside it (mode 0666 less the
 * umask, as for any new file; unique among processes by the pid and among
 * threads by O_EXCL and retrying); the data is fsync'ed, the file renamed
 * over path and the directory synced, so a crash leaves either the old file
 * or the whole new one. On failure the temporary file is removed, path is
 * untouched, and VAE_ERR_IO is returned with a message naming path. */
int vae_write_atomic(const char *path, vae_file_body body, const void *ctx, char *msg);

#endif
