/* Opening input files without blocking on FIFOs, writing output files
 * atomically (see files.h). */
#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC, fcntl */

#include "common/files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
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

/* write() until everything is out; 0, or an errno value. */
int vae_write_all(int fd, const void *data, size_t n)
{
    const unsigned char *p = data;
    while (n > 0) {
        size_t chunk = n < ((size_t)1 << 30) ? n : ((size_t)1 << 30);
        ssize_t k = write(fd, p, chunk);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Create "<path>.tmp.<pid>.<n>" exclusively. The name is unique among
 * processes (pid) and, through O_EXCL and retrying, among threads, without
 * any global counter; open() with 0666 lets the umask decide the mode as it
 * would for any new file (mkstemp would force 0600). Returns the fd, or -1
 * with *err set. The caller frees *tmp. */
static int create_temp(const char *path, const void *salt, char **tmp, int *err)
{
    size_t size = strlen(path) + 64;
    char *name = malloc(size);
    if (!name) {
        *err = ENOMEM;
        return -1;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* Start from a value that differs between concurrent writers. */
    unsigned long n = (unsigned long)ts.tv_nsec ^ (unsigned long)(uintptr_t)salt;
    for (int attempt = 0; attempt < 1000; attempt++, n++) {
        snprintf(name, size, "%s.tmp.%ld.%lu", path, (long)getpid(), n % 1000000000ul);
        int fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) {
            *tmp = name;
            return fd;
        }
        if (errno != EEXIST)
            break;
    }
    *err = errno;
    free(name);
    return -1;
}

/* Make the rename itself durable. Best effort where the platform cannot
 * (a directory we may not open, or EINVAL from filesystems that do not
 * support syncing directories); a real I/O error is reported. */
static int sync_parent_dir(const char *path, char *msg)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else
        dir = strndup(path, (size_t)(slash - path));
    if (!dir)
        return VAE_OK; /* only durability is at stake; the file is in place */
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    free(dir);
    if (fd < 0)
        return VAE_OK;
    int st = VAE_OK;
    if (fsync(fd) != 0 && errno != EINVAL)
        st = vae_fail(msg, VAE_ERR_IO, "%s: written, but syncing its directory failed: %s", path,
                      strerror(errno));
    close(fd);
    return st;
}

int vae_write_atomic(const char *path, vae_file_body body, const void *ctx, char *msg)
{
    char *tmp = NULL;
    int e = 0;
    int fd = create_temp(path, ctx, &tmp, &e);
    if (fd < 0)
        return vae_fail(msg, VAE_ERR_IO, "%s: cannot create a temporary file beside it: %s", path,
                        strerror(e));
    const char *what = "cannot write";
    e = body(fd, ctx);
    /* The data must be durable before the rename makes it visible under the
     * real name, or a crash could leave an empty file there. */
    if (!e && fsync(fd) != 0)
        e = errno;
    if (close(fd) != 0 && !e)
        e = errno;
    if (!e && rename(tmp, path) != 0) {
        e = errno;
        what = "cannot rename the temporary file to it";
    }
    if (e) {
        unlink(tmp); /* never leave a partial file behind */
        free(tmp);
        return vae_fail(msg, VAE_ERR_IO, "%s: %s: %s", path, what, strerror(e));
    }
    free(tmp);
    return sync_parent_dir(path, msg);
}
