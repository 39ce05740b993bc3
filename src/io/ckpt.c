/* The checkpoint container (layout in docs/format.md): encoding and
 * decoding of tensor records, the atomic temp-file-and-rename writer, and
 * the validating reader.
 *
 * Every multi-byte value goes through explicit little-endian helpers, so
 * files are identical on every host; on little-endian hosts whole element
 * arrays are copied with memcpy instead. The reader trusts nothing in the
 * file: every size is checked against what is actually present (with
 * overflow-safe arithmetic) before anything is allocated from it.
 */
#define _POSIX_C_SOURCE 200809L

#include "io/ckpt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/files.h"
#include "io/crc32.h"

_Static_assert(sizeof(float) == 4 && sizeof(double) == 8,
               "f32/f64 records need 32- and 64-bit IEEE floating types");

/* ------------------------------------------------------------------------ */
/* Layout constants and little-endian helpers                                */
/* ------------------------------------------------------------------------ */

/* PNG-style: the high-bit byte catches 7-bit transfers, CR LF and the lone
 * LF catch newline translation, 0x1A stops `type` on DOS. */
static const unsigned char vio_magic[8] = {0x89, 'V', 'A', 'E', '\r', '\n', 0x1A, '\n'};

#define VIO_VERSION 1u
#define VIO_HEADER_BYTES 32u
#define VIO_CRC_BYTES 4u
#define VIO_MIN_FILE_BYTES (VIO_HEADER_BYTES + VIO_CRC_BYTES)
/* Smallest possible record: u16 name_len, a 1-byte name, dtype, ndim = 0,
 * and one f32 element. Bounds the tensor count a payload can hold. */
#define VIO_MIN_RECORD_BYTES 9u

static void put_u16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint16_t get_u16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Decided at run time (the compiler folds it) rather than by a macro, so
 * no platform's byte-order macro spelling matters. */
static int host_is_le(void)
{
    const uint32_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

static size_t elem_size(int dtype)
{
    switch (dtype) {
    case VIO_U8: return 1;
    case VIO_F32: return 4;
    case VIO_I64:
    case VIO_F64:
    case VIO_U64: return 8;
    default: return 0;
    }
}

static const char *dtype_name(int dtype)
{
    switch (dtype) {
    case VIO_F32: return "f32";
    case VIO_I64: return "i64";
    case VIO_F64: return "f64";
    case VIO_U64: return "u64";
    case VIO_U8: return "u8";
    default: return "unknown";
    }
}

/* Host-order elements to little-endian bytes. Floats share the byte order
 * of same-sized integers on every host we target, so a float is encoded
 * through its bit pattern (NaN payloads and -0.0 survive unchanged). */
static void encode_elems(unsigned char *dst, const void *src, size_t esize, size_t count)
{
    if (host_is_le() || esize == 1) {
        memcpy(dst, src, esize * count);
        return;
    }
    const unsigned char *s = src;
    for (size_t i = 0; i < count; i++, s += esize, dst += esize) {
        if (esize == 4) {
            uint32_t v;
            memcpy(&v, s, 4);
            put_u32(dst, v);
        } else {
            uint64_t v;
            memcpy(&v, s, 8);
            put_u64(dst, v);
        }
    }
}

/* Little-endian bytes to host-order elements; the inverse of encode_elems. */
static void decode_elems(void *dst, const unsigned char *src, size_t esize, size_t count)
{
    if (host_is_le() || esize == 1) {
        memcpy(dst, src, esize * count);
        return;
    }
    unsigned char *d = dst;
    for (size_t i = 0; i < count; i++, src += esize, d += esize) {
        if (esize == 4) {
            uint32_t v = get_u32(src);
            memcpy(d, &v, 4);
        } else {
            uint64_t v = get_u64(src);
            memcpy(d, &v, 8);
        }
    }
}

/* Printable ASCII only, so names can be quoted in messages and file dumps. */
static int name_ok(const unsigned char *s, size_t len)
{
    if (len == 0 || len > VIO_MAX_NAME)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return 0;
    return 1;
}

/* prod(dims) into *count; -1 if it does not fit in 64 bits. A zero
 * dimension makes the product 0 whatever the others are, so it is checked
 * first (otherwise {2^63, 2^63, 0} would be reported as an overflow). */
static int shape_count(int ndim, const uint64_t *dims, uint64_t *count)
{
    for (int i = 0; i < ndim; i++) {
        if (dims[i] == 0) {
            *count = 0;
            return 0;
        }
    }
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (n > UINT64_MAX / dims[i])
            return -1;
        n *= dims[i];
    }
    *count = n;
    return 0;
}

