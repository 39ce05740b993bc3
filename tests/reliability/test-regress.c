/* Inputs found by fuzzing (tests/reliability/regress/) and the fuzzers'
 * seed corpora (fuzz/corpus/), fed through the public API.
 *
 * regress/ holds one file per finding, named <target>-<what>, where
 * <target> is idx, csv, ckpt or safetensors (the reader it reached). Each must give a
 * clean outcome: VAE_OK, or an error status from the reader's documented
 * set with a message and a NULL handle; and each is loaded in a forked
 * child (rel_measure) so that a crash, a large allocation or a long run is
 * reported as a failure of this test rather than taking the runner down.
 * Files listed in `expected` below must give exactly that status.
 *
 * Every seed of fuzz/corpus/<target>/ must load (VAE_OK): it keeps the
 * committed seeds valid as the formats evolve. */
#include "relutil.h"

#include <dirent.h>

#include "libvae/vae.h"
#include "../../fuzz/st_models.h"

static const struct {
    const char *file;
    int status;
} expected[] = {
    /* fuzz-ckpt, 60 s run: optim.n = 2^45 made vopt_load allocate 2^45
     * floats before checking the state tensors (ASan: allocation-size-too-big). */
    {"ckpt-optim-n-2e45", VAE_ERR_FORMAT},
    /* fuzz-ckpt, 300 s fork-mode run (timeout): a 1.5 KB checkpoint whose
     * configuration (4-2051-65534, 4e8 parameters) made vm_load create and
     * initialise the model (4.4 s, 1.6 GB) before finding its 12 floats. */
    {"ckpt-config-claims-4e8-parameters", VAE_ERR_FORMAT},
};

static int call_idx(void *arg, char *msg)
{
    vae_dataset *ds = (vae_dataset *)arg;
    vae_error err;
    int st = vae_dataset_load_idx(arg, NULL, NULL, &ds, &err);
    snprintf(msg, 256, "%s", err.message);
    if (st != VAE_OK && (ds != NULL || !err.message[0]))
        st = 1000; /* contract broken: handle set or no message */
    if (st != VAE_OK && st != 1000 && st != VAE_ERR_IO && st != VAE_ERR_FORMAT &&
        st != VAE_ERR_LIMIT && st != VAE_ERR_NONFINITE && st != VAE_ERR_NOMEM)
        st = 1001; /* undocumented status */
    vae_dataset_free(st == VAE_OK ? ds : NULL);
    return st;
}

/* CSV files whose name contains "header-label" have a header line and a
 * label in column 0; the others are plain. */
static int call_csv(void *arg, char *msg)
{
    vae_dataset *ds = (vae_dataset *)arg;
    vae_error err;
    vae_dataset_options opt;
    vae_dataset_options_init(&opt);
    if (strstr(arg, "header-label")) {
        opt.csv_header = 1;
        opt.csv_label_column = 0;
    }
    int st = vae_dataset_load_csv(arg, &opt, &ds, &err);
    snprintf(msg, 256, "%s", err.message);
    if (st != VAE_OK && (ds != NULL || !err.message[0]))
        st = 1000;
    if (st != VAE_OK && st != 1000 && st != VAE_ERR_IO && st != VAE_ERR_FORMAT &&
        st != VAE_ERR_SHAPE && st != VAE_ERR_NONFINITE && st != VAE_ERR_INVALID &&
        st != VAE_ERR_LIMIT && st != VAE_ERR_NOMEM)
        st = 1001;
    vae_dataset_free(st == VAE_OK ? ds : NULL);
    return st;
}

static int call_ckpt(void *arg, char *msg)
{
    vae_model *m = (vae_model *)arg;
    vae_optimizer *o = (vae_optimizer *)arg;
    vae_error err;
    int st = vae_model_load(arg, &m, &o, &err);
    snprintf(msg, 256, "%s", err.message);
    if (st != VAE_OK && (m != NULL || o != NULL || !err.message[0]))
        st = 1000;
    if (st != VAE_OK && st != 1000 && st != VAE_ERR_IO && st != VAE_ERR_FORMAT &&
        st != VAE_ERR_LIMIT && st != VAE_ERR_NOMEM)
        st = 1001;
    if (st == VAE_OK) {
        vae_model_free(m);
        vae_optimizer_free(o);
    } else if (st == VAE_ERR_FORMAT) {
        /* Not a vae_model checkpoint: it may be a VQ-VAE's (the loaders
         * share the container and refuse each other's files). */
        vae_vqvae *q = (vae_vqvae *)arg;
        o = (vae_optimizer *)arg;
        int vst = vae_vqvae_load(arg, &q, &o, &err);
        if (vst == VAE_OK) {
            vae_vqvae_free(q);
            vae_optimizer_free(o);
            st = VAE_OK;
        } else if (q != NULL || o != NULL || !err.message[0]) {
            st = 1000;
        }
    }
    return st;
}

/* A safetensors file imported into the MLP, then (when it is not the
 * MLP's) the convolutional model of the fuzz-safetensors target. */
