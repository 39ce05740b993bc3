/* Datasets: the public vae_dataset_* functions (argument checks, options,
 * scaling, binarisation settings) on top of the IDX and CSV readers, and
 * vds_gather, through which the model layer draws batches. */
#include "data/dataset.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "data/csv.h"
#include "data/idx.h"

/* What vae_dataset_options_init puts in opt->scale: VAE_SCALE_255 for IDX
 * u8 images, VAE_SCALE_NONE for everything else. A caller who sets
 * VAE_SCALE_NONE explicitly thus gets raw 0..255 pixels. */
#define SCALE_AUTO VAE_SCALE_AUTO

/* A struct_size larger than this cannot come from any version of the
 * struct: most likely the caller never called vae_dataset_options_init. */
#define OPTIONS_MAX_SIZE 4096

VAE_API void vae_dataset_options_init(vae_dataset_options *opt)
{
    if (!opt)
        return;
    memset(opt, 0, sizeof *opt);
    opt->struct_size = sizeof *opt;
    opt->scale = SCALE_AUTO;
    opt->binarize = VAE_BINARIZE_NONE;
    opt->threshold = 0.5f;
    opt->csv_header = 0;
    opt->csv_label_column = -1;
}

static int check_options(const vae_dataset_options *o, char *msg)
{
    if (o->scale != SCALE_AUTO && o->scale != VAE_SCALE_NONE && o->scale != VAE_SCALE_255 &&
        o->scale != VAE_SCALE_MINMAX)
        return vae_fail(msg, VAE_ERR_INVALID, "options: scale %d is not an enum vae_scale value",
                        o->scale);
    if (o->binarize < VAE_BINARIZE_NONE || o->binarize > VAE_BINARIZE_DYNAMIC)
        return vae_fail(msg, VAE_ERR_INVALID,
                        "options: binarize %d is not an enum vae_binarize value", o->binarize);
    if (!isfinite(o->threshold))
        return vae_fail(msg, VAE_ERR_INVALID, "options: threshold is not finite");
    if (o->csv_header != 0 && o->csv_header != 1)
        return vae_fail(msg, VAE_ERR_INVALID, "options: csv_header %d is not 0 or 1",
                        o->csv_header);
    if (o->csv_label_column < -1)
        return vae_fail(msg, VAE_ERR_INVALID,
                        "options: csv_label_column %d (use -1 for no label column)",
                        o->csv_label_column);
    return VAE_OK;
}

/* Defaults, overwritten by the fields the caller's struct holds: an older,
 * smaller struct leaves the newer fields at their defaults; fields are
 * taken whole so a struct_size that cuts one in half cannot corrupt it. */
static int resolve_options(const vae_dataset_options *opt, vae_dataset_options *o, char *msg)
{
    vae_dataset_options_init(o);
    if (!opt)
        return VAE_OK;
    size_t size = opt->struct_size;
    if (size < sizeof(size_t) || size > OPTIONS_MAX_SIZE)
        return vae_fail(msg, VAE_ERR_INVALID,
                        "options: struct_size %zu is not valid (call vae_dataset_options_init)",
                        size);
#define TAKE(field)                                                         \
    if (size >= offsetof(vae_dataset_options, field) + sizeof o->field) \
    o->field = opt->field
    TAKE(scale);
    TAKE(binarize);
    TAKE(threshold);
    TAKE(csv_header);
    TAKE(csv_label_column);
#undef TAKE
    return check_options(o, msg);
}

static void value_range(const float *x, size_t m, float *lo, float *hi)
{
    float a = m ? x[0] : 0.0f, b = a;
    for (size_t i = 1; i < m; i++) {
        if (x[i] < a)
            a = x[i];
        if (x[i] > b)
            b = x[i];
    }
    *lo = a;
    *hi = b;
}

static void scale_values(float *x, size_t m, int scale)
{
    if (scale == VAE_SCALE_255) {
        for (size_t i = 0; i < m; i++)
            x[i] /= 255.0f;
    } else if (scale == VAE_SCALE_MINMAX) {
        float lo, hi;
        value_range(x, m, &lo, &hi);
        /* In double: hi - lo can overflow float. v == hi maps to exactly 1. */
        double span = (double)hi - (double)lo;
        for (size_t i = 0; i < m; i++)
            x[i] = span > 0 ? (float)(((double)x[i] - lo) / span) : 0.0f;
    }
}

