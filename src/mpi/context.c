/* The vae_mpi handle: communicator, agreement on outcomes, model
 * synchronisation (broadcast of rank 0's parameters, per-rank streams) and
 * the shard rule. */
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_internal.h"

int vmpi_fail(vae_mpi *c, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
    va_end(ap);
    return status;
}

int vmpi_check(vae_mpi *c, int rc, const char *what)
{
    if (rc == MPI_SUCCESS)
        return VAE_OK;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "MPI error %d", rc);
    return vmpi_fail(c, VAE_ERR_IO, "%s: %s", what, text);
}

int vmpi_reserve(void **buf, size_t *cap, size_t n, size_t sz)
{
    if (n <= *cap)
        return 0;
    void *p = realloc(*buf, n * sz);
    if (!p)
        return -1;
    *buf = p;
    *cap = n;
    return 0;
}

static int set_err(vae_error *err, int status, const char *msg)
{
    if (err) {
        err->status = status;
        snprintf(err->message, sizeof err->message, "%s", msg);
    }
    return status;
}

VAE_API int vae_mpi_create(MPI_Comm comm, vae_mpi **out, vae_error *err)
{
    if (!out)
        return set_err(err, VAE_ERR_NULL, "out is NULL");
    *out = NULL;
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited)
        return set_err(err, VAE_ERR_INVALID, "MPI is not initialised (call MPI_Init first)");
    if (comm == MPI_COMM_NULL)
        return set_err(err, VAE_ERR_INVALID, "comm is MPI_COMM_NULL");
    vae_mpi *c = calloc(1, sizeof *c);
    if (!c)
        return set_err(err, VAE_ERR_NOMEM, "out of memory");
    int rc = MPI_Comm_dup(comm, &c->comm);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_set_errhandler(c->comm, MPI_ERRORS_RETURN);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_rank(c->comm, &c->rank);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_size(c->comm, &c->size);
    if (rc != MPI_SUCCESS) {
        vmpi_check(c, rc, "create");
        set_err(err, VAE_ERR_IO, c->errmsg);
        vae_mpi_free(c);
        return VAE_ERR_IO;
    }
    c->noise = VAE_MPI_NOISE_KEYED;
    *out = c;
    return set_err(err, VAE_OK, "");
}

VAE_API void vae_mpi_free(vae_mpi *ctx)
{
    if (!ctx)
        return;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (ctx->comm != MPI_COMM_NULL && ctx->comm != 0 && !finalized)
        MPI_Comm_free(&ctx->comm);
    free(ctx->fused);
    free(ctx->batch);
    free(ctx->cbatch);
    free(ctx->order);
    free(ctx);
}

VAE_API int vae_mpi_rank(const vae_mpi *ctx) { return ctx ? ctx->rank : -1; }

VAE_API int vae_mpi_size(const vae_mpi *ctx) { return ctx ? ctx->size : 0; }

VAE_API const char *vae_mpi_errmsg(const vae_mpi *ctx) { return ctx ? ctx->errmsg : "ctx is NULL"; }

VAE_API int vae_mpi_set_noise(vae_mpi *ctx, int noise)
{
    if (!ctx)
        return VAE_ERR_NULL;
    if (noise != VAE_MPI_NOISE_KEYED && noise != VAE_MPI_NOISE_RANK_STREAM)
        return vmpi_fail(ctx, VAE_ERR_INVALID, "set_noise: noise = %d: unknown", noise);
    ctx->noise = noise;
    return VAE_OK;
}

VAE_API int vae_mpi_agree(vae_mpi *ctx, int status, const char *msg)
{
    if (!ctx)
        return VAE_ERR_NULL;
    /* The lowest failing rank: MIN over (rank if failed else size). */
    int mine = status != VAE_OK ? ctx->rank : ctx->size, lowest = ctx->size;
    int rc = vmpi_check(ctx, MPI_Allreduce(&mine, &lowest, 1, MPI_INT, MPI_MIN, ctx->comm), "agree");
    if (rc != VAE_OK)
        return rc;
    if (lowest == ctx->size)
        return VAE_OK;
    /* Its status and message, broadcast from it. */
    struct {
        int status;
        char msg[VAE_ERRMSG_LEN];
    } what;
    memset(&what, 0, sizeof what);
    if (ctx->rank == lowest) {
        what.status = status;
        snprintf(what.msg, sizeof what.msg, "%s", msg ? msg : vae_status_str(status));
    }
    rc = vmpi_check(ctx, MPI_Bcast(&what, (int)sizeof what, MPI_BYTE, lowest, ctx->comm), "agree");
    if (rc != VAE_OK)
        return rc;
    what.msg[sizeof what.msg - 1] = '\0';
    return vmpi_fail(ctx, what.status, "rank %d: %s", lowest, what.msg);
}

