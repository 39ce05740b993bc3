/* Crash safety at the model level: a child process saves large model
 * checkpoints (~2M parameters, 8 MB) to one path with vae_model_save, over
 * and over, cycling through models of different seeds; the parent
 * SIGKILLs it at random moments (fixed-seed generator). After every kill
 * the file at the path is either absent (no save ever finished) or loads
 * with vae_model_load as exactly one of the saved models: its seed marks
 * which, and its parameters and reconstructions must equal that model's
 * bit for bit. Temporary files left by killed saves are counted and
 * removed; the directory holds nothing else. */
#include "relutil.h"

#include <dirent.h>
#include <sys/stat.h>

#include "libvae/vae.h"
#include "models/model.h"

enum { VERSIONS = 3, PROBE_ROWS = 2 };

typedef struct version {
    vae_model *m;
    uint64_t seed;
    float *params;
    size_t n_params;
    float recon[PROBE_ROWS * 784];
} version;

static int input_dim(void) { return 784; }

static void probe_input(float *x)
{
    for (int i = 0; i < PROBE_ROWS * input_dim(); i++)
        x[i] = (float)((i * 37) % 101) / 100.0f;
}

/* A 784-1200-20 Bernoulli VAE: 1,934,804 parameters (7.7 MB); with
 * VAE_TEST_QUICK a 784-256-20 one (0.4M) so valgrind runs stay short. */
static void make_version(version *v, uint64_t seed)
{
    vae_model_config c;
    vae_model_config_init(&c);
    c.input_dim = input_dim();
    c.hidden[0] = tu_quick() ? 256 : 1200;
    c.latent_dim = 20;
    c.seed = seed;
    v->seed = seed;
    vae_error err;
    ck_assert_msg(vae_model_create(&c, &v->m, &err) == VAE_OK, "%s", err.message);
    v->n_params = v->m->P.total;
    v->params = malloc(v->n_params * sizeof(float));
    ck_assert_ptr_nonnull(v->params);
    memcpy(v->params, v->m->P.val, v->n_params * sizeof(float));
    float x[PROBE_ROWS * 784];
    probe_input(x);
    ck_assert_int_eq(vae_model_reconstruct(v->m, x, PROBE_ROWS, v->recon), VAE_OK);
}

/* The child: save the versions in turn from `first` on, forever, writing
 * one byte to report_fd after each save that returned, until killed. */
static void save_forever(version *v, int first, const char *path, int report_fd)
{
    for (unsigned k = (unsigned)first;; k++) {
        if (vae_model_save(v[k % VERSIONS].m, NULL, path) != VAE_OK)
            _exit(2);
        if (write(report_fd, "s", 1) != 1)
            _exit(3);
    }
}

/* Fork a saving child and kill it delay_us after it starts or, with
 * after_save, delay_us after its first finished save (so the kill hits a
 * save replacing a complete file). Returns the saves the child reported. */
static size_t run_and_kill(version *v, int first, const char *path, int after_save, long delay_us)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        save_forever(v, first, path, fds[1]);
    }
    close(fds[1]);
    char buf[256];
    size_t saves = 0;
    if (after_save) {
        ssize_t k;
        while ((k = read(fds[0], buf, 1)) < 0 && errno == EINTR) {
        }
        ck_assert_msg(k == 1, "the saving child died before its first save");
        saves = 1;
    }
    rel_sleep_us(delay_us);
    kill(pid, SIGKILL);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "the saving child failed by itself (wait status 0x%x)", status);
    ssize_t k; /* the child is gone: this drains to end of file */
    while ((k = read(fds[0], buf, sizeof buf)) > 0)
        saves += (size_t)k;
    close(fds[0]);
    return saves;
}

/* What is at path must be absent (only if no save ever finished) or one
 * whole version. Returns the index of the version found, or -1. */
static int check_after_kill(const version *v, int nv, const char *path, int saved_before)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        ck_assert_msg(!saved_before, "the checkpoint vanished after a finished save");
        return -1;
    }
    vae_model *m = NULL;
    vae_error err;
    int st = vae_model_load(path, &m, NULL, &err);
    ck_assert_msg(st == VAE_OK, "after a kill, the checkpoint does not load: %s", err.message);
    vae_model_config c;
    c.struct_size = sizeof c;
    ck_assert_int_eq(vae_model_get_config(m, &c), VAE_OK);
    int which = -1;
    for (int i = 0; i < nv; i++)
        if (v[i].seed == c.seed)
            which = i;
    ck_assert_msg(which >= 0, "the checkpoint holds seed %llu, never saved",
                  (unsigned long long)c.seed);
    ck_assert_uint_eq(m->P.total, v[which].n_params);
    ck_assert_msg(memcmp(m->P.val, v[which].params, v[which].n_params * sizeof(float)) == 0,
                  "the parameters differ from those of the version saved with seed %llu",
                  (unsigned long long)c.seed);
    float x[PROBE_ROWS * 784], out[PROBE_ROWS * 784];
    probe_input(x);
    ck_assert_int_eq(vae_model_reconstruct(m, x, PROBE_ROWS, out), VAE_OK);
    ck_assert(memcmp(out, v[which].recon, sizeof(float) * PROBE_ROWS * (size_t)input_dim()) == 0);
    vae_model_free(m);
    return which;
}

