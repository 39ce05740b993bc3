/* CRC-32 (IEEE 802.3; the polynomial of zlib, PNG and gzip) over a byte
 * buffer, computed without zlib so the checkpoint format does not depend on
 * it. The result equals zlib's crc32() for the same bytes and start value. */
#ifndef VAE_IO_CRC32_H
#define VAE_IO_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Extend crc over len bytes of data. Start with crc = 0; feeding a buffer in
 * pieces gives the same value as feeding it whole:
 *     vio_crc32(vio_crc32(0, a, n), b, m) == CRC of a followed by b.
 * data may be NULL when len is 0. Thread-safe (no state). */
uint32_t vio_crc32(uint32_t crc, const void *data, size_t len);

#endif
