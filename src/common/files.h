/* Opening input files safely (issue 19).
 *
 * Every loader (IDX, CSV, checkpoints) reads regular files only. A FIFO
 * without a writer would block a plain open() forever and a device like
 * /dev/zero never ends, so the check must come before any blocking call:
 * vae_open_regular opens with O_NONBLOCK (which never blocks on a FIFO),
 * fstat()s the descriptor, refuses anything but a regular file, and then
 * clears O_NONBLOCK so reads behave as usual. */
#ifndef VAE_COMMON_FILES_H
#define VAE_COMMON_FILES_H

/* Open path read-only (close-on-exec). On success *fd is the descriptor,
 * owned by the caller, and VAE_OK is returned; otherwise *fd = -1 and
 * VAE_ERR_IO with a message naming the path in msg (VAE_ERRMSG_LEN bytes):
 * "cannot open: <reason>" or "not a regular file (a FIFO)" and the like. */
int vae_open_regular(const char *path, int *fd, char *msg);

#endif
