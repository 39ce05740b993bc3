/* Error-message helpers shared by every layer.
 *
 * Each handle owns a char[VAE_ERRMSG_LEN] message buffer. vae_fail formats
 * into it and returns the status, so a check reads
 *     if (n == 0) return vae_fail(m->errmsg, VAE_ERR_INVALID, "n must be > 0");
 */
#ifndef VAE_COMMON_ERRORS_H
#define VAE_COMMON_ERRORS_H

#include <stddef.h>

#include "libvae/vae.h"

#if defined(__GNUC__)
#define VAE_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define VAE_PRINTF(a, b)
#endif

/* Format a message into buf (VAE_ERRMSG_LEN bytes) and return status. */
int vae_fail(char *buf, int status, const char *fmt, ...) VAE_PRINTF(3, 4);

/* Copy status and message into a caller's vae_error (err may be NULL); returns status. */
int vae_error_set(vae_error *err, int status, const char *msg);

#endif
