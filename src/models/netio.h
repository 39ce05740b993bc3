/* Networks in checkpoints: the text forms and the sample shape of a
 * family's networks as records of the io container (docs/format.md). */
#ifndef VAE_MODELS_NETIO_H
#define VAE_MODELS_NETIO_H

#include <stdio.h>

#include "io/ckpt.h"
#include "nn/net.h"

/* Buffers a loaded configuration's network strings point into. */
typedef struct vm_net_texts {
    char enc[VN_MAX_TEXT + 1], dec[VN_MAX_TEXT + 1], pri[VN_MAX_TEXT + 1];
    char hier[VN_MAX_TEXT + 1]; /* hier_network (models/hvae.c) */
} vm_net_texts;

/* Write "<prefix>.encoder", ".decoder", ".prior_network" (NULL texts are
 * skipped) and ".input_shape". VAE_OK or the writer's error. */
int vm_save_networks(vio_writer *w, const char *prefix, const char *enc, const char *dec,
                     const char *pri, const int shape[3], char *msg);

/* Read those records where present (an older file keeps *enc etc. as they
 * are): the strings are copied into t and the pointers set to them (a NULL
 * pointer-to-pointer skips that network). VAE_OK or VAE_ERR_FORMAT. */
int vm_load_networks(const vio_file *f, const char *prefix, vm_net_texts *t, const char **enc,
                     const char **dec, const char **pri, int shape[3], char *msg);

#endif