/* Remove every file of dir other than keep; returns how many there were. */
static int remove_strays(const char *dir, const char *keep)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int n = 0;
    char p[8192];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            strcmp(e->d_name, keep) == 0)
            continue;
        ck_assert_msg(strstr(e->d_name, ".tmp.") != NULL, "unexpected file %s", e->d_name);
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        ck_assert_int_eq(unlink(p), 0);
        n++;
    }
    closedir(d);
    return n;
}

START_TEST(test_kill_during_model_save)
{
    char dir[4096], path[8192];
    tu_tmp_path(dir, sizeof dir, "crash-dir");
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/model.ckpt", dir);

    version v[VERSIONS];
    for (int i = 0; i < VERSIONS; i++)
        make_version(&v[i], 1000 + (uint64_t)i);

    /* Time one save, to spread the kill delays over about two saves. */
    double t0 = rel_now();
    ck_assert_int_eq(vae_model_save(v[0].m, NULL, path), VAE_OK);
    double save_s = rel_now() - t0;
    ck_assert_int_eq(unlink(path), 0);
    long span_us = (long)(save_s * 2e6);
    if (span_us < 2000)
        span_us = 2000;

    /* Even rounds kill counting from the child's start (mostly during a
     * first save, or one replacing the file of the previous round); odd
     * rounds count from a finished save (a save replacing a complete
     * file). Every 8th round starts from an empty directory. Each round's
     * child starts at another version, so old and new contents differ. */
    uint64_t seed = 20240607;
    const int kills = tu_quick() ? 6 : 60;
    size_t saves = 0; /* since the file was last removed */
    int strays = 0, found[VERSIONS] = {0}, absent = 0;
    for (int k = 0; k < kills; k++) {
        if (k % 8 == 0) {
            unlink(path);
            saves = 0;
        }
        long delay_us = (long)(rel_prng(&seed) % (uint64_t)span_us);
        saves += run_and_kill(v, k % VERSIONS, path, k % 2, delay_us);
        int which = check_after_kill(v, VERSIONS, path, saves > 0);
        if (which < 0)
            absent++;
        else
            found[which]++;
        strays += remove_strays(dir, "model.ckpt");
    }
    fprintf(stderr,
            "crash: %d kills (one save takes %.1f ms, delays 0..%.1f ms): checkpoint absent "
            "(no save finished yet) %d times, version 0/1/2 found %d/%d/%d times; "
            "%d stray temporary files removed\n",
            kills, save_s * 1e3, span_us / 1e3, absent, found[0], found[1], found[2], strays);
    ck_assert_int_eq(absent + found[0] + found[1] + found[2], kills);
    /* After the last round: only the checkpoint (strays were removed). */
    ck_assert_int_eq(remove_strays(dir, "model.ckpt"), 0);
    unlink(path);
    ck_assert_int_eq(rmdir(dir), 0);
    for (int i = 0; i < VERSIONS; i++) {
        vae_model_free(v[i].m);
        free(v[i].params);
    }
}
END_TEST

/* A save that fails (here: parameters made non-finite) leaves the previous
 * checkpoint and no temporary file. */
START_TEST(test_failed_save_keeps_previous)
{
    char dir[4096], path[8192];
    tu_tmp_path(dir, sizeof dir, "failsave-dir");
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/model.ckpt", dir);
    version v;
    make_version(&v, 77);
    ck_assert_int_eq(vae_model_save(v.m, NULL, path), VAE_OK);
    float keep = v.m->P.val[5];
    v.m->P.val[5] = NAN;
    ck_assert_int_eq(vae_model_save(v.m, NULL, path), VAE_ERR_NONFINITE);
    v.m->P.val[5] = keep;
    /* Saving into a directory that does not exist fails cleanly too. */
    char missing[8192];
    snprintf(missing, sizeof missing, "%s/no/such/dir/model.ckpt", dir);
    ck_assert_int_eq(vae_model_save(v.m, NULL, missing), VAE_ERR_IO);
    ck_assert_int_eq(check_after_kill(&v, 1, path, 1), 0);
    ck_assert_int_eq(remove_strays(dir, "model.ckpt"), 0);
    unlink(path);
    ck_assert_int_eq(rmdir(dir), 0);
    vae_model_free(v.m);
    free(v.params);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("crash");
    TCase *tc = tcase_create("crash");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, test_kill_during_model_save);
    tcase_add_test(tc, test_failed_save_keeps_previous);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