static void build_header(unsigned char *h, uint64_t tensor_count, uint64_t payload_bytes)
{
    memcpy(h, vio_magic, sizeof vio_magic);
    put_u32(h + 8, VIO_VERSION);
    put_u32(h + 12, 0); /* flags */
    put_u64(h + 16, tensor_count);
    put_u64(h + 24, payload_bytes);
}

/* ------------------------------------------------------------------------ */
/* Writer                                                                    */
/* ------------------------------------------------------------------------ */

struct vio_writer {
    unsigned char *buf; /* the payload: records back to back */
    size_t len, cap;
    char **names;       /* names added so far, to refuse duplicates */
    size_t count, names_cap;
};

vio_writer *vio_writer_new(void) { return calloc(1, sizeof(vio_writer)); }

void vio_writer_free(vio_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->count; i++)
        free(w->names[i]);
    free(w->names);
    free(w->buf);
    free(w);
}

/* Make room for extra more payload bytes (amortised doubling). */
static int payload_reserve(vio_writer *w, size_t extra)
{
    if (extra <= w->cap - w->len)
        return 0;
    if (extra > SIZE_MAX - w->len)
        return -1;
    size_t need = w->len + extra;
    size_t cap = w->cap ? w->cap : 4096;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    unsigned char *p = realloc(w->buf, cap);
    if (!p)
        return -1;
    w->buf = p;
    w->cap = cap;
    return 0;
}

static int names_reserve(vio_writer *w)
{
    if (w->count < w->names_cap)
        return 0;
    size_t cap = w->names_cap ? w->names_cap * 2 : 16;
    if (cap > SIZE_MAX / sizeof(char *))
        return -1;
    char **p = realloc(w->names, cap * sizeof(char *));
    if (!p)
        return -1;
    w->names = p;
    w->names_cap = cap;
    return 0;
}

/* A checkpoint holds tens of tensors, so a linear scan is the right tool. */
static int name_taken(const vio_writer *w, const char *name)
{
    for (size_t i = 0; i < w->count; i++)
        if (strcmp(w->names[i], name) == 0)
            return 1;
    return 0;
}

/* Everything about a record that can be wrong, checked before the writer
 * changes; on success *data_bytes and *rec_bytes are the record's sizes. */
static int check_record(const vio_writer *w, const char *name, size_t name_len, int dtype,
                        int ndim, const uint64_t *dims, const void *data, size_t *data_bytes,
                        size_t *rec_bytes, char *msg)
{
    if (!name_ok((const unsigned char *)name, name_len))
        return vae_fail(msg, VAE_ERR_INVALID,
                        "checkpoint tensor name must be 1..%d printable ASCII characters",
                        VIO_MAX_NAME);
    size_t esize = elem_size(dtype);
    if (esize == 0)
        return vae_fail(msg, VAE_ERR_INVALID, "checkpoint tensor '%s': unknown dtype %d", name,
                        dtype);
    if (ndim < 0 || ndim > VIO_MAX_DIMS || (ndim > 0 && !dims))
        return vae_fail(msg, VAE_ERR_INVALID,
                        "checkpoint tensor '%s': ndim %d not in 0..%d (or dims missing)", name,
                        ndim, VIO_MAX_DIMS);
    uint64_t count;
    if (shape_count(ndim, dims, &count) != 0)
        return vae_fail(msg, VAE_ERR_INVALID,
                        "checkpoint tensor '%s': shape overflows a 64-bit element count", name);
    if (count > 0 && !data)
        return vae_fail(msg, VAE_ERR_INVALID, "checkpoint tensor '%s': data is NULL", name);
    if (name_taken(w, name))
        return vae_fail(msg, VAE_ERR_INVALID, "checkpoint tensor '%s' added twice", name);
    /* Refuse here what the reader would refuse, rather than write a file
     * that cannot be loaded. All sums stay far below 2^64. */
    uint64_t limit = VIO_MAX_FILE_BYTES;
#if SIZE_MAX < UINT64_MAX
    if (limit > SIZE_MAX)
        limit = SIZE_MAX;
#endif
    if (count > limit / esize)
        return vae_fail(msg, VAE_ERR_LIMIT, "checkpoint tensor '%s': %" PRIu64 " elements is too large",
                        name, count);
    uint64_t dbytes = count * esize;
    uint64_t rbytes = 2 + name_len + 2 + 8 * (uint64_t)ndim + dbytes;
    if ((uint64_t)w->len + rbytes + VIO_MIN_FILE_BYTES > limit)
        return vae_fail(msg, VAE_ERR_LIMIT,
                        "checkpoint tensor '%s': the checkpoint would exceed %" PRIu64 " bytes",
                        name, limit);
    *data_bytes = (size_t)dbytes;
    *rec_bytes = (size_t)rbytes;
    return VAE_OK;
}

