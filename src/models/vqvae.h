/* Internal view of vae_vqvae: the VQ-VAE (van den Oord et al. 2017).
 *
 *   encoder: x -> encoder layers -> h; z_e = h W + b     [n, M*D]
 *            (a spatial h [C, H, W]: z_e = 1x1 conv to D channels, M = H*W,
 *             then permuted to position-major rows of D)
 *   quantise: each of the M vectors of size D -> nearest code e_k of the
 *             codebook [K, D] (graph op VG_OP_VQ, straight-through gradient)
 *   decoder: z_q (back to [D, H, W] when spatial) -> decoder layers
 *            -> logits or means [n, input_dim]
 *   loss = -log p(x|z_q) + ||sg[z_e] - e||^2 + beta ||z_e - sg[e]||^2,
 *          per example, averaged over the batch (without the codebook term
 *          when the codebook follows moving averages).
 *
 * Functions here assume valid arguments (the api layer checks them).
 */
#ifndef VAE_MODELS_VQVAE_H
#define VAE_MODELS_VQVAE_H

#include <stddef.h>
#include <stdint.h>

#include "core/checkpoint.h"
#include "core/trainer.h"
#include "graph/graph.h"
#include "libvae/vae.h"
#include "nn/net.h"
#include "tensor/rng.h"

#define VQ_STREAM_TRAIN VC_STREAM_TRAIN
#define VQ_STREAM_EVAL VC_STREAM_EVAL
#define VQ_CHUNK VC_CHUNK

/* Node indices of a VQ-VAE graph. */
typedef struct vq_graph {
    int x, ze, code, vq, out, rec, vql, rec_mean, vql_mean, loss;
} vq_graph;

struct vae_vqvae {
    vae_vqvae_config cfg;
    vt_pool *pool;            /* thread team of cfg.threads (NULL for 1), shared by all graphs */
    vg_scratch scratch;       /* the ops' work space, shared by all graphs (they run one at a time) */
    vn_params P;              /* encoder, decoder and (gradient mode) the codebook */
    vn_net enc, dec;          /* encoder body, decoder */
    int w_ze;                 /* the z_e head: dense, or a 1x1 convolution when spatial */
    int spatial;              /* 1: codes per position of the encoder's H x W map */
    int grid[2];              /* that map's H, W (spatial) */
    char enc_text[VN_MAX_TEXT + 1], dec_text[VN_MAX_TEXT + 1]; /* cfg.encoder, cfg.decoder */
    int p_code;               /* codebook parameter index, or -1 (EMA mode) */
    float *codebook;          /* K x D: a view into P, or ema_code */

    /* Moving-average state (EMA mode; NULL otherwise). */
    float *ema_code;          /* K x D: the codebook e_i = m_i / N~_i */
    double *ema_n;            /* K: N_i */
    double *ema_m;            /* K x D: m_i */

    int64_t *idle;            /* K: training steps since code i was last chosen */
    double *counts;           /* K: workspace, a batch's code counts */
    double *sums;             /* K x D: workspace, a batch's sums of z_e per code */

    float *prior;             /* M x K: the categorical prior per position (NULL: none fitted) */

    vt_rng rng;               /* training stream: init, shuffles, binarisation, restarts, sampling */

    vg_graph *train_g, *eval_g, *dec_g;
    vq_graph tn, en;
    int dec_in, dec_out;

    vc_core core;             /* the training core: epoch buffers, parameter groups */
    double *usage;            /* K: code counts of the running epoch or evaluation */
    float *zq_buf;            /* VQ_CHUNK x M*D, for decoding indices */

    char errmsg[VAE_ERRMSG_LEN];
};

/* Declare the VQ-VAE's networks and parameters in P (encoder, z_e head,
 * decoder, codebook in gradient mode); fills q's net fields and, for a
 * spatial encoder, cfg->n_latents = H * W. VAE_OK or an error with msg. */
int vq_declare(vae_vqvae_config *c, vae_vqvae *q, char *msg);
/* The parameter count of a configuration (dry run) and its number of
 * latents (n_latents, or H * W for a spatial encoder; may be NULL); its status. */
int vq_param_count(const vae_vqvae_config *c, double *count, int *n_latents, char *msg);
int vq_config_check(const vae_vqvae_config *c, char *msg);
int vq_create(const vae_vqvae_config *cfg, vae_vqvae **out, char *msg);
void vq_free(vae_vqvae *q);

/* Change cfg.threads (a new thread team for all graphs): VAE_OK or VAE_ERR_NOMEM. */
int vq_set_threads(vae_vqvae *q, int threads, char *msg);

int vq_train_step(vae_vqvae *q, vae_optimizer *opt, const float *x, size_t n,
                  vae_vqvae_stats *st);
int vq_train_epoch(vae_vqvae *q, vae_optimizer *opt, const vae_dataset *ds, size_t batch,
                   vae_progress_fn progress, void *user, vae_vqvae_stats *st);
int vq_evaluate(vae_vqvae *q, const vae_dataset *ds, size_t batch, vae_vqvae_stats *st);
int vq_encode(vae_vqvae *q, const float *x, size_t n, int *codes);
int vq_decode(vae_vqvae *q, const int *codes, size_t n, float *out);
int vq_reconstruct(vae_vqvae *q, const float *x, size_t n, float *out);

/* Codebook learning (models/vqvae_codebook.c). */
/* Count a batch's codes (idx: rows floats) into q->counts and, when sums,
 * its z_e rows into q->sums. */
void vq_count(vae_vqvae *q, const float *idx, const float *ze, size_t rows, int sums);
/* The EMA update from q->counts and q->sums:
 *   N_i <- g N_i + (1 - g) n_i;  m_i <- g m_i + (1 - g) sum z
 *   N~_i = (N_i + eps) / (sum N + K eps) * sum N;  e_i = m_i / N~_i */
void vq_ema_update(vae_vqvae *q);
/* Smoothed count N~_i of every code into out (K doubles). */
void vq_ema_smoothed(const vae_vqvae *q, double *out);
/* Advance idle counters from q->counts; codes idle for cfg.restart_after
 * steps move to random rows of ze (rows x D). Returns how many moved. */
int vq_restart_dead(vae_vqvae *q, const float *ze, size_t rows);
/* Perplexity exp(H(p)) and codes used of a count vector (K doubles). */
void vq_usage(const double *counts, int K, double *perplexity, size_t *used);

/* The VQ-VAE as a family of the training core (vqvae.c); its checkpoint
 * section (vqvae_checkpoint.c): vc_save / vc_load with vq_format. */
extern const vc_family vq_family;
extern const vc_format vq_format;
extern const vc_step vq_plain_step;

#endif
