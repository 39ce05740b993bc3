/* Version queries and status strings. */
#include "libvae/vae.h"

VAE_API const char *vae_version_string(void) { return VAE_VERSION_STRING; }

VAE_API unsigned vae_version_number(void) { return VAE_VERSION_NUMBER; }

VAE_API const char *vae_status_str(int status)
{
    switch (status) {
    case VAE_OK: return "ok";
    case VAE_ERR_NULL: return "null argument";
    case VAE_ERR_INVALID: return "invalid argument";
    case VAE_ERR_SHAPE: return "shape mismatch";
    case VAE_ERR_NOMEM: return "out of memory";
    case VAE_ERR_IO: return "i/o error";
    case VAE_ERR_FORMAT: return "corrupt or foreign file";
    case VAE_ERR_NONFINITE: return "non-finite value in data";
    case VAE_ERR_DIVERGED: return "training diverged (non-finite loss or gradient)";
    case VAE_ERR_LIMIT: return "size limit exceeded";
    case VAE_ERR_CANCELLED: return "cancelled by callback";
    case VAE_ERR_UNSUPPORTED: return "unsupported operation";
    default: return "unknown status";
    }
}