int vio_writer_add(vio_writer *w, const char *name, int dtype, int ndim, const uint64_t *dims,
                   const void *data, char *msg)
{
    if (!w || !name)
        return vae_fail(msg, VAE_ERR_INVALID, "checkpoint writer: NULL writer or tensor name");
    size_t name_len = strnlen(name, VIO_MAX_NAME + 1);
    size_t data_bytes = 0, rec_bytes = 0; /* set by check_record on success */
    int st = check_record(w, name, name_len, dtype, ndim, dims, data, &data_bytes, &rec_bytes,
                          msg);
    if (st != VAE_OK)
        return st;

    /* Acquire every resource first so a failure leaves the writer unchanged. */
    char *copy = NULL;
    if (payload_reserve(w, rec_bytes) != 0 || names_reserve(w) != 0 ||
        !(copy = strdup(name)))
        return vae_fail(msg, VAE_ERR_NOMEM, "checkpoint tensor '%s': out of memory", name);

    unsigned char *p = w->buf + w->len;
    put_u16(p, (uint16_t)name_len);
    memcpy(p + 2, name, name_len);
    p += 2 + name_len;
    *p++ = (unsigned char)dtype;
    *p++ = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++, p += 8)
        put_u64(p, dims[i]);
    if (data_bytes > 0)
        encode_elems(p, data, elem_size(dtype), data_bytes / elem_size(dtype));
    w->len += rec_bytes;
    w->names[w->count++] = copy;
    return VAE_OK;
}

int vio_writer_add_i64(vio_writer *w, const char *name, int64_t v, char *msg)
{
    return vio_writer_add(w, name, VIO_I64, 0, NULL, &v, msg);
}

int vio_writer_add_f64(vio_writer *w, const char *name, double v, char *msg)
{
    return vio_writer_add(w, name, VIO_F64, 0, NULL, &v, msg);
}

int vio_writer_add_text(vio_writer *w, const char *name, const char *text, char *msg)
{
    uint64_t dims[1] = {strlen(text)};
    return vio_writer_add(w, name, VIO_U8, 1, dims, text, msg);
}

/* Header, payload and CRC into fd (vae_write_atomic makes it durable and
 * visible). 0 or an errno value. */
static int write_file_body(const vio_writer *w, int fd)
{
    unsigned char header[VIO_HEADER_BYTES], tail[VIO_CRC_BYTES];
    build_header(header, w->count, w->len);
    put_u32(tail, vio_crc32(0, w->buf, w->len));
    int e = vae_write_all(fd, header, sizeof header);
    if (!e)
        e = vae_write_all(fd, w->buf, w->len);
    if (!e)
        e = vae_write_all(fd, tail, sizeof tail);
    return e;
}

static int commit_body(int fd, const void *ctx) { return write_file_body(ctx, fd); }

int vio_writer_commit(vio_writer *w, const char *path, char *msg)
{
    if (!w || !path)
        return vae_fail(msg, VAE_ERR_INVALID, "checkpoint commit: NULL writer or path");
    if (!*path)
        return vae_fail(msg, VAE_ERR_INVALID, "checkpoint commit: the path is empty");
    return vae_write_atomic(path, commit_body, w, msg);
}

/* ------------------------------------------------------------------------ */
/* Reader                                                                    */
/* ------------------------------------------------------------------------ */

