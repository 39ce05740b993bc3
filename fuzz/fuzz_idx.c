/* libFuzzer target: the IDX reader (raw and gzip), through the public
 * vae_dataset_load_idx and the internal labels reader.
 *
 * Every input must give either a dataset whose size matches what was read
 * and whose values are finite (and in [0,1] for scaled u8 data), or a
 * clean error status with a message and a NULL handle. ASan/UBSan catch
 * the rest; -rss_limit_mb / -malloc_limit_mb catch large allocations that
 * a small input should never cause. */
#include "fuzz_common.h"

#include <math.h>

#include "data/idx.h"
#include "libvae/vae.h"

static int idx_status_ok(int st)
{
    return st == VAE_ERR_IO || st == VAE_ERR_FORMAT || st == VAE_ERR_LIMIT ||
           st == VAE_ERR_NONFINITE || st == VAE_ERR_NOMEM;
}

static void load_public(const char *path, int scale)
{
    vae_dataset_options opt;
    vae_dataset_options_init(&opt);
    opt.scale = scale;
    vae_dataset *ds = (vae_dataset *)&opt; /* must be overwritten */
    vae_error err;
    int st = vae_dataset_load_idx(path, NULL, &opt, &ds, &err);
    FUZZ_CHECK(err.status == st);
    if (st != VAE_OK) {
        FUZZ_CHECK(ds == NULL);
        FUZZ_CHECK(idx_status_ok(st));
        FUZZ_CHECK(err.message[0] != '\0');
        return;
    }
    size_t n = vae_dataset_count(ds), d = vae_dataset_dim(ds);
    FUZZ_CHECK(n > 0 && d > 0 && n <= VDS_MAX_EXAMPLES && d <= VDS_MAX_VALUES);
    /* u8 files are stored as bytes: this makes their float copy, which may
     * fail for lack of memory (NULL) and nothing else. */
    const float *x = vae_dataset_data(ds);
    for (size_t i = 0; x && i < n * d; i++) {
        FUZZ_CHECK(isfinite(x[i]));
        if (scale == VAE_SCALE_MINMAX)
            FUZZ_CHECK(x[i] >= 0.0f && x[i] <= 1.0f);
    }
    /* Drawing a subset and changing the binarisation must be safe too. */
    vae_dataset *sub = NULL;
    FUZZ_CHECK(vae_dataset_subset(ds, n - 1, 1, &sub, NULL) == VAE_OK);
    vae_dataset_free(sub);
    int bst = vae_dataset_set_binarize(ds, VAE_BINARIZE_DYNAMIC, 0.5f);
    FUZZ_CHECK(bst == VAE_OK || bst == VAE_ERR_INVALID);
    vae_dataset_free(ds);
}

static void load_labels(const char *path)
{
    char msg[VAE_ERRMSG_LEN];
    msg[0] = '\0';
    int *labels = NULL;
    size_t n = 0;
    int st = vds_idx_read_labels(path, &labels, &n, msg);
    if (st != VAE_OK) {
        FUZZ_CHECK(labels == NULL);
        FUZZ_CHECK(idx_status_ok(st));
        FUZZ_CHECK(msg[0] != '\0');
        return;
    }
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(labels[i] >= 0 && labels[i] <= 255);
    free(labels);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fuzz_file f;
    static int ready;
    if (!ready) {
        fuzz_file_open(&f, "idx");
        ready = 1;
    }
    fuzz_file_set(&f, data, size);
    load_public(f.path, VAE_SCALE_AUTO);
    load_public(f.path, VAE_SCALE_MINMAX);
    load_labels(f.path);
    return 0;
}
