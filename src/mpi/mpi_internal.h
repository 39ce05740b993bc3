/* Internal view of vae_mpi (libvae_mpi uses only libvae's public API). */
#ifndef VAE_MPI_INTERNAL_H
#define VAE_MPI_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include "libvae/vae_mpi.h"

struct vae_mpi {
    MPI_Comm comm;        /* our duplicate, errors return */
    int rank, size;
    int noise;            /* enum vae_mpi_noise */
    size_t P;             /* parameter count agreed by vae_mpi_sync_model (0: not synced) */
    float *fused;         /* gradient + statistics, exchanged in one allreduce (P + tail floats) */
    size_t fused_cap;     /* floats */
    float *batch;         /* a gathered shard */
    size_t batch_cap;     /* floats */
    float *cbatch;        /* the shard's conditions (conditional models) */
    size_t cbatch_cap;    /* floats */
    size_t *order;        /* an epoch's permutation */
    size_t order_cap;
    char errmsg[VAE_ERRMSG_LEN];
};

/* Floats after the gradient in the fused buffer (train.c's layout fits). */
#define VMPI_TAIL 8

/* Format the handle's message and return status. */
int vmpi_fail(vae_mpi *c, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* VAE_OK, or VAE_ERR_IO with MPI's text for code rc in the message. */
int vmpi_check(vae_mpi *c, int rc, const char *what);

/* Grow *buf to hold n elements of size sz; 0 or -1. */
int vmpi_reserve(void **buf, size_t *cap, size_t n, size_t sz);

#endif
