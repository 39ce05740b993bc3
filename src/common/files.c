/* Opening input files without blocking on FIFOs (see files.h). */
#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC, fcntl */

#include "common/files.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"

/* What a non-regular file is, for the message. */
static const char *file_kind(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISSOCK(mode))
        return "a socket";
    return "not a file";
}

int vae_open_regular(const char *path, int *fd, char *msg)
{
    *fd = -1;
    /* O_NONBLOCK: opening a FIFO for reading returns at once instead of
     * waiting for a writer; for regular files it has no effect. */
    int f = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (f < 0)
        return vae_fail(msg, VAE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(f, &sb) != 0) {
        int e = errno;
        close(f);
        return vae_fail(msg, VAE_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(f);
        return vae_fail(msg, VAE_ERR_IO, "%s: not a regular file (%s)", path,
                        file_kind(sb.st_mode));
    }
    int flags = fcntl(f, F_GETFL);
    if (flags < 0 || fcntl(f, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(f);
        return vae_fail(msg, VAE_ERR_IO, "%s: cannot set blocking mode: %s", path, strerror(e));
    }
    *fd = f;
    return VAE_OK;
}
