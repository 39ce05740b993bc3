/* CRC-32 (reflected polynomial 0xEDB88320, initial and final XOR 0xFFFFFFFF),
 * the same function as zlib's crc32(). Slicing-by-8: eight bytes per step
 * through eight precomputed tables (crc32_table.h), about 1 byte/cycle,
 * so checksumming a checkpoint costs little next to writing it.
 *
 * Words are assembled from bytes explicitly (little-endian order, the order
 * the reflected CRC consumes them), so the code is correct on any host byte
 * order and at any alignment; compilers turn the assembly into one load on
 * little-endian machines. */
#include "io/crc32.h"

#include "io/crc32_table.h"

static uint32_t load_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* One byte through the bitwise-equivalent single-table step. */
static uint32_t crc_byte(uint32_t crc, unsigned char b)
{
    return crc_table[0][(crc ^ b) & 0xffu] ^ (crc >> 8);
}

/* Eight bytes at once: the first four are folded into the running CRC,
 * and each of the eight bytes then contributes through the table that
 * accounts for the number of bytes still following it in this block. */
static uint32_t crc_block8(uint32_t crc, const unsigned char *p)
{
    uint32_t lo = crc ^ load_le32(p);
    return crc_table[7][lo & 0xffu] ^ crc_table[6][(lo >> 8) & 0xffu] ^
           crc_table[5][(lo >> 16) & 0xffu] ^ crc_table[4][lo >> 24] ^
           crc_table[3][p[4]] ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^ crc_table[0][p[7]];
}

uint32_t vio_crc32(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;
    /* The stored value is the complement of the register (as in zlib), so
     * that crc = 0 starts a fresh CRC and calls can be chained. */
    crc = ~crc;
    while (len >= 8) {
        crc = crc_block8(crc, p);
        p += 8;
        len -= 8;
    }
    while (len > 0) {
        crc = crc_byte(crc, *p++);
        len--;
    }
    return ~crc;
}
