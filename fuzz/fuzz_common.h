/* Shared by the libFuzzer targets: hand the fuzzer's bytes to readers that
 * take a path. The bytes go into one anonymous memory file (memfd) per
 * process, rewritten on every input and opened by the readers as
 * /proc/self/fd/N, so no disk I/O and nothing to clean up; where memfd is
 * missing a temporary file is used instead. */
#ifndef VAE_FUZZ_COMMON_H
#define VAE_FUZZ_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct fuzz_file {
    int fd;
    char path[4096];
} fuzz_file;

static void fuzz_file_open(fuzz_file *f, const char *name)
{
    f->fd = memfd_create(name, MFD_CLOEXEC);
    if (f->fd >= 0) {
        snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
        return;
    }
    const char *dir = getenv("TMPDIR");
    snprintf(f->path, sizeof f->path, "%s/vae-fuzz-%s-%ld-XXXXXX", dir && *dir ? dir : "/tmp",
             name, (long)getpid());
    f->fd = mkstemp(f->path);
    if (f->fd < 0) {
        perror("fuzz: cannot create a scratch file");
        abort();
    }
}

/* Replace the file's contents with data[0..size). */
static void fuzz_file_set(fuzz_file *f, const uint8_t *data, size_t size)
{
    if (ftruncate(f->fd, 0) != 0) {
        perror("fuzz: ftruncate");
        abort();
    }
    size_t done = 0;
    while (done < size) {
        ssize_t k = pwrite(f->fd, data + done, size - done, (off_t)done);
        if (k <= 0) {
            perror("fuzz: pwrite");
            abort();
        }
        done += (size_t)k;
    }
}

/* A failed call must leave its out-pointer NULL and say something. */
#define FUZZ_CHECK(cond)                                                                        \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "fuzz: contract violated: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

#endif