/* Whether (mode, threshold) may be applied to ds; writes msg if not. */
static int check_binarize(const vae_dataset *ds, int mode, float threshold, char *msg)
{
    if (mode < VAE_BINARIZE_NONE || mode > VAE_BINARIZE_DYNAMIC)
        return vae_fail(msg, VAE_ERR_INVALID, "binarize mode %d is not an enum vae_binarize value",
                        mode);
    if (!isfinite(threshold))
        return vae_fail(msg, VAE_ERR_INVALID, "binarize threshold is not finite");
    if (mode == VAE_BINARIZE_DYNAMIC && (ds->xmin < 0.0f || ds->xmax > 1.0f))
        return vae_fail(msg, VAE_ERR_INVALID,
                        "dynamic binarisation needs values in [0,1], the data spans [%g, %g] "
                        "(scale it, e.g. with VAE_SCALE_MINMAX)",
                        (double)ds->xmin, (double)ds->xmax);
    return VAE_OK;
}

/* Wrap n*d values into a new dataset: `owned` (scaled here) or, when it is
 * NULL, the borrowed `x`. owned and labels pass to the dataset, or are
 * freed on failure. */
static int ds_create(float *owned, const float *x, size_t n, size_t d, int *labels, int scale,
                     int binarize, float threshold, vae_dataset **out, char *msg)
{
    vae_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) {
        free(owned);
        free(labels);
        return vae_fail(msg, VAE_ERR_NOMEM, "out of memory");
    }
    if (owned)
        scale_values(owned, n * d, scale);
    ds->n = n;
    ds->d = d;
    ds->owned = owned;
    ds->x = owned ? owned : x;
    ds->labels = labels;
    value_range(ds->x, n * d, &ds->xmin, &ds->xmax);
    int st = check_binarize(ds, binarize, threshold, msg);
    if (st != VAE_OK) {
        vae_dataset_free(ds);
        return st;
    }
    ds->binarize = binarize;
    ds->threshold = threshold;
    *out = ds;
    return VAE_OK;
}

/* Report a creation call's outcome through the optional vae_error. */
static int report(vae_error *err, int status, const char *msg)
{
    return vae_error_set(err, status, status == VAE_OK ? "" : msg);
}

static int read_labels(const char *path, size_t n_images, int **labels, char *msg)
{
    size_t n = 0;
    int st = vds_idx_read_labels(path, labels, &n, msg);
    if (st == VAE_OK && n != n_images) {
        free(*labels);
        *labels = NULL;
        return vae_fail(msg, VAE_ERR_SHAPE, "%s: %zu labels for %zu images", path, n, n_images);
    }
    return st;
}

VAE_API int vae_dataset_load_idx(const char *images_path, const char *labels_path,
                                 const vae_dataset_options *opt, vae_dataset **out,
                                 vae_error *err)
{
    char msg[VAE_ERRMSG_LEN] = "";
    if (out)
        *out = NULL;
    if (!images_path || !out)
        return report(err, VAE_ERR_NULL, images_path ? "vae_dataset_load_idx: out is NULL"
                                                     : "vae_dataset_load_idx: images_path is NULL");
    vae_dataset_options o;
    int st = resolve_options(opt, &o, msg);
    if (st != VAE_OK)
        return report(err, st, msg);
    float *x = NULL;
    int *labels = NULL;
    size_t n = 0, d = 0;
    int type = 0;
    st = vds_idx_read_images(images_path, &x, &n, &d, &type, msg);
    if (st == VAE_OK && labels_path)
        st = read_labels(labels_path, n, &labels, msg);
    if (st != VAE_OK) {
        free(x);
        return report(err, st, msg);
    }
    int scale = o.scale;
    if (scale == SCALE_AUTO)
        scale = type == VDS_IDX_U8 ? VAE_SCALE_255 : VAE_SCALE_NONE;
    st = ds_create(x, NULL, n, d, labels, scale, o.binarize, o.threshold, out, msg);
    return report(err, st, msg);
}

