#include "common/errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int vae_fail(char *buf, int status, const char *fmt, ...)
{
    if (buf) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, VAE_ERRMSG_LEN, fmt, ap);
        va_end(ap);
    }
    return status;
}

int vae_error_set(vae_error *err, int status, const char *msg)
{
    if (err) {
        err->status = status;
        snprintf(err->message, sizeof err->message, "%s", msg ? msg : "");
    }
    return status;
}
