/* Shared helpers of the example programs (examples/cli.c): the one
 * command-line convention of vae-train, vqvae-mnist, cvae-digits,
 * beta-sweep, beta-traverse, ae-compare and estimator-variance.
 *
 *   exit status   0 success, 2 usage error (bad flag or value, an output
 *                 that cannot be written, an impossible request: all found
 *                 before any training), 1 failure (data, training, writing),
 *                 130 / 143 interrupted by SIGINT / SIGTERM after the
 *                 current batch (every program that trains; vae-train,
 *                 vqvae-mnist, cvae-digits write --save first; vae-train-mpi
 *                 after the current epoch).
 *                 Never 77: tests check for a missing data file themselves.
 *   data          --data PATH: IDX images (raw or gzip), CSV (a header line
 *                 is detected), or a directory holding the MNIST test set
 *                 (t10k-images-idx3-ubyte.gz); --mnist DIR is an alias.
 *                 The default MNIST directory is $VAE_MNIST_DIR, else
 *                 ../shared/data/mnist relative to the current directory.
 *   labels        --labels PATH (IDX labels) or, for CSV data, col:N (the
 *                 0-based column N holds integer labels) or col:last.
 *   files         every file written is announced on stderr: "wrote FILE".
 *
 * Public libvae API only.
 */
#ifndef VAE_EXAMPLES_CLI_H
#define VAE_EXAMPLES_CLI_H

#include <signal.h>
#include <stdio.h>

#include <libvae/vae.h>

enum { CLI_EXIT_OK = 0, CLI_EXIT_FAILURE = 1, CLI_EXIT_USAGE = 2 };

#define CLI_MNIST_DIR "../shared/data/mnist"
#define CLI_MNIST_IMAGES "t10k-images-idx3-ubyte.gz"
#define CLI_MNIST_LABELS "t10k-labels-idx1-ubyte.gz"

/* The program name used in messages ("vae-train"); set it first in main. */
void cli_set_program(const char *name);
const char *cli_program(void);

/* "PROGRAM: what: msg" on stderr; returns CLI_EXIT_FAILURE. */
int cli_fail(const char *what, const char *msg);

/* The default MNIST directory: $VAE_MNIST_DIR if set and not empty, else
 * CLI_MNIST_DIR. */
const char *cli_mnist_dir(void);

/* DIR/NAME into buf (size n); returns buf. */
char *cli_join(char *buf, size_t n, const char *dir, const char *name);

/* Whether `path` can be written without writing it: its directory must
 * exist and accept a new file (checked by creating and removing a
 * temporary file beside it), and an existing `path` must be a regular file
 * open for writing (opened for append, nothing truncated). On failure
 * prints "PROGRAM: FLAG: cannot write 'PATH': reason" and returns -1. */
int cli_check_writable(const char *flag, const char *path);

/* "wrote PATH" on stderr. */
void cli_wrote(const char *path);

/* Strict numbers: the whole string, within [lo, hi]. 0, or -1. */
int cli_long(const char *s, long lo, long hi, long *out);
int cli_double(const char *s, double lo, double hi, double *out);

/* "PROGRAM: bad value 'VALUE' for FLAG (see --help)"; returns CLI_EXIT_USAGE. */
int cli_bad_value(const char *flag, const char *value);

/* cli_bad_value for the getopt_long option opt ("--<opt->name>"). */
struct option;
int cli_bad_option(const struct option *opt, const char *value);

/* getopt_long's '?' (an unknown option or a missing value) or a stray
 * argument: "PROGRAM: ... (see --help)"; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *what, const char *arg);

/* --- data ----------------------------------------------------------- */

/* How --labels reads: none, an IDX file, or a CSV column. */
typedef struct cli_labels {
    const char *path; /* IDX labels file, or NULL */
    int column;       /* CSV label column, >= 0; -1 none; -2 the last column */
} cli_labels;

/* Parse a --labels value: "col:N", "col:last" or a path. 0, or -1 (bad). */
int cli_parse_labels(const char *arg, cli_labels *out);

/* Load --data (see above; NULL or a directory: its MNIST test set) with
 * the labels (may be NULL) and options (binarisation; may be NULL). IDX
 * is recognised by its magic bytes (raw or gzip-compressed), CSV (raw or
 * gzip-compressed) is the rest. On failure prints a message naming the file
 * and returns CLI_EXIT_USAGE (a bad combination such as an IDX labels file
 * for CSV data) or CLI_EXIT_FAILURE; 0 on success. */
int cli_load_data(const char *data, const cli_labels *labels, const vae_dataset_options *opt,
                  vae_dataset **out);

/* Epochs a loaded checkpoint has done: its update steps over the batches of
 * one epoch of n_train examples (a note on stderr when it stopped within an
 * epoch), so that --load continues the epoch numbering. */
int cli_epochs_done(uint64_t steps, size_t n_train, size_t batch);

/* The images path --data names (a directory: its MNIST images file) into
 * buf; NULL data gives the default MNIST directory's images file. */
const char *cli_data_path(const char *data, char *buf, size_t n);

/* --- signals and progress ------------------------------------------- */

/* SIGINT and SIGTERM set a flag (a second signal of the same kind kills
 * the process as usual). */
void cli_install_signals(void);

/* The signal received (SIGINT or SIGTERM), or 0. */
int cli_interrupted(void);

/* The exit status for an interrupt: 128 + the signal number (130 SIGINT,
 * 143 SIGTERM). */
int cli_interrupt_status(void);

/* A progress bar on stderr, drawn only when stderr is a terminal. */
typedef struct cli_progress {
    int enabled;
    int epoch;
    double t0, last;
} cli_progress;

void cli_progress_init(cli_progress *p);

/* A vae_progress_fn: draws the bar (user: a cli_progress) and returns
 * nonzero once a signal has arrived, which stops the epoch. */
int cli_progress_cb(void *user, size_t batch, size_t n_batches, double running_elbo);

/* Clear the bar's line (before the epoch's stdout line). */
void cli_progress_clear(cli_progress *p);

/* One training epoch of a program that keeps no checkpoint (beta-sweep,
 * beta-traverse, ae-compare, estimator-variance): vae_model_train_epoch
 * with the progress bar; when a signal stops it after the current batch,
 * prints "PROGRAM: interrupted" and exits with cli_interrupt_status().
 * Otherwise returns the call's status. Install the handlers first. */
int cli_train_epoch(vae_model *m, vae_optimizer *o, const vae_dataset *ds, size_t batch,
                    int epoch);

/* --- the per-epoch CSV log (--log) ----------------------------------- */

/* The header line of --log files (a plotting module reads these names). */
#define CLI_LOG_HEADER "epoch,time_s,samples_per_s,train_elbo,test_elbo,rec,kl,beta"

/* Open (truncate) PATH and write the header; NULL after a message. */
FILE *cli_log_open(const char *path);

/* One row, flushed. test_elbo NAN (no held-out set) is written empty. */
void cli_log_row(FILE *f, int epoch, double time_s, double samples_per_s, double train_elbo,
                 double test_elbo, double rec, double kl, double beta);

double cli_now(void);

#endif
