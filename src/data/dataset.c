/* Datasets: the public vae_dataset_* functions (argument checks, options,
 * scaling, binarisation settings) on top of the IDX and CSV readers, and
 * vds_gather, through which the model layer draws batches. IDX u8 images
 * stay bytes with a 256-entry value table (data/dataset.h). */
#include "data/dataset.h"

#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/abi.h"
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

/* The defaults of every field, into a full-size struct. */
static void options_defaults(vae_dataset_options *opt)
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

VAE_ABI_INIT_SIZE(vae_dataset_options, options_defaults)
VAE_ABI_INIT_0_3_0(vae_dataset_options, csv_label_column, VAE_0_3_0_SIZEOF_DATASET_OPTIONS)

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

/* The smallest and largest of m bytes (0, 0 when m == 0). */
static void byte_bounds(const unsigned char *p, size_t m, unsigned *lo, unsigned *hi)
{
    unsigned a = m ? p[0] : 0, b = a;
    for (size_t i = 1; i < m; i++) {
        a = p[i] < a ? p[i] : a;
        b = p[i] > b ? p[i] : b;
    }
    *lo = a;
    *hi = b;
}

/* lut[b] = the value byte b gets under `scale`, by the same operations on
 * the same float operands as scale_values applies to an array holding
 * (float)b, so byte storage gives bit for bit the float path's values:
 * VAE_SCALE_255: (float)b / 255.0f; VAE_SCALE_NONE: (float)b; MINMAX:
 * ((double)b - lo) / (hi - lo) rounded to float, lo and hi the smallest and
 * largest byte of the whole file. */
static void make_lut(float *lut, int scale, unsigned lo_byte, unsigned hi_byte)
{
    float lo = (float)lo_byte, hi = (float)hi_byte;
    double span = (double)hi - (double)lo;
    for (unsigned b = 0; b < 256; b++) {
        float v = (float)b;
        if (scale == VAE_SCALE_255)
            v /= 255.0f;
        else if (scale == VAE_SCALE_MINMAX)
            v = span > 0 ? (float)(((double)v - lo) / span) : 0.0f;
        lut[b] = v;
    }
}

/* A new dataset of n x d with no values yet; NULL when out of memory. */
static vae_dataset *ds_new(size_t n, size_t d)
{
    vae_dataset *ds = calloc(1, sizeof *ds);
    if (!ds)
        return NULL;
    if (pthread_mutex_init(&ds->lazy_lock, NULL) != 0) {
        free(ds);
        return NULL;
    }
    atomic_init(&ds->lazy, NULL);
    ds->n = n;
    ds->d = d;
    ds->shape[0] = d > (size_t)INT_MAX ? 0 : (int)d, ds->shape[1] = ds->shape[2] = 1;
    return ds;
}

/* Set the binarisation of a filled-in ds and hand it out; frees ds when
 * the binarisation does not suit its values. */