VAE_API int vae_dataset_load_csv(const char *path, const vae_dataset_options *opt,
                                 vae_dataset **out, vae_error *err)
{
    char msg[VAE_ERRMSG_LEN] = "";
    if (out)
        *out = NULL;
    if (!path || !out)
        return report(err, VAE_ERR_NULL, path ? "vae_dataset_load_csv: out is NULL"
                                              : "vae_dataset_load_csv: path is NULL");
    vae_dataset_options o;
    int st = resolve_options(opt, &o, msg);
    if (st != VAE_OK)
        return report(err, st, msg);
    float *x = NULL;
    int *labels = NULL;
    size_t n = 0, d = 0;
    st = vds_csv_read(path, o.csv_header, o.csv_label_column, &x, &labels, &n, &d, msg);
    if (st != VAE_OK)
        return report(err, st, msg);
    int scale = o.scale == SCALE_AUTO ? VAE_SCALE_NONE : o.scale;
    st = ds_create(x, NULL, n, d, labels, scale, o.binarize, o.threshold, out, msg);
    return report(err, st, msg);
}

/* Sizes a caller's array may have; writes msg if they are out of range. */
static int check_array_size(size_t n, size_t d, char *msg)
{
    if (n == 0 || d == 0)
        return vae_fail(msg, VAE_ERR_INVALID,
                        "vae_dataset_from_array: n = %zu and d = %zu, both must be > 0", n, d);
    if (n > VDS_MAX_EXAMPLES || d > VDS_MAX_VALUES || d > SIZE_MAX / sizeof(float) / n)
        return vae_fail(msg, VAE_ERR_LIMIT,
                        "vae_dataset_from_array: %zu x %zu exceeds the limits "
                        "(%zu rows, %zu columns)",
                        n, d, VDS_MAX_EXAMPLES, VDS_MAX_VALUES);
    return VAE_OK;
}

static int check_finite(const float *x, size_t n, size_t d, char *msg)
{
    for (size_t i = 0; i < n * d; i++)
        if (!isfinite(x[i]))
            return vae_fail(msg, VAE_ERR_NONFINITE,
                            "vae_dataset_from_array: row %zu, column %zu (0-based) is %s", i / d,
                            i % d, isnan(x[i]) ? "NaN" : "infinite");
    return VAE_OK;
}

/* A malloc'd copy of len bytes of src, or NULL when out of memory. */
static void *dup_bytes(const void *src, size_t len)
{
    void *p = malloc(len);
    if (p)
        memcpy(p, src, len);
    return p;
}

VAE_API int vae_dataset_from_array(const float *x, size_t n, size_t d, const int *labels,
                                   int mode, const vae_dataset_options *opt,
                                   vae_dataset **out, vae_error *err)
{
    char msg[VAE_ERRMSG_LEN] = "";
    if (out)
        *out = NULL;
    if (!x || !out)
        return report(err, VAE_ERR_NULL, x ? "vae_dataset_from_array: out is NULL"
                                           : "vae_dataset_from_array: x is NULL");
    vae_dataset_options o;
    int st = resolve_options(opt, &o, msg);
    if (st != VAE_OK)
        return report(err, st, msg);
    if (mode != VAE_ARRAY_COPY && mode != VAE_ARRAY_BORROW)
        return report(err, VAE_ERR_INVALID,
                      "vae_dataset_from_array: mode is not an enum vae_array_mode value");
    int scale = o.scale == SCALE_AUTO ? VAE_SCALE_NONE : o.scale;
    if (mode == VAE_ARRAY_BORROW && scale != VAE_SCALE_NONE)
        return report(err, VAE_ERR_INVALID,
                      "vae_dataset_from_array: a borrowed array cannot be scaled "
                      "(use VAE_ARRAY_COPY)");
    if ((st = check_array_size(n, d, msg)) != VAE_OK ||
        (st = check_finite(x, n, d, msg)) != VAE_OK)
        return report(err, st, msg);
    int *lab = labels ? dup_bytes(labels, n * sizeof *lab) : NULL;
    float *owned = mode == VAE_ARRAY_COPY ? dup_bytes(x, n * d * sizeof *owned) : NULL;
    if ((labels && !lab) || (mode == VAE_ARRAY_COPY && !owned)) {
        free(lab);
        free(owned);
        return report(err, VAE_ERR_NOMEM, "vae_dataset_from_array: out of memory");
    }
    st = ds_create(owned, x, n, d, lab, scale, o.binarize, o.threshold, out, msg);
    return report(err, st, msg);
}

