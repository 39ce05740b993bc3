/* Helpers shared by the Check suites. */
#ifndef VAE_TESTUTIL_H
#define VAE_TESTUTIL_H

#include <check.h>
#include <stddef.h>

/* meson's (and automake's) exit status for a skipped test. */
#define TU_EXIT_SKIP 77

/* 1 in a sanitizer build: the sanitizer owns the allocator, so a test may
 * not interpose malloc or aligned_alloc (replacing them crashes before main). */
#ifndef __has_feature
#define __has_feature(x) 0 /* GCC: the __SANITIZE_* macros tell */
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || \
    __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||  \
    __has_feature(memory_sanitizer)
#define TU_SANITIZED 1
#else
#define TU_SANITIZED 0
#endif

/* Run one suite with Check's runner; returns the process exit status:
 * EXIT_FAILURE when a case failed; else TU_EXIT_SKIP when a case called
 * tu_skip (so a suite whose MNIST cases found no data shows SKIP, not OK);
 * else EXIT_SUCCESS. */
int tu_run_suite(Suite *s);

/* Record that `test` could not run (e.g. the MNIST files are missing) and
 * why; the caller then returns from the test. Works in Check's forked
 * children and with CK_FORK=no alike. Quick mode (tu_quick) shortening a
 * test on purpose is not a skip. */
void tu_skip(const char *test, const char *why);

/* A path in the test scratch directory ($VAE_TEST_TMPDIR or /tmp), unique
 * per process and name; the returned string is static storage of the caller's buf. */
const char *tu_tmp_path(char *buf, size_t len, const char *name);

/* The MNIST directory ($VAE_MNIST_DIR), or NULL when it does not hold the files. */
const char *tu_mnist_dir(void);

/* Path of an MNIST file inside tu_mnist_dir() (buf must hold 4096 bytes). */
const char *tu_mnist_file(char *buf, const char *file);

/* Write len bytes to path; returns 0 on success. */
int tu_write_file(const char *path, const void *data, size_t len);

/* Read a whole file into a malloc'd buffer; *len receives its size. NULL on failure. */
unsigned char *tu_read_file(const char *path, size_t *len);

/* 1 when $VAE_TEST_QUICK is set (valgrind and sanitizer runs shorten loops). */
int tu_quick(void);

/* Two model configurations are equal: every field, with the network texts
 * (pointers into each model) compared as strings. */
#include "libvae/vae.h"
int tu_config_equal(const vae_model_config *a, const vae_model_config *b);

/* A model of configuration c; fails the test (with the library's message)
 * when it cannot be created. */
vae_model *tu_model(const vae_model_config *c);

/* An optimizer of the given type with learning rate lr (lr <= 0: the
 * type's default); fails the test when it cannot be created. */
vae_optimizer *tu_optimizer(int type, float lr);

#endif
