/* Checkpoint framing of the training core: what every family's file has
 * (docs/format.md), written and read once; the family adds its section.
 *
 *   save: parameters finite (and the family's own check), then model.kind,
 *         the family's config records, its training stream (rng_name), one
 *         param.<name> record per parameter tensor, the family's state
 *         records, the optimizer's state; committed atomically.
 *   load: the file, model.kind (the family refuses others with its message),
 *         the family's config, the parameter count checked against the file
 *         before anything that size is allocated, the handle created, the
 *         stream, the parameters (shape, finite), the family's state, the
 *         optimizer (its size, then the model's parameter groups).
 */
#ifndef VAE_CORE_CHECKPOINT_H
#define VAE_CORE_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "core/trainer.h"
#include "io/ckpt.h"
#include "libvae/vae.h"

/* A family's checkpoint section. */
typedef struct vc_format {
    int kind;                  /* model.kind */
    const char *rng_name;      /* the training stream's record */
    size_t config_size;        /* storage load_config fills (a config and what it points to) */
    /* VAE_OK for the family's kind; else VAE_ERR_FORMAT naming the right loader. */
    int (*check_kind)(int kind, char *msg);
    /* Saving: an extra refusal before anything is written (NULL: none). */
    int (*save_check)(void *self, char *msg);
    int (*save_config)(void *self, vio_writer *w, char *msg);
    int (*save_state)(void *self, vio_writer *w, char *msg);
    /* Loading: the configuration (checked: a bad one is VAE_ERR_FORMAT),
     * its parameter count, the handle built from it, its saved state. */
    int (*load_config)(const vio_file *f, void *cfg, char *msg);
    int (*param_count)(const void *cfg, double *count, char *msg);
    int (*create)(const void *cfg, vc_core **out, char *msg);
    int (*load_state)(void *self, const vio_file *f, char *msg);
    void (*destroy)(void *self);
} vc_format;

/* A family's vc_format made of its section's functions, which every
 * family's checkpoint file names alike (static check_kind, save_config,
 * save_state, load_config, param_count, create, load_state, destroy):
 * one table layout, written once. */
#define VC_FORMAT(kind_, rng_name_, loaded_type, save_check_)                              \
    {                                                                                      \
        .kind = (kind_), .rng_name = (rng_name_), .config_size = sizeof(loaded_type),      \
        .check_kind = check_kind, .save_check = (save_check_), .save_config = save_config, \
        .save_state = save_state, .load_config = load_config, .param_count = param_count,  \
        .create = create, .load_state = load_state, .destroy = destroy,                     \
    }

/* Write the handle of core k (and opt's state when not NULL) to path. */
int vc_save(vc_core *k, const vc_format *fmt, const vae_optimizer *opt, const char *path);

/* Read a checkpoint of fmt's family: *out the new handle's core, *opt_out
 * (when wanted) its optimizer or NULL. Nothing is returned on failure. */
int vc_load(const vc_format *fmt, const char *path, vc_core **out, vae_optimizer **opt_out,
            char *msg);

/* The public load call's frame: outputs cleared, path and out checked,
 * vc_load, *out the new handle (its core's self), the status and message
 * into err. */
int vc_load_call(const vc_format *fmt, const char *path, void **out, vae_optimizer **opt_out,
                 vae_error *err);

/* The public save call's frame: the arguments checked (vc_check_save: opt
 * bound to these parameters, a path), then vc_save. */
int vc_save_call(vc_core *k, const vc_format *fmt, const vae_optimizer *opt, const char *path);

/* Record helpers of config sections. An int record must fit an int. */
int vc_get_int(const vio_file *f, const char *name, int *out, char *msg);
int vc_get_float(const vio_file *f, const char *name, float *out, char *msg);
/* Optional records: absent keeps *out, present must be valid. */
int vc_opt_int(const vio_file *f, const char *name, int *out, char *msg);
int vc_opt_float(const vio_file *f, const char *name, float *out, char *msg);
int vc_opt_u64(const vio_file *f, const char *name, uint64_t *out, char *msg);
/* A hidden-layer list (VAE_MAX_HIDDEN sizes, each 0..2^20) and a seed. */
int vc_save_hidden(vio_writer *w, const char *name, const int *hidden, char *msg);
int vc_load_hidden(const vio_file *f, const char *name, int *hidden, char *msg);
/* VAE_ERR_FORMAT: "invalid <what> configuration in the file: <msg>". */
int vc_config_invalid(char *msg, const char *what);

#endif
