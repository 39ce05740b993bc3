/* Networks in checkpoints (since 0.4.0): each network as its text form, a
 * 1-D u8 record "<prefix>.encoder", "<prefix>.decoder", "<prefix>.prior_network",
 * and the sample shape "<prefix>.input_shape" (i64[3]). Files of 0.3.x have
 * none of them and describe an MLP by n_hidden, which the families read as
 * before. Shared by every family's checkpoint code. */
#include "models/netio.h"

#include "common/errors.h"

int vm_save_networks(vio_writer *w, const char *prefix, const char *enc, const char *dec,
                     const char *pri, const int shape[3], char *msg)
{
    char name[64];
    const char *what[3] = {"encoder", "decoder", "prior_network"};
    const char *text[3] = {enc, dec, pri};
    int rc = VAE_OK;
    for (int k = 0; k < 3 && rc == VAE_OK; k++) {
        if (!text[k])
            continue;
        snprintf(name, sizeof name, "%s.%s", prefix, what[k]);
        rc = vio_writer_add_text(w, name, text[k], msg);
    }
    int64_t s[3] = {shape[0], shape[1], shape[2]};
    uint64_t dims[1] = {3};
    snprintf(name, sizeof name, "%s.input_shape", prefix);
    return rc != VAE_OK ? rc : vio_writer_add(w, name, VIO_I64, 1, dims, s, msg);
}

int vm_load_networks(const vio_file *f, const char *prefix, vm_net_texts *t, const char **enc,
                     const char **dec, const char **pri, int shape[3], char *msg)
{
    char name[64];
    const char *what[3] = {"encoder", "decoder", "prior_network"};
    char *buf[3] = {t->enc, t->dec, t->pri};
    const char **out[3] = {enc, dec, pri};
    for (int k = 0; k < 3; k++) {
        snprintf(name, sizeof name, "%s.%s", prefix, what[k]);
        if (!out[k] || !vio_file_find(f, name))
            continue;
        int rc = vio_file_text(f, name, buf[k], VN_MAX_TEXT + 1, msg);
        if (rc != VAE_OK)
            return rc;
        *out[k] = buf[k];
    }
    snprintf(name, sizeof name, "%s.input_shape", prefix);
    if (!vio_file_find(f, name))
        return VAE_OK;
    const vio_tensor *s;
    int rc = vio_file_expect(f, name, VIO_I64, 3, &s, msg);
    if (rc != VAE_OK)
        return rc;
    const int64_t *v = s->data;
    for (int k = 0; k < 3; k++) {
        if (v[k] < 0 || v[k] > (1 << 24))
            return vae_fail(msg, VAE_ERR_FORMAT, "%s[%d] = %lld is out of range", name, k,
                            (long long)v[k]);
        shape[k] = (int)v[k];
    }
    return VAE_OK;
}