/* A tensor and the malloc'd block holding its data and then its name.
 * malloc's alignment suits every dtype, so data can be handed out as is. */
struct vio_entry {
    vio_tensor t;
    unsigned char *block;
};

struct vio_file {
    char *path;                 /* for messages of later lookups */
    size_t count;
    struct vio_entry *entries;  /* file order */
    struct vio_entry **by_name; /* sorted by name, for lookup and duplicates */
};

struct vio_header {
    uint64_t tensor_count;
    uint64_t payload_bytes;
};

/* Read until n bytes or end of file; *got receives how many. 0 or errno. */
static int read_full(int fd, unsigned char *p, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        size_t want = n - *got;
        if (want > ((size_t)1 << 30))
            want = (size_t)1 << 30;
        ssize_t k = read(fd, p + *got, want);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (k == 0)
            break;
        *got += (size_t)k;
    }
    return 0;
}

/* Everything the 32-byte header says, checked against the real file size
 * before any allocation depends on it. head holds min(size, 32) bytes. */
static int check_header(const char *path, const unsigned char *head, uint64_t size,
                        struct vio_header *h, char *msg)
{
    if (size < sizeof vio_magic || memcmp(head, vio_magic, sizeof vio_magic) != 0)
        return vae_fail(msg, VAE_ERR_FORMAT, "%s: not a libvae checkpoint (%s)", path,
                        size < sizeof vio_magic ? "file too short" : "bad magic");
    if (size < VIO_MIN_FILE_BYTES)
        return vae_fail(msg, VAE_ERR_FORMAT,
                        "%s: truncated: %" PRIu64 " bytes, a checkpoint has at least %u", path,
                        size, VIO_MIN_FILE_BYTES);
    uint32_t version = get_u32(head + 8), flags = get_u32(head + 12);
    if (version != VIO_VERSION)
        return vae_fail(msg, VAE_ERR_FORMAT, "%s: format version %" PRIu32
                        " not supported, expected %u", path, version, VIO_VERSION);
    if (flags != 0)
        return vae_fail(msg, VAE_ERR_FORMAT, "%s: unknown header flags 0x%08" PRIx32
                        ", expected 0", path, flags);
    if (size > VIO_MAX_FILE_BYTES)
        return vae_fail(msg, VAE_ERR_LIMIT, "%s: %" PRIu64 " bytes exceeds the checkpoint limit of %"
                        PRIu64 " bytes", path, size, (uint64_t)VIO_MAX_FILE_BYTES);
    h->tensor_count = get_u64(head + 16);
    h->payload_bytes = get_u64(head + 24);
    uint64_t present = size - VIO_MIN_FILE_BYTES; /* payload bytes the file can hold */
    if (h->payload_bytes > present)
        return vae_fail(msg, VAE_ERR_FORMAT, "%s: truncated: the header declares %" PRIu64
                        " payload bytes, the file (%" PRIu64 " bytes) holds %" PRIu64,
                        path, h->payload_bytes, size, present);
    if (h->payload_bytes < present)
        return vae_fail(msg, VAE_ERR_FORMAT, "%s: %" PRIu64 " trailing bytes: the header declares %"
                        PRIu64 " payload bytes, so the file should be %" PRIu64 " bytes, not %"
                        PRIu64, path, present - h->payload_bytes, h->payload_bytes,
                        h->payload_bytes + VIO_MIN_FILE_BYTES, size);
    if (h->tensor_count > h->payload_bytes / VIO_MIN_RECORD_BYTES)
        return vae_fail(msg, VAE_ERR_FORMAT, "%s: the header declares %" PRIu64
                        " tensors, impossible in %" PRIu64 " payload bytes", path,
                        h->tensor_count, h->payload_bytes);
#if SIZE_MAX < UINT64_MAX
    if (h->payload_bytes > SIZE_MAX - VIO_CRC_BYTES)
        return vae_fail(msg, VAE_ERR_LIMIT, "%s: too large for this platform's memory", path);
#endif
    return VAE_OK;
}

/* Open path and load the payload and its stored CRC (the 4 bytes after it)
 * into a new buffer, after validating the header. */
