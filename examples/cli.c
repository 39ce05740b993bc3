/* Shared helpers of the example programs; see cli.h. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <zlib.h>

#include <errno.h>
#include <getopt.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *program = "libvae";

void cli_set_program(const char *name) { program = name; }
const char *cli_program(void) { return program; }

int cli_fail(const char *what, const char *msg)
{
    fprintf(stderr, "%s: %s: %s\n", program, what, msg);
    return CLI_EXIT_FAILURE;
}

const char *cli_mnist_dir(void)
{
    const char *d = getenv("VAE_MNIST_DIR");
    return d && *d ? d : CLI_MNIST_DIR;
}

char *cli_join(char *buf, size_t n, const char *dir, const char *name)
{
    size_t len = strlen(dir);
    snprintf(buf, n, "%s%s%s", dir, len && dir[len - 1] == '/' ? "" : "/", name);
    return buf;
}

void cli_wrote(const char *path) { fprintf(stderr, "wrote %s\n", path); }

static int cannot(const char *flag, const char *path, const char *why)
{
    fprintf(stderr, "%s: %s: cannot write '%s': %s\n", program, flag, path, why);
    return -1;
}

int cli_check_writable(const char *flag, const char *path)
{
    if (!path || !*path)
        return cannot(flag, path ? path : "", "empty path");
    struct stat st;
    if (stat(path, &st) == 0) {
        if (!S_ISREG(st.st_mode))
            return cannot(flag, path, S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
        int fd = open(path, O_WRONLY | O_APPEND);
        if (fd < 0)
            return cannot(flag, path, strerror(errno));
        close(fd);
    }
    /* The directory must take a new file (vae_model_save and the PNG writer
     * write a temporary file beside the target and rename it). */
    const char *slash = strrchr(path, '/');
    char tmp[4200];
    if (slash)
        snprintf(tmp, sizeof tmp, "%.*s/.%s-check-XXXXXX", (int)(slash - path), path, program);
    else
        snprintf(tmp, sizeof tmp, ".%s-check-XXXXXX", program);
    if (slash == path) /* "/name": the root directory */
        snprintf(tmp, sizeof tmp, "/.%s-check-XXXXXX", program);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return cannot(flag, path, strerror(errno));
    close(fd);
    unlink(tmp);
    return 0;
}

int cli_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int cli_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

int cli_bad_value(const char *flag, const char *value)
{
    fprintf(stderr, "%s: bad value '%s' for %s (see --help)\n", program, value ? value : "",
            flag);
    return CLI_EXIT_USAGE;
}

int cli_bad_option(const struct option *opt, const char *value)
{
    char flag[64];
    snprintf(flag, sizeof flag, "--%s", opt->name);
    return cli_bad_value(flag, value);
}

int cli_usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "%s: %s '%s' (see --help)\n", program, what, arg ? arg : "");
    return CLI_EXIT_USAGE;
}

/* --- data --------------------------------------------------------------- */

int cli_parse_labels(const char *arg, cli_labels *out)
{
    out->path = NULL;
    out->column = -1;
    if (!arg)
        return 0;
    if (strncmp(arg, "col:", 4) == 0) {
        const char *v = arg + 4;
        if (strcmp(v, "last") == 0) {
            out->column = -2;
            return 0;
        }
        char *end;
        errno = 0;
        long c = strtol(v, &end, 10);
        if (errno || end == v || *end || c < 0 || c > (1L << 18))
            return -1;
        out->column = (int)c;
        return 0;
    }
    if (!*arg)
        return -1;
    out->path = arg;
    return 0;
}

const char *cli_data_path(const char *data, char *buf, size_t n)
{
    struct stat st;
    if (!data)
        return cli_join(buf, n, cli_mnist_dir(), CLI_MNIST_IMAGES);
    if (stat(data, &st) == 0 && S_ISDIR(st.st_mode))
        return cli_join(buf, n, data, CLI_MNIST_IMAGES);
    snprintf(buf, n, "%s", data);
    return buf;
}

/* The first non-blank line of a CSV file: its field count and whether a
 * field is not a number (then it is a header). -1 when unreadable. */
static int csv_first_line(const char *path, int *fields, int *header)
{
    gzFile f = gzopen(path, "rb"); /* raw or gzip CSV alike */
    if (!f)
        return -1;
    static char line[1 << 16]; /* enough to count the fields of a header or first row */
    int rc = -1;
    while (gzgets(f, line, (int)sizeof line)) {
        char *p = line;
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        if (!*p)
            continue;
        *fields = 0;
        *header = 0;
        for (char *tok = line;; tok++) {
            char *end;
            strtod(tok, &end);
            while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
                end++;
            if (end == tok || (*end != ',' && *end != '\0'))
                *header = 1;
            (*fields)++;
            tok = strchr(tok, ',');
            if (!tok)
                break;
        }
        rc = 0;
        break;
    }
    gzclose(f);
    return rc;
}

int cli_epochs_done(uint64_t steps, size_t n_train, size_t batch)
{
    uint64_t per_epoch = (n_train + batch - 1) / batch;
    if (per_epoch == 0)
        return 0;
    if (steps % per_epoch)
        fprintf(stderr, "%s: note: the checkpoint stopped within an epoch (step %llu, "
                        "%llu batches per epoch); numbering goes on from epoch %llu\n",
                program, (unsigned long long)steps, (unsigned long long)per_epoch,
                (unsigned long long)(steps / per_epoch));
    return (int)(steps / per_epoch);
}

