/* vae-train's beta-VAE and posterior-collapse options (--beta, --warmup,
 * --cyclical, --capacity, --free-bits, --aggressive, --gaussian-sigma,
 * --diagnostics, --samples-png, --manifold-png), kept apart from the main
 * program. Public API only. */
#ifndef VAE_TRAIN_BETA_H
#define VAE_TRAIN_BETA_H

#include <getopt.h>
#include <stdio.h>

#include <libvae/vae.h>

typedef struct beta_options {
    int used;                   /* any beta/collapse flag given: print the diagnostics line */
    int beta_given;
    const char *samples_png;    /* grid of prior samples */
    const char *manifold_png;   /* 2-D latent: decoder means over a grid of z */
} beta_options;

/* getopt_long entries (values 0x100..), terminated by a zero entry. */
extern const struct option beta_longopts[];
#define BETA_LONGOPTS_COUNT 11

/* Usage lines for these options. */
void beta_usage(FILE *to);

/* Handle option c (from beta_longopts) with its argument: 1 handled,
 * -1 bad value, 0 not one of ours. */
int beta_parse(int c, const char *arg, vae_model_config *cfg, beta_options *b);

/* After each epoch: the aggressive-training MI check on the test set. 0 or -1. */
int beta_after_epoch(vae_model *m, const vae_dataset *test);

/* Before training: whether the model can draw the pictures asked for
 * (square images; --manifold-png: a 2-D latent) and has the posterior the
 * diagnostics need (not an autoencoder). 0, or -1 after a message. */
int beta_check_pictures(const vae_model *m, const beta_options *b);

/* After training: print 'beta ... beta_norm ...' and the diagnostics line
 * (on the test set, else the training set) and write the PNGs. 0 or -1. */
int beta_after_training(vae_model *m, const vae_dataset *train, const vae_dataset *test,
                        const beta_options *b);

#endif