VAE_API int vae_dataset_subset(const vae_dataset *src, size_t first, size_t count,
                               vae_dataset **out, vae_error *err)
{
    char msg[VAE_ERRMSG_LEN] = "";
    if (out)
        *out = NULL;
    if (!src || !out)
        return report(err, VAE_ERR_NULL, src ? "vae_dataset_subset: out is NULL"
                                             : "vae_dataset_subset: src is NULL");
    if (count == 0 || first > src->n || count > src->n - first) {
        vae_fail(msg, VAE_ERR_INVALID,
                 "vae_dataset_subset: first %zu, count %zu do not fit in a dataset of %zu rows "
                 "(count must be > 0)",
                 first, count, src->n);
        return report(err, VAE_ERR_INVALID, msg);
    }
    size_t d = src->d;
    float *x = dup_bytes(src->x + first * d, count * d * sizeof *x);
    int *lab = src->labels ? dup_bytes(src->labels + first, count * sizeof *lab) : NULL;
    if (!x || (src->labels && !lab)) {
        free(x);
        free(lab);
        return report(err, VAE_ERR_NOMEM, "vae_dataset_subset: out of memory");
    }
    /* Already scaled; the subset's range lies inside src's, so dynamic
     * binarisation stays valid. */
    int st = ds_create(x, NULL, count, d, lab, VAE_SCALE_NONE, src->binarize, src->threshold, out,
                       msg);
    if (st == VAE_OK && vds_copy_cond(*out, src, first, count) != 0) {
        vae_dataset_free(*out);
        *out = NULL;
        st = vae_fail(msg, VAE_ERR_NOMEM, "vae_dataset_subset: out of memory");
    }
    return report(err, st, msg);
}

VAE_API void vae_dataset_free(vae_dataset *ds)
{
    if (!ds)
        return;
    free(ds->owned);
    free(ds->labels);
    free(ds->cond);
    free(ds);
}

VAE_API size_t vae_dataset_count(const vae_dataset *ds) { return ds ? ds->n : 0; }

VAE_API size_t vae_dataset_dim(const vae_dataset *ds) { return ds ? ds->d : 0; }

VAE_API int vae_dataset_has_labels(const vae_dataset *ds) { return ds && ds->labels; }

VAE_API const float *vae_dataset_data(const vae_dataset *ds) { return ds ? ds->x : NULL; }

VAE_API const int *vae_dataset_labels(const vae_dataset *ds) { return ds ? ds->labels : NULL; }

VAE_API int vae_dataset_set_binarize(vae_dataset *ds, int mode, float threshold)
{
    if (!ds)
        return VAE_ERR_NULL;
    int st = check_binarize(ds, mode, threshold, ds->errmsg);
    if (st != VAE_OK)
        return st;
    ds->binarize = mode;
    ds->threshold = threshold;
    return VAE_OK;
}

/* "" rather than NULL for a NULL handle, so the result is always printable. */
VAE_API const char *vae_dataset_errmsg(const vae_dataset *ds) { return ds ? ds->errmsg : ""; }

void vds_gather(const vae_dataset *ds, const size_t *idx, size_t n, float *dst, vt_rng *rng)
{
    size_t d = ds->d;
    float t = ds->threshold;
    for (size_t i = 0; i < n; i++) {
        const float *src = ds->x + idx[i] * d;
        float *row = dst + i * d;
        if (ds->binarize == VAE_BINARIZE_THRESHOLD) {
            for (size_t j = 0; j < d; j++)
                row[j] = src[j] > t ? 1.0f : 0.0f;
        } else if (ds->binarize == VAE_BINARIZE_DYNAMIC) {
            /* One uniform per value, row-major: the draws are reproducible from the seed. */
            for (size_t j = 0; j < d; j++)
                row[j] = vt_rng_uniform(rng) < (double)src[j] ? 1.0f : 0.0f;
        } else {
            memcpy(row, src, d * sizeof *row);
        }
    }
}
