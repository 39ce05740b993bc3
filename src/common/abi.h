/* Writing the caller's public structs without overrunning them (the ABI
 * rule of docs/design.md, "Public API conventions"): a caller's struct may
 * be older and smaller than the library's, so every struct the library
 * writes gets exactly min(caller's size, library's size) bytes. */
#ifndef VAE_COMMON_ABI_H
#define VAE_COMMON_ABI_H

#include <stddef.h>
#include <string.h>

#include "common/abi_0_3_0.h"

/* The end of `field` in `type`, and that rounded up to 8 bytes: a 0.3.0
 * struct (alignment 8: each holds a size_t) ends at the rounded end of its
 * last 0.3.0 field, since fields are only ever added after it. */
#define VAE_ABI_END(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))
#define VAE_ABI_ROUND8(n) (((n) + (size_t)7) & ~(size_t)7)
#define VAE_ABI_PIN(type, last, size)                                             \
    _Static_assert(VAE_ABI_ROUND8(VAE_ABI_END(type, last)) == (size) &&          \
                       (size) <= sizeof(type),                                    \
                   #type ": the pinned 0.3.0 size must end at its 0.3.0 field " #last)

/* Copy the first min(size, full_size) bytes of the full struct *full (which
 * starts with its size_t struct_size) into dst, with dst->struct_size set to
 * that count. Nothing happens when dst is NULL or size cannot hold
 * struct_size. Returns the count written (0 for nothing). */
static inline size_t vae_abi_put(void *dst, const void *full, size_t full_size, size_t size)
{
    if (!dst || size < sizeof(size_t))
        return 0;
    size_t n = size < full_size ? size : full_size;
    memcpy(dst, full, n);
    memcpy(dst, &n, sizeof n);
    return n;
}

/* The sized initialiser of a public struct `type` whose defaults come from
 * defaults(type *): VAE_API void <type>_init_size(type *, size_t size). */
#define VAE_ABI_INIT_SIZE(type, defaults)                                          \
    VAE_API void type##_init_size(type *s, size_t size)                           \
    {                                                                             \
        type d;                                                                   \
        defaults(&d);                                                             \
        vae_abi_put(s, &d, sizeof d, size);                                       \
    }

/* The 0.3.0 entry point <type>_init of a struct that existed in 0.3.0:
 * programs built against 0.3.0's header call it with a 0.3.0 struct, so it
 * writes exactly the pinned 0.3.0 size (its last 0.3.0 field `last`),
 * never the current one. The header's macro of the same name passes sizeof. */
#define VAE_ABI_INIT_0_3_0(type, last, size)                                      \
    VAE_ABI_PIN(type, last, size);                                                \
    VAE_API void(type##_init)(type * s) { type##_init_size(s, size); }

#endif