static int load_payload(const char *path, struct vio_header *h, unsigned char **payload,
                        char *msg)
{
    int fd;
    int st = vae_open_regular(path, &fd, msg); /* never blocks on a FIFO */
    if (st != VAE_OK)
        return st;
    struct stat sb;
    unsigned char head[VIO_HEADER_BYTES];
    unsigned char *buf = NULL;
    size_t got = 0, extra = 0;
    int e;
    if (fstat(fd, &sb) != 0) {
        st = vae_fail(msg, VAE_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = vae_fail(msg, VAE_ERR_IO, "%s: not a regular file", path);
        goto done;
    }
    uint64_t size = (uint64_t)sb.st_size;
    size_t head_len = size < sizeof head ? (size_t)size : sizeof head;
    if ((e = read_full(fd, head, head_len, &got)) != 0 || got != head_len) {
        st = vae_fail(msg, VAE_ERR_IO, "%s: cannot read: %s", path,
                      e ? strerror(e) : "file shrank while reading");
        goto done;
    }
    if ((st = check_header(path, head, size, h, msg)) != VAE_OK)
        goto done;
    size_t n = (size_t)h->payload_bytes + VIO_CRC_BYTES;
    if (!(buf = malloc(n))) {
        st = vae_fail(msg, VAE_ERR_NOMEM, "%s: out of memory for %zu bytes", path, n);
        goto done;
    }
    unsigned char probe;
    if ((e = read_full(fd, buf, n, &got)) != 0 || got != n ||
        (e = read_full(fd, &probe, 1, &extra)) != 0 || extra != 0) {
        st = vae_fail(msg, VAE_ERR_IO, "%s: cannot read: %s", path,
                      e ? strerror(e) : "file changed size while reading");
        goto done;
    }
    *payload = buf;
    buf = NULL;
    st = VAE_OK;
done:
    free(buf);
    close(fd);
    return st;
}

struct cursor {
    const unsigned char *p;
    size_t left;
};

/* Take n bytes from the cursor; NULL if fewer are left. */
static const unsigned char *take(struct cursor *c, size_t n)
{
    if (n > c->left)
        return NULL;
    const unsigned char *p = c->p;
    c->p += n;
    c->left -= n;
    return p;
}

/* Fill e from the record at the cursor (index i, for messages). */
static int parse_record(const char *path, size_t i, struct cursor *c, struct vio_entry *e,
                        char *msg)
{
    const unsigned char *p;
    if (!(p = take(c, 2)))
        return vae_fail(msg, VAE_ERR_FORMAT, "%s: tensor #%zu: record runs past the end of the "
                        "payload (fewer tensors than the header declares)", path, i);
    size_t name_len = get_u16(p);
    if (name_len == 0 || name_len > VIO_MAX_NAME)
        return vae_fail(msg, VAE_ERR_FORMAT, "%s: tensor #%zu: name length %zu not in 1..%d",
                        path, i, name_len, VIO_MAX_NAME);
    const unsigned char *name = take(c, name_len);
    if (!name)
        return vae_fail(msg, VAE_ERR_FORMAT, "%s: tensor #%zu: name runs past the end of the "
                        "payload", path, i);
    if (!name_ok(name, name_len))
        return vae_fail(msg, VAE_ERR_FORMAT, "%s: tensor #%zu: name is not printable ASCII",
                        path, i);
    int nl = (int)name_len; /* from here on, messages quote the name */
    if (!(p = take(c, 2)))
        return vae_fail(msg, VAE_ERR_FORMAT, "%s: tensor '%.*s': record runs past the end of "
                        "the payload", path, nl, (const char *)name);
    int dtype = p[0], ndim = p[1];
    size_t esize = elem_size(dtype);
    if (esize == 0)
        return vae_fail(msg, VAE_ERR_FORMAT, "%s: tensor '%.*s': unknown dtype %d", path, nl,
                        (const char *)name, dtype);
    if (ndim > VIO_MAX_DIMS)
        return vae_fail(msg, VAE_ERR_FORMAT, "%s: tensor '%.*s': %d dimensions, at most %d",
                        path, nl, (const char *)name, ndim, VIO_MAX_DIMS);
    if (!(p = take(c, 8 * (size_t)ndim)))
        return vae_fail(msg, VAE_ERR_FORMAT, "%s: tensor '%.*s': dimensions run past the end "
                        "of the payload", path, nl, (const char *)name);
    uint64_t dims[VIO_MAX_DIMS] = {0}, count;
    for (int d = 0; d < ndim; d++)
        dims[d] = get_u64(p + 8 * d);
    if (shape_count(ndim, dims, &count) != 0)
        return vae_fail(msg, VAE_ERR_FORMAT, "%s: tensor '%.*s': shape overflows a 64-bit "
                        "element count", path, nl, (const char *)name);
    /* Compare by division: count * esize itself may overflow. */
    if (count > c->left / esize)
        return vae_fail(msg, VAE_ERR_FORMAT, "%s: tensor '%.*s': %" PRIu64 " %s elements do "
                        "not fit in the %zu payload bytes left", path, nl, (const char *)name,
                        count, dtype_name(dtype), c->left);
    size_t data_bytes = (size_t)count * esize;
    const unsigned char *data = take(c, data_bytes);
    /* data_bytes <= payload size, far from SIZE_MAX, so the sum is safe. */
    unsigned char *block = malloc(data_bytes + name_len + 1);
    if (!block)
        return vae_fail(msg, VAE_ERR_NOMEM, "%s: tensor '%.*s': out of memory", path, nl,
                        (const char *)name);
    decode_elems(block, data, esize, (size_t)count);
    char *name_copy = (char *)block + data_bytes;
    memcpy(name_copy, name, name_len);
    name_copy[name_len] = '\0';

    e->block = block;
    e->t.name = name_copy;
    e->t.dtype = dtype;
    e->t.ndim = ndim;
    memcpy(e->t.dims, dims, sizeof dims);
    e->t.count = count;
    e->t.data = block;
    return VAE_OK;
}

static int cmp_entry_name(const void *a, const void *b)
{
    const struct vio_entry *x = *(const struct vio_entry *const *)a;
    const struct vio_entry *y = *(const struct vio_entry *const *)b;
    return strcmp(x->t.name, y->t.name);
}

/* Sort the name index; equal neighbours are duplicates. O(n log n), so a
 * file of millions of tiny records cannot make loading quadratic. */
static int index_names(const char *path, vio_file *f, char *msg)
{
    for (size_t i = 0; i < f->count; i++)
        f->by_name[i] = &f->entries[i];
    if (f->count > 1)
        qsort(f->by_name, f->count, sizeof *f->by_name, cmp_entry_name);
    for (size_t i = 1; i < f->count; i++)
        if (strcmp(f->by_name[i - 1]->t.name, f->by_name[i]->t.name) == 0)
            return vae_fail(msg, VAE_ERR_FORMAT, "%s: tensor '%s' appears twice", path,
                            f->by_name[i]->t.name);
    return VAE_OK;
}

/* Build the tensors of f from a CRC-checked payload. */
static int parse_payload(const char *path, const unsigned char *payload,
                         const struct vio_header *h, vio_file *f, char *msg)
{
    /* tensor_count <= payload_bytes / 9 was checked, so these are bounded
     * by the file's real size. calloc checks the multiplication. */
    size_t n = (size_t)h->tensor_count;
    f->entries = calloc(n ? n : 1, sizeof *f->entries);
    f->by_name = calloc(n ? n : 1, sizeof *f->by_name);
    if (!f->entries || !f->by_name)
        return vae_fail(msg, VAE_ERR_NOMEM, "%s: out of memory for %zu tensors", path, n);
    struct cursor c = {payload, (size_t)h->payload_bytes};
    for (size_t i = 0; i < n; i++) {
        int st = parse_record(path, i, &c, &f->entries[i], msg);
        if (st != VAE_OK)
            return st;
        f->count = i + 1;
    }
    if (c.left != 0)
        return vae_fail(msg, VAE_ERR_FORMAT, "%s: %zu bytes follow the last of the %zu tensors "
                        "the header declares", path, c.left, n);
    return index_names(path, f, msg);
}

void vio_file_free(vio_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->count; i++)
        free(f->entries[i].block);
    free(f->entries);
    free(f->by_name);
    free(f->path);
    free(f);
}

