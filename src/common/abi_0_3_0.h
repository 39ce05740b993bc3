/* The sizes of the public structs in release 0.3.0's <libvae/vae.h>
 * (tests/fixtures/0.3.0/libvae/vae.h), for the 0.3.0 entry points that
 * programs built against that header call (vae_model_config_init, ...):
 * those must write exactly these many bytes forever, whatever the current
 * struct has grown to. Plain numbers, so a test compiled against the 0.3.0
 * header can include this file and check them with static assertions
 * (tests/infra/abi_old_header.c); the library checks them against the
 * current header's fields (the 0.3.0 fields stay a prefix). Never change a
 * value. */
#ifndef VAE_ABI_0_3_0_H
#define VAE_ABI_0_3_0_H

#include <stdint.h>

#if UINTPTR_MAX == UINT64_MAX
/* LP64 (x86-64, aarch64, ...): measured from the 0.3.0 header. */
#  define VAE_0_3_0_SIZEOF_DATASET_OPTIONS 32
#  define VAE_0_3_0_SIZEOF_OPTIMIZER_CONFIG 40
#  define VAE_0_3_0_SIZEOF_MODEL_CONFIG 184
#  define VAE_0_3_0_SIZEOF_VQVAE_CONFIG 112
#  define VAE_0_3_0_SIZEOF_TRAINING_STATE 64
#  define VAE_0_3_0_SIZEOF_DIAGNOSTICS 40
#else
#  error "libvae: the 0.3.0 struct sizes are pinned for LP64 only; measure them from tests/fixtures/0.3.0/libvae/vae.h for this ABI"
#endif

#endif