int cli_load_data(const char *data, const cli_labels *labels, const vae_dataset_options *opt,
                  vae_dataset **out)
{
    char buf[4096];
    const char *path = cli_data_path(data, buf, sizeof buf);
    cli_labels none = {NULL, -1};
    if (!labels)
        labels = &none;
    vae_dataset_options o;
    if (opt)
        o = *opt;
    else
        vae_dataset_options_init(&o);
    /* The first 4 bytes of the content (inflated when the file is gzip):
     * an IDX magic number, or else CSV. */
    unsigned char magic[4] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: --data: cannot open '%s': %s\n", program, path, strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    fclose(f);
    gzFile gz = gzopen(path, "rb");
    int got = gz ? gzread(gz, magic, 4) : 0;
    if (gz)
        gzclose(gz);
    int idx = got == 4 && magic[0] == 0 && magic[1] == 0 && magic[2] >= 0x08 &&
              magic[2] <= 0x0e && magic[3] >= 1 && magic[3] <= 4;
    vae_error err;
    if (idx) {
        if (labels->column != -1) {
            fprintf(stderr, "%s: --labels col:N is for CSV data; '%s' is IDX: give the IDX "
                            "labels file\n", program, path);
            return CLI_EXIT_USAGE;
        }
        if (vae_dataset_load_idx(path, labels->path, &o, out, &err) != VAE_OK)
            return cli_fail("--data", err.message); /* the message names the file */
        return 0;
    }
    if (labels->path) {
        fprintf(stderr, "%s: --labels: '%s' is CSV data: name its label column with "
                        "--labels col:N (0-based) or col:last\n", program, path);
        return CLI_EXIT_USAGE;
    }
    int fields = 0, header = 0;
    if (csv_first_line(path, &fields, &header) != 0) {
        fprintf(stderr, "%s: --data: '%s' has no data lines\n", program, path);
        return CLI_EXIT_FAILURE;
    }
    o.csv_header = header;
    o.csv_label_column = labels->column == -2 ? fields - 1 : labels->column;
    if (labels->column >= fields) {
        fprintf(stderr, "%s: --labels col:%d: '%s' has %d columns (0..%d)\n", program,
                labels->column, path, fields, fields - 1);
        return CLI_EXIT_USAGE;
    }
    if (vae_dataset_load_csv(path, &o, out, &err) != VAE_OK)
        return cli_fail("--data", err.message);
    return 0;
}

/* --- signals and progress ------------------------------------------------ */

static volatile sig_atomic_t got_signal = 0;

static void on_signal(int sig) { got_signal = sig; }

void cli_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND | SA_RESTART; /* a second signal acts as usual */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_interrupted(void) { return (int)got_signal; }

int cli_interrupt_status(void) { return 128 + (int)got_signal; }

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void cli_progress_init(cli_progress *p)
{
    memset(p, 0, sizeof *p);
    p->enabled = isatty(STDERR_FILENO);
}

int cli_progress_cb(void *user, size_t batch, size_t n_batches, double running_elbo)
{
    cli_progress *p = user;
    if (p && p->enabled) {
        double t = cli_now();
        if (batch == 0)
            p->t0 = t;
        if (t - p->last >= 0.1 || batch + 1 == n_batches) {
            enum { W = 30 };
            int fill = n_batches ? (int)((batch + 1) * W / n_batches) : W;
            char bar[W + 1];
            for (int i = 0; i < W; i++)
                bar[i] = i < fill ? '=' : ' ';
            bar[W] = '\0';
            fprintf(stderr, "\r\033[Kepoch %d [%s] %zu/%zu elbo %.2f %.0fs", p->epoch, bar,
                    batch + 1, n_batches, running_elbo, t - p->t0);
            fflush(stderr);
            p->last = t;
        }
    }
    return got_signal != 0;
}

void cli_progress_clear(cli_progress *p)
{
    if (p && p->enabled) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
}

int cli_train_epoch(vae_model *m, vae_optimizer *o, const vae_dataset *ds, size_t batch,
                    int epoch)
{
    cli_progress prog;
    cli_progress_init(&prog);
    prog.epoch = epoch;
    int rc = vae_model_train_epoch(m, o, ds, batch, cli_progress_cb, &prog, NULL);
    cli_progress_clear(&prog);
    if (rc == VAE_ERR_CANCELLED && cli_interrupted()) {
        fprintf(stderr, "%s: interrupted\n", program);
        exit(cli_interrupt_status());
    }
    return rc;
}

/* --- --log ---------------------------------------------------------------- */

FILE *cli_log_open(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "%s: --log: cannot write '%s': %s\n", program, path, strerror(errno));
        return NULL;
    }
    fprintf(f, "%s\n", CLI_LOG_HEADER);
    fflush(f);
    return f;
}

void cli_log_row(FILE *f, int epoch, double time_s, double samples_per_s, double train_elbo,
                 double test_elbo, double rec, double kl, double beta)
{
    if (!f)
        return;
    fprintf(f, "%d,%.6f,%.3f,%.6f,", epoch, time_s, samples_per_s, train_elbo);
    if (isfinite(test_elbo))
        fprintf(f, "%.6f", test_elbo);
    fprintf(f, ",%.6f,%.6f,%.6g\n", rec, kl, beta);
    fflush(f);
}