int vio_file_read(const char *path, vio_file **out, char *msg)
{
    if (!out || !path)
        return vae_fail(msg, VAE_ERR_INVALID, "checkpoint read: NULL path or output");
    *out = NULL;
    struct vio_header h = {0, 0}; /* set by load_payload on success */
    unsigned char *payload = NULL;
    int st = load_payload(path, &h, &payload, msg);
    if (st != VAE_OK)
        return st;
    size_t len = (size_t)h.payload_bytes;
    uint32_t stored = get_u32(payload + len), actual = vio_crc32(0, payload, len);
    if (stored != actual) {
        free(payload);
        return vae_fail(msg, VAE_ERR_FORMAT, "%s: CRC mismatch (stored 0x%08" PRIx32
                        ", computed 0x%08" PRIx32 "): the file is damaged", path, stored, actual);
    }
    vio_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        free(payload);
        return vae_fail(msg, VAE_ERR_NOMEM, "%s: out of memory", path);
    }
    st = parse_payload(path, payload, &h, f, msg);
    free(payload); /* every tensor was copied out */
    if (st != VAE_OK) {
        vio_file_free(f);
        return st;
    }
    *out = f;
    return VAE_OK;
}

/* ------------------------------------------------------------------------ */
/* Lookups                                                                   */
/* ------------------------------------------------------------------------ */