/* FNV-1a over bytes. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

/* A fingerprint of what must agree between ranks: the model's configuration
 * except its thread count, and the optimizer's configuration. */
static uint64_t fingerprint(const vae_model_config *mc, const vae_optimizer *opt)
{
    vae_model_config c = *mc;
    c.threads = 0;
    uint64_t h = 0xcbf29ce484222325ULL;
    /* runs of 4-byte fields (no padding inside), as of 0.2.0 */
    h = fnv(h, &c.input_dim, offsetof(vae_model_config, seed) - offsetof(vae_model_config, input_dim));
    h = fnv(h, &c.seed, sizeof c.seed);
    h = fnv(h, &c.posterior, offsetof(vae_model_config, beta) + sizeof c.beta -
                                 offsetof(vae_model_config, posterior));
    if (opt) {
        vae_optimizer_config oc;
        vae_optimizer_config_init(&oc, VAE_OPT_SGD);
        vae_optimizer_get_config(opt, &oc);
        h = fnv(h, &oc.type, offsetof(vae_optimizer_config, clip_norm) + sizeof oc.clip_norm -
                                 offsetof(vae_optimizer_config, type));
    }
    return h;
}

VAE_API int vae_mpi_sync_model(vae_mpi *ctx, vae_model *model, const vae_optimizer *opt)
{
    if (!ctx)
        return VAE_ERR_NULL;
    int local = VAE_OK;
    const char *why = NULL;
    vae_model_config mc;
    vae_model_config_init(&mc);
    if (!model) {
        local = VAE_ERR_NULL;
        why = "sync_model: model is NULL";
    } else {
        vae_model_get_config(model, &mc);
    }
    int rc = vae_mpi_agree(ctx, local, why);
    if (rc != VAE_OK)
        return rc;
    /* One MAX reduction over (x, -x) pairs gives every rank the min and max. */
    int64_t P = (int64_t)vae_model_param_count(model);
    int64_t steps = opt ? (int64_t)vae_optimizer_steps(opt) : 0;
    int64_t fp = (int64_t)(fingerprint(&mc, opt) >> 1);
    int64_t v[6] = {P, -P, steps, -steps, fp, -fp}, r[6];
    rc = vmpi_check(ctx, MPI_Allreduce(v, r, 6, MPI_INT64_T, MPI_MAX, ctx->comm), "sync_model");
    if (rc != VAE_OK)
        return rc;
    if (r[0] != -r[1])
        return vmpi_fail(ctx, VAE_ERR_SHAPE,
                         "sync_model: the ranks' models differ in size (%lld to %lld parameters)",
                         (long long)-r[1], (long long)r[0]);
    if (r[4] != -r[5])
        return vmpi_fail(ctx, VAE_ERR_INVALID,
                         "sync_model: the ranks' model or optimizer configurations differ");
    if (r[2] != -r[3])
        return vmpi_fail(ctx, VAE_ERR_INVALID,
                         "sync_model: the ranks' optimizers are at different steps (%lld to %lld)",
                         (long long)-r[3], (long long)r[2]);
    if (P + VMPI_TAIL > INT_MAX)
        return vmpi_fail(ctx, VAE_ERR_LIMIT,
                         "sync_model: %lld parameters exceed one MPI message (2^31 - 1 floats)",
                         (long long)P);
    if (vmpi_reserve((void **)&ctx->fused, &ctx->fused_cap, (size_t)P + VMPI_TAIL, sizeof(float)) != 0)
        local = VAE_ERR_NOMEM;
    if ((rc = vae_mpi_agree(ctx, local, "sync_model: out of memory")) != VAE_OK)
        return rc;
    ctx->P = (size_t)P;
    if (ctx->rank == 0)
        memcpy(ctx->fused, vae_model_param_data(model), (size_t)P * sizeof(float));
    rc = vmpi_check(ctx, MPI_Bcast(ctx->fused, (int)P, MPI_FLOAT, 0, ctx->comm), "sync_model");
    if (rc != VAE_OK)
        return rc;
    local = vae_model_set_params(model, ctx->fused, (size_t)P);
    if (local == VAE_OK)
        local = vae_model_reseed(model, mc.seed, (uint64_t)ctx->rank);
    return vae_mpi_agree(ctx, local, local == VAE_OK ? NULL : vae_model_errmsg(model));
}

VAE_API int vae_mpi_shard(const vae_mpi *ctx, size_t n, size_t *first, size_t *count)
{
    if (!ctx || !first || !count)
        return VAE_ERR_NULL;
    /* floor(r n / s) in 128-bit-free form: n / s * r + (n % s) * r / s. */
    size_t s = (size_t)ctx->size, r = (size_t)ctx->rank;
    size_t lo = n / s * r + (n % s) * r / s;
    size_t hi = n / s * (r + 1) + (n % s) * (r + 1) / s;
    *first = lo;
    *count = hi - lo;
    return VAE_OK;
}
