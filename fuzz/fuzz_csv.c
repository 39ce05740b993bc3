/* libFuzzer target: the CSV reader through vae_dataset_load_csv, with and
 * without a header line and a label column.
 *
 * Every input must give either a dataset of finite values, or a clean
 * error status with a message and a NULL handle. */
#include "fuzz_common.h"

#include <math.h>

#include "data/idx.h"
#include "libvae/vae.h"

static int csv_status_ok(int st)
{
    return st == VAE_ERR_IO || st == VAE_ERR_FORMAT || st == VAE_ERR_SHAPE ||
           st == VAE_ERR_NONFINITE || st == VAE_ERR_INVALID || st == VAE_ERR_LIMIT ||
           st == VAE_ERR_NOMEM;
}

static void load(const char *path, int header, int label_column, int scale)
{
    vae_dataset_options opt;
    vae_dataset_options_init(&opt);
    opt.csv_header = header;
    opt.csv_label_column = label_column;
    opt.scale = scale;
    vae_dataset *ds = (vae_dataset *)&opt; /* must be overwritten */
    vae_error err;
    int st = vae_dataset_load_csv(path, &opt, &ds, &err);
    FUZZ_CHECK(err.status == st);
    if (st != VAE_OK) {
        FUZZ_CHECK(ds == NULL);
        FUZZ_CHECK(csv_status_ok(st));
        FUZZ_CHECK(err.message[0] != '\0');
        return;
    }
    size_t n = vae_dataset_count(ds), d = vae_dataset_dim(ds);
    FUZZ_CHECK(n > 0 && d > 0 && n <= VDS_MAX_EXAMPLES);
    FUZZ_CHECK(vae_dataset_has_labels(ds) == (label_column >= 0));
    const float *x = vae_dataset_data(ds);
    for (size_t i = 0; i < n * d; i++) {
        FUZZ_CHECK(isfinite(x[i]));
        if (scale == VAE_SCALE_MINMAX)
            FUZZ_CHECK(x[i] >= 0.0f && x[i] <= 1.0f);
    }
    vae_dataset_free(ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fuzz_file f;
    static int ready;
    if (!ready) {
        fuzz_file_open(&f, "csv");
        ready = 1;
    }
    fuzz_file_set(&f, data, size);
    load(f.path, 0, -1, VAE_SCALE_AUTO);
    load(f.path, 1, 0, VAE_SCALE_MINMAX);
    load(f.path, 0, 2, VAE_SCALE_NONE);
    return 0;
}