size_t vio_file_count(const vio_file *f) { return f ? f->count : 0; }

const vio_tensor *vio_file_at(const vio_file *f, size_t i)
{
    return f && i < f->count ? &f->entries[i].t : NULL;
}

const vio_tensor *vio_file_find(const vio_file *f, const char *name)
{
    if (!f || !name)
        return NULL;
    size_t lo = 0, hi = f->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, f->by_name[mid]->t.name);
        if (c == 0)
            return &f->by_name[mid]->t;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

int vio_file_expect(const vio_file *f, const char *name, int dtype, uint64_t count,
                    const vio_tensor **out, char *msg)
{
    if (out)
        *out = NULL;
    if (!f || !name)
        return vae_fail(msg, VAE_ERR_INVALID, "checkpoint lookup: NULL file or name");
    const vio_tensor *t = vio_file_find(f, name);
    if (!t)
        return vae_fail(msg, VAE_ERR_FORMAT, "%s: tensor '%s' missing", f->path, name);
    if (t->dtype != dtype)
        return vae_fail(msg, VAE_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected %s",
                        f->path, name, dtype_name(t->dtype), dtype_name(dtype));
    if (t->count != count)
        return vae_fail(msg, VAE_ERR_FORMAT, "%s: tensor '%s' has the wrong shape: %" PRIu64
                        " elements, expected %" PRIu64, f->path, name, t->count, count);
    if (out)
        *out = t;
    return VAE_OK;
}

int vio_file_i64(const vio_file *f, const char *name, int64_t *v, char *msg)
{
    const vio_tensor *t;
    int st = vio_file_expect(f, name, VIO_I64, 1, &t, msg);
    if (st == VAE_OK)
        memcpy(v, t->data, sizeof *v);
    return st;
}

int vio_file_f64(const vio_file *f, const char *name, double *v, char *msg)
{
    const vio_tensor *t;
    int st = vio_file_expect(f, name, VIO_F64, 1, &t, msg);
    if (st == VAE_OK)
        memcpy(v, t->data, sizeof *v);
    return st;
}

int vio_file_text(const vio_file *f, const char *name, char *buf, size_t cap, char *msg)
{
    const vio_tensor *t = vio_file_find(f, name);
    if (!t)
        return vae_fail(msg, VAE_ERR_FORMAT, "%s: tensor '%s' is missing", f->path, name);
    if (t->dtype != VIO_U8 || t->ndim != 1 || t->count >= cap)
        return vae_fail(msg, VAE_ERR_FORMAT,
                        "%s: tensor '%s' is not a text of at most %zu bytes (u8, one dimension)",
                        f->path, name, cap - 1);
    const unsigned char *s = t->data;
    for (uint64_t i = 0; i < t->count; i++)
        if (s[i] < 0x20 || s[i] > 0x7E)
            return vae_fail(msg, VAE_ERR_FORMAT,
                            "%s: tensor '%s': byte %llu (0x%02x) is not printable ASCII",
                            f->path, name, (unsigned long long)i, s[i]);
    memcpy(buf, s, (size_t)t->count);
    buf[t->count] = '\0';
    return VAE_OK;
}