static int ds_finish(vae_dataset *ds, int binarize, float threshold, vae_dataset **out, char *msg)
{
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

/* Wrap n*d values into a new dataset: `owned` (scaled here) or, when it is
 * NULL, the borrowed `x`. owned and labels pass to the dataset, or are
 * freed on failure. */
static int ds_create(float *owned, const float *x, size_t n, size_t d, int *labels, int scale,
                     int binarize, float threshold, vae_dataset **out, char *msg)
{
    vae_dataset *ds = ds_new(n, d);
    if (!ds) {
        free(owned);
        free(labels);
        return vae_fail(msg, VAE_ERR_NOMEM, "out of memory");
    }
    if (owned)
        scale_values(owned, n * d, scale);
    ds->owned = owned;
    ds->x = owned ? owned : x;
    ds->labels = labels;
    value_range(ds->x, n * d, &ds->xmin, &ds->xmax);
    return ds_finish(ds, binarize, threshold, out, msg);
}

/* Wrap n*d bytes whose values are lut[byte] into a new byte-backed
 * dataset. bytes and labels pass to the dataset, or are freed on failure. */
static int ds_create_u8(unsigned char *bytes, size_t n, size_t d, int *labels, const float *lut,
                        int binarize, float threshold, vae_dataset **out, char *msg)
{
    vae_dataset *ds = ds_new(n, d);
    if (!ds) {
        free(bytes);
        free(labels);
        return vae_fail(msg, VAE_ERR_NOMEM, "out of memory");
    }
    ds->u8 = bytes;
    memcpy(ds->lut, lut, sizeof ds->lut);
    ds->labels = labels;
    /* Every lut is non-decreasing in b (each step rounds a non-decreasing
     * exact value), so the extreme values are those of the extreme bytes:
     * the same xmin, xmax as value_range over the floats. */
    unsigned lo, hi;
    byte_bounds(bytes, n * d, &lo, &hi);
    ds->xmin = n * d > 0 ? lut[lo] : 0.0f;
    ds->xmax = n * d > 0 ? lut[hi] : 0.0f;
    return ds_finish(ds, binarize, threshold, out, msg);
}

/* Report a creation call's outcome through the optional vae_error. */
static int report(vae_error *err, int status, const char *msg)
{
    return vae_error_set(err, status, status == VAE_OK ? "" : msg);
}

static int read_labels(const char *path, size_t n_images, int **labels, char *msg)
{
    size_t n = 0;
    int st = vds_idx_read_labels_for(path, n_images, labels, &n, msg);
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
    void *x = NULL;
    int *labels = NULL;
    size_t n = 0, d = 0;
    int type = 0, shape[3];
    st = vds_idx_read_images(images_path, &x, &n, &d, &type, shape, msg);
    if (st == VAE_OK && labels_path)
        st = read_labels(labels_path, n, &labels, msg);
    if (st != VAE_OK) {
        free(x);
        return report(err, st, msg);
    }
    int scale = o.scale;
    if (scale == SCALE_AUTO)
        scale = type == VDS_IDX_U8 ? VAE_SCALE_255 : VAE_SCALE_NONE;
    if (type == VDS_IDX_U8) {
        /* The bytes stay as they are; their 256 possible values are scaled once. */
        float lut[256];
        unsigned lo, hi;
        byte_bounds(x, n * d, &lo, &hi);
        make_lut(lut, scale, lo, hi);
        st = ds_create_u8(x, n, d, labels, lut, o.binarize, o.threshold, out, msg);
    } else {
        st = ds_create(x, NULL, n, d, labels, scale, o.binarize, o.threshold, out, msg);
    }
    if (st == VAE_OK)
        memcpy((*out)->shape, shape, sizeof shape);
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
    /* A byte-backed src gives a byte-backed subset: its bytes, and src's
     * value table (the scaling stays that of the whole file). */
    void *x = src->u8 ? dup_bytes(src->u8 + first * d, count * d)
                      : dup_bytes(src->x + first * d, count * d * sizeof(float));
    int *lab = src->labels ? dup_bytes(src->labels + first, count * sizeof *lab) : NULL;
    if (!x || (src->labels && !lab)) {
        free(x);
        free(lab);
        return report(err, VAE_ERR_NOMEM, "vae_dataset_subset: out of memory");
    }
    /* Already scaled; the subset's range lies inside src's, so dynamic
     * binarisation stays valid. */
    int st = src->u8 ? ds_create_u8(x, count, d, lab, src->lut, src->binarize, src->threshold,
                                    out, msg)
                     : ds_create(x, NULL, count, d, lab, VAE_SCALE_NONE, src->binarize,
                                 src->threshold, out, msg);
    if (st == VAE_OK)
        memcpy((*out)->shape, src->shape, sizeof src->shape);
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
    free(ds->u8);
    free(atomic_load_explicit(&ds->lazy, memory_order_relaxed));
    pthread_mutex_destroy(&ds->lazy_lock);
    free(ds->labels);
    free(ds->cond);
    free(ds);
}

VAE_API size_t vae_dataset_count(const vae_dataset *ds) { return ds ? ds->n : 0; }

VAE_API size_t vae_dataset_dim(const vae_dataset *ds) { return ds ? ds->d : 0; }

VAE_API int vae_dataset_shape(const vae_dataset *ds, int shape[3])
{
    if (!ds || !shape)
        return VAE_ERR_NULL;
    memcpy(shape, ds->shape, sizeof ds->shape);
    return VAE_OK;
}

VAE_API int vae_dataset_set_shape(vae_dataset *ds, int channels, int height, int width)
{
    if (!ds)
        return VAE_ERR_NULL;
    if (channels < 1 || height < 1 || width < 1)
        return vae_fail(ds->errmsg, VAE_ERR_INVALID,
                        "set_shape: %dx%dx%d: each size must be >= 1", channels, height, width);
    if ((double)channels * height * width != (double)ds->d)
        return vae_fail(ds->errmsg, VAE_ERR_SHAPE,
                        "set_shape: %dx%dx%d = %.0f values, but the dataset has %zu per example",
                        channels, height, width, (double)channels * height * width, ds->d);
    ds->shape[0] = channels, ds->shape[1] = height, ds->shape[2] = width;
    return VAE_OK;
}

VAE_API int vae_dataset_has_labels(const vae_dataset *ds) { return ds && ds->labels; }

/* The float values of a byte-backed dataset, made on the first call:
 * lazy[i] = lut[u8[i]]. Double-checked: the acquire load sees a finished
 * copy; the mutex makes threads that race for the first call build one
 * copy (the others wait and get it). The copy is the only state a reader
 * creates, hence the cast (the dataset itself is never const: it comes
 * from calloc). */
static const float *materialise(const vae_dataset *cds)
{
    vae_dataset *ds = (vae_dataset *)cds;
    float *x = atomic_load_explicit(&ds->lazy, memory_order_acquire);
    if (x)
        return x;
    pthread_mutex_lock(&ds->lazy_lock);
    x = atomic_load_explicit(&ds->lazy, memory_order_relaxed);
    if (!x) {
        size_t m = ds->n * ds->d;
        x = malloc((m ? m : 1) * sizeof *x);
        if (x) {
            for (size_t i = 0; i < m; i++)
                x[i] = ds->lut[ds->u8[i]];
            atomic_store_explicit(&ds->lazy, x, memory_order_release);
        } else {
            vae_fail(ds->errmsg, VAE_ERR_NOMEM,
                     "vae_dataset_data: out of memory for the %zu x %zu float copy", ds->n, ds->d);
        }
    }
    pthread_mutex_unlock(&ds->lazy_lock);
    return x;
}

VAE_API const float *vae_dataset_data(const vae_dataset *ds)
{
    if (!ds)
        return NULL;
    return ds->u8 ? materialise(ds) : ds->x;
}

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
        float *row = dst + i * d;
        const float *src;
        if (ds->u8) {
            /* Convert into dst first; binarisation then reads and writes
             * each value in place. */
            const unsigned char *b = ds->u8 + idx[i] * d;
            for (size_t j = 0; j < d; j++)
                row[j] = ds->lut[b[j]];
            src = row;
        } else {
            src = ds->x + idx[i] * d;
        }
        if (ds->binarize == VAE_BINARIZE_THRESHOLD) {
            for (size_t j = 0; j < d; j++)
                row[j] = src[j] > t ? 1.0f : 0.0f;
        } else if (ds->binarize == VAE_BINARIZE_DYNAMIC) {
            /* One uniform per value, row-major: the draws are reproducible from the seed. */
            for (size_t j = 0; j < d; j++)
                row[j] = vt_rng_uniform(rng) < (double)src[j] ? 1.0f : 0.0f;
        } else if (src != row) {
            memcpy(row, src, d * sizeof *row);
        }
    }
}

typedef struct gather_task {
    const vae_dataset *ds;
    const size_t *idx;
    size_t n;
    float *dst;
} gather_task;

static void gather_part(void *ctx, int part, int parts)
{
    const gather_task *t = ctx;
    size_t lo, hi;
    vt_pool_range(t->n, 1, part, parts, &lo, &hi);
    if (lo < hi)
        vds_gather(t->ds, t->idx + lo, hi - lo, t->dst + lo * t->ds->d, NULL);
}

void vds_gather_on(vt_pool *pool, const vae_dataset *ds, const size_t *idx, size_t n, float *dst,
                   vt_rng *rng)
{
    if (ds->binarize == VAE_BINARIZE_DYNAMIC || vt_pool_parts(pool) == 1 || n * ds->d < 16384) {
        vds_gather(ds, idx, n, dst, rng);
        return;
    }
    gather_task t = {ds, idx, n, dst};
    vt_pool_run(pool, gather_part, &t);
}