static int call_safetensors(void *arg, char *msg)
{
    int st = VAE_ERR_FORMAT;
    for (int conv = 0; conv < 2 && st == VAE_ERR_FORMAT; conv++) {
        vae_model *m = st_model(conv);
        if (!m)
            return 1002; /* the model itself */
        st = vae_model_import_safetensors(m, arg);
        snprintf(msg, 256, "%s", vae_model_errmsg(m));
        if (st != VAE_OK && !vae_model_errmsg(m)[0])
            st = 1000;
        vae_model_free(m);
    }
    if (st != VAE_OK && st != 1000 && st != VAE_ERR_IO && st != VAE_ERR_FORMAT &&
        st != VAE_ERR_LIMIT && st != VAE_ERR_NONFINITE && st != VAE_ERR_NOMEM)
        st = 1001;
    return st;
}

static rel_fn reader_for(const char *name)
{
    if (strncmp(name, "idx", 3) == 0)
        return call_idx;
    if (strncmp(name, "csv", 3) == 0)
        return call_csv;
    if (strncmp(name, "ckpt", 4) == 0)
        return call_ckpt;
    if (strncmp(name, "safetensors", 11) == 0)
        return call_safetensors;
    return NULL;
}

/* The sorted regular files of dir (names malloc'd); *n receives the count. */
static char **list_dir(const char *dir, size_t *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char **names = NULL;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "README.md") == 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            names = realloc(names, cap * sizeof *names);
            ck_assert_ptr_nonnull(names);
        }
        names[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    for (size_t i = 1; i < *n; i++) /* insertion sort: a handful of names */
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    return names;
}

static void free_list(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

START_TEST(test_regressions)
{
    const char *dir = getenv("VAE_REGRESS_DIR");
    ck_assert_msg(dir && *dir, "VAE_REGRESS_DIR is not set (run through meson test)");
    size_t n = 0;
    char **names = list_dir(dir, &n);
    /* Every file is tried; the failures are listed together at the end. */
    char bad[4096] = "";
    size_t n_bad = 0;
    for (size_t i = 0; i < n; i++) {
        rel_fn fn = reader_for(names[i]);
        ck_assert_msg(fn != NULL, "%s: name must start with idx, csv, ckpt or safetensors", names[i]);
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        rel_result r = rel_measure(fn, path);
        fprintf(stderr, "regress: %s: %s (%d), %.3f s, peak RSS +%ld kB: %s\n", names[i],
                r.died ? "DIED" : r.status >= 1000 ? "CONTRACT BROKEN" : vae_status_str(r.status),
                r.status,
                r.seconds, r.peak_growth_kb, r.msg);
        const char *why = NULL;
        if (r.died)
            why = "crashed";
        else if (r.status == 1000)
            why = "failed without a message or with a handle set";
        else if (r.status == 1001)
            why = "undocumented status";
        for (size_t k = 0; !why && k < sizeof expected / sizeof expected[0]; k++)
            if (strcmp(expected[k].file, names[i]) == 0 && r.status != expected[k].status)
                why = "not the expected status";
        if (!why && r.seconds >= rel_max_seconds())
            why = "too slow";
        if (!why && r.peak_growth_kb >= REL_MAX_GROWTH_KB)
            why = "peak RSS grew too much";
        if (why) {
            n_bad++;
            size_t len = strlen(bad);
            snprintf(bad + len, sizeof bad - len, "\n  %s: %s (status %d: %s)", names[i], why,
                     r.status, r.msg);
        }
    }
    fprintf(stderr, "regress: %zu inputs from %s, %zu failing\n", n, dir, n_bad);
    free_list(names, n);
    ck_assert_msg(n_bad == 0, "%zu regression inputs fail:%s", n_bad, bad);
}
END_TEST

START_TEST(test_seed_corpora_load)
{
    const char *root = getenv("VAE_FUZZ_CORPUS_DIR");
    ck_assert_msg(root && *root, "VAE_FUZZ_CORPUS_DIR is not set (run through meson test)");
    static const char *const targets[] = {"idx", "csv", "ckpt", "safetensors"};
    size_t total = 0;
    for (int t = 0; t < (int)(sizeof targets / sizeof targets[0]); t++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", root, targets[t]);
        size_t n = 0;
        char **names = list_dir(dir, &n);
        ck_assert_msg(n > 0, "no seeds in %s", dir);
        rel_fn fn = reader_for(targets[t]);
        for (size_t i = 0; i < n; i++) {
            char path[8192], msg[256] = "";
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            /* Labels files are not images: load them as labels of a
             * two-image file instead. */
            if (t == 0 && strncmp(names[i], "labels", 6) == 0) {
                char images[8192];
                snprintf(images, sizeof images, "%s/u8-2x3x3", dir);
                vae_dataset *ds = NULL;
                vae_error err;
                ck_assert_msg(vae_dataset_load_idx(images, path, NULL, &ds, &err) == VAE_OK,
                              "%s: %s", path, err.message);
                ck_assert(vae_dataset_has_labels(ds));
                vae_dataset_free(ds);
                continue;
            }
            int st = fn(path, msg);
            ck_assert_msg(st == VAE_OK, "seed %s does not load: %s", path, msg);
        }
        total += n;
        free_list(names, n);
    }
    fprintf(stderr, "regress: %zu seed files load\n", total);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("regress");
    TCase *tc = tcase_create("regress");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_regressions);
    tcase_add_test(tc, test_seed_corpora_load);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
