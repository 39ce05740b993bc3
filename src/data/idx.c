/* IDX reader: parses the header, checks the claimed sizes against the
 * limits, and streams the elements through zlib (which reads gzip and raw
 * files alike) into a buffer that grows with the data actually present. */
#include "data/idx.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "common/errors.h"
#include "common/files.h"

/* Bytes decoded per gzread call; small enough for any thread's stack. */
#define CHUNK_BYTES 16384
/* First output capacity in elements; later growth doubles. Keeps a lying
 * header from causing a large allocation before its data shows up. */
#define INITIAL_ELEMS ((size_t)1 << 20)
/* Deflate cannot expand data more than 1032 times (a 258-byte match per
 * 2 bits); with slack for the gzip framing, a compressed file of S bytes
 * inflates to at most GZIP_MAX_RATIO * S + GZIP_SLACK bytes. A header
 * claiming more cannot be honest, and is refused before anything is read
 * (a 3 MB gzip bomb claiming 2^28 images would otherwise inflate 3 GiB). */
#define GZIP_MAX_RATIO 1040
#define GZIP_SLACK ((uint64_t)1 << 16)

typedef struct idx_reader {
    gzFile gz;
    const char *path;
    char *msg;
    size_t offset;          /* uncompressed bytes consumed so far */
    uint64_t file_bytes;    /* the file's size on disk */
    size_t expect_n;        /* examples the caller expects (labels of n images); 0: any */
    int fd;                 /* the descriptor under gz (for messages about corrupt data) */
} idx_reader;

typedef struct idx_header {
    int type;               /* enum vds_idx_type */
    int rank;
    size_t n;               /* first dimension */
    size_t d;               /* product of the other dimensions (1 for rank 1) */
    uint32_t dim[4];        /* the first four dimensions as stored */
    size_t size;            /* header bytes: 4 + 4 * rank */
} idx_header;

static size_t elem_size(int type) { return type == VDS_IDX_U8 ? 1 : 4; }

static int rd_open(idx_reader *r, const char *path, char *msg)
{
    r->path = path;
    r->msg = msg;
    r->offset = 0;
    int fd;
    int st = vae_open_regular(path, &fd, msg); /* FIFOs and devices refused, unblocked */
    if (st != VAE_OK)
        return st;
    struct stat sb;
    r->file_bytes = fstat(fd, &sb) == 0 ? (uint64_t)sb.st_size : UINT64_MAX;
    errno = 0;
    r->fd = fd;
    r->gz = gzdopen(fd, "rb");
    if (!r->gz) {
        /* zlib leaves errno at 0 when the failure was its own allocation. */
        int e = errno;
        close(fd);
        if (e)
            return vae_fail(msg, VAE_ERR_IO, "%s: cannot open: %s", path, strerror(e));
        return vae_fail(msg, VAE_ERR_NOMEM, "%s: out of memory opening the file", path);
    }
    gzbuffer(r->gz, 65536);
    return VAE_OK;
}

/* zlib's message without the "<path>: " (or "<fd:N>: ") it puts in front:
 * our messages name the path once. */
static const char *zlib_reason(const char *what)
{
    if (!what || !*what)
        return "unknown zlib error";
    const char *sep = strstr(what, ": ");
    return sep ? sep + 2 : what;
}

/* How many bytes inflate before the gzip stream of fd fails. gzread drops
 * what the failing inflate call decoded (a small file fails in one call,
 * so "after 0 bytes" was reported for 176 decoded), so for the message the
 * file is decoded again from the start, counting (members summed). */
static uint64_t gz_decoded_before_error(int fd)
{
    if (lseek(fd, 0, SEEK_SET) != 0)
        return 0;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 16) != Z_OK)
        return 0;
    unsigned char in[CHUNK_BYTES], out[CHUNK_BYTES];
    uint64_t total = 0;
    int ret = Z_OK;
    ssize_t k;
    while (ret != Z_DATA_ERROR && (k = read(fd, in, sizeof in)) > 0) {
        z.next_in = in;
        z.avail_in = (uInt)k;
        while (z.avail_in > 0) {
            z.next_out = out;
            z.avail_out = sizeof out;
            ret = inflate(&z, Z_NO_FLUSH);
            total += sizeof out - z.avail_out;
            if (ret == Z_STREAM_END)
                ret = inflateReset(&z); /* the next member, if any */
            if (ret != Z_OK && ret != Z_BUF_ERROR)
                break;
        }
        if (ret != Z_OK && ret != Z_BUF_ERROR)
            break;
    }
    inflateEnd(&z);
    return total;
}

/* Turn zlib's error state after a failed gzread into a status and message. */
static int rd_gz_error(idx_reader *r)
{
    int saved_errno = errno;
    int zerr = Z_OK;
    const char *what = gzerror(r->gz, &zerr);
    if (zerr == Z_ERRNO)
        return vae_fail(r->msg, VAE_ERR_IO, "%s: read error: %s", r->path,
                        strerror(saved_errno));
    if (zerr == Z_MEM_ERROR)
        return vae_fail(r->msg, VAE_ERR_NOMEM, "%s: out of memory decompressing", r->path);
    uint64_t decoded = r->fd >= 0 ? gz_decoded_before_error(r->fd) : r->offset;
    return vae_fail(r->msg, VAE_ERR_FORMAT, "%s: corrupt gzip data after %llu bytes: %s",
                    r->path, (unsigned long long)(decoded > r->offset ? decoded : r->offset),
                    zlib_reason(what));
}

/* 1 when the last read stopped because the gzip stream was cut short. */
static int rd_gz_cut(idx_reader *r)
{
    int zerr = Z_OK;
    gzerror(r->gz, &zerr);
    return zerr == Z_BUF_ERROR;
}

/* Read up to len bytes; *got receives how many arrived before the end of
 * the file. Fails only on a read or decompression error. */
static int rd_read(idx_reader *r, void *buf, size_t len, size_t *got)
{
    size_t total = 0;
    *got = 0;
    while (total < len) {
        size_t want = len - total;
        if (want > INT_MAX)
            want = INT_MAX;
        int k = gzread(r->gz, (unsigned char *)buf + total, (unsigned)want);
        if (k < 0) {
            r->offset += total; /* decoded before the error, for the message */
            return rd_gz_error(r);
        }
        if (k == 0)
            break;
        total += (size_t)k;
    }
    r->offset += total;
    *got = total;
    return VAE_OK;
}

static int rd_truncated(idx_reader *r, uint64_t expected)
{
    return vae_fail(r->msg, VAE_ERR_FORMAT,
                    "%s: truncated: expected %llu bytes (from the header), found %zu%s", r->path,
                    (unsigned long long)expected, r->offset,
                    rd_gz_cut(r) ? " (gzip stream cut short)" : "");
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Check one dimension and fold it into the header; limits are checked per
 * dimension so that the running product never overflows. */
static int hdr_add_dim(idx_reader *r, idx_header *h, int i, uint32_t dim)
{
    if (dim == 0)
        return vae_fail(r->msg, VAE_ERR_FORMAT, "%s: dimension %d is 0", r->path, i);
    if (i == 0) {
        if (dim > VDS_MAX_EXAMPLES)
            return vae_fail(r->msg, VAE_ERR_LIMIT,
                            "%s: %lu examples claimed, the limit is %zu", r->path,
                            (unsigned long)dim, VDS_MAX_EXAMPLES);
        h->n = dim;
        return VAE_OK;
    }
    if (dim > VDS_MAX_VALUES / h->d)
        return vae_fail(r->msg, VAE_ERR_LIMIT,
                        "%s: more than %zu values per example claimed (dimension %d is %lu)",
                        r->path, VDS_MAX_VALUES, i, (unsigned long)dim);
    h->d *= dim;
    return VAE_OK;
}

static int rd_header(idx_reader *r, idx_header *h)
{
    unsigned char b[4];
    size_t got;
    int st = rd_read(r, b, 4, &got);
    if (st != VAE_OK)
        return st;
    if (got < 4)
        return vae_fail(r->msg, VAE_ERR_FORMAT,
                        "%s: truncated header: expected at least 4 bytes, found %zu", r->path, got);
    if (b[0] != 0 || b[1] != 0)
        return vae_fail(r->msg, VAE_ERR_FORMAT,
                        "%s: not an IDX file (magic %02x %02x %02x %02x)", r->path, b[0], b[1],
                        b[2], b[3]);
    if (b[2] != VDS_IDX_U8 && b[2] != VDS_IDX_F32)
        return vae_fail(r->msg, VAE_ERR_FORMAT,
                        "%s: unsupported IDX element type 0x%02x (only 0x08 u8 and 0x0d f32)",
                        r->path, b[2]);
    if (b[3] == 0)
        return vae_fail(r->msg, VAE_ERR_FORMAT, "%s: IDX rank is 0", r->path);
    h->type = b[2];
    h->rank = b[3];
    h->size = 4 + 4 * (size_t)h->rank;
    h->n = 0;
    h->d = 1;
    for (int i = 0; i < h->rank; i++) {
        if ((st = rd_read(r, b, 4, &got)) != VAE_OK)
            return st;
        if (got < 4)
            return vae_fail(r->msg, VAE_ERR_FORMAT,
                            "%s: truncated header: expected %zu bytes, found %zu", r->path,
                            h->size, r->offset);
        if (i < 4)
            h->dim[i] = be32(b);
        if ((st = hdr_add_dim(r, h, i, be32(b))) != VAE_OK)
            return st;
    }
    return VAE_OK;
}

/* What the header claims must fit what the file can hold: a raw file must
 * be at least that long, a gzip file can inflate at most GZIP_MAX_RATIO
 * times. Checked before the payload is read, so memory and time follow
 * the data a file can really contain, not what its header says. */
static int check_claim(idx_reader *r, const idx_header *h)
{
    uint64_t claim = (uint64_t)h->size + (uint64_t)h->n * h->d * elem_size(h->type);
    if (r->file_bytes == UINT64_MAX)
        return VAE_OK;
    if (gzdirect(r->gz)) {
        if (claim > r->file_bytes)
            return vae_fail(r->msg, VAE_ERR_FORMAT,
                            "%s: truncated: expected %llu bytes (from the header), found %llu",
                            r->path, (unsigned long long)claim, (unsigned long long)r->file_bytes);
        return VAE_OK;
    }
    uint64_t most = r->file_bytes > (UINT64_MAX - GZIP_SLACK) / GZIP_MAX_RATIO
                        ? UINT64_MAX
                        : r->file_bytes * GZIP_MAX_RATIO + GZIP_SLACK;
    if (claim > most)
        return vae_fail(r->msg, VAE_ERR_FORMAT,
                        "%s: truncated: the header claims %llu bytes, more than a gzip file "
                        "of %llu bytes can hold (%d times its size at most)",
                        r->path, (unsigned long long)claim, (unsigned long long)r->file_bytes,
                        GZIP_MAX_RATIO);
    return VAE_OK;
}

/* Make room for `need` elements of esize bytes, doubling up to `total`. */
static int grow(idx_reader *r, void **buf, size_t *cap, size_t need, size_t total, size_t esize)
{
    if (need <= *cap)
        return VAE_OK;
    size_t c = *cap ? *cap : INITIAL_ELEMS;
    while (c < need)
        c = c > total / 2 ? total : c * 2;
    if (c > total)
        c = total;
    void *p = realloc(*buf, c * esize);
    if (!p)
        return vae_fail(r->msg, VAE_ERR_NOMEM, "%s: out of memory for %zu values", r->path, c);
    *buf = p;
    *cap = c;
    return VAE_OK;
}

/* What rd_payload makes of the elements: floats (images of either type),
 * the raw bytes (u8 images, stored as they are), or ints (labels). */
enum rd_out {
    RD_FLOAT,
    RD_BYTES,
    RD_INT
};

static size_t out_size(int out)
{
    return out == RD_BYTES ? 1 : out == RD_INT ? sizeof(int) : sizeof(float);
}

/* Convert count raw elements into dst[first..first+count) as `out` says.
 * f32 values must be finite. */
static int convert(idx_reader *r, const idx_header *h, const unsigned char *src, size_t first,
                   size_t count, void *dst, int out)
{
    if (out == RD_BYTES) { /* u8 only (vds_idx_read_images checks) */
        memcpy((unsigned char *)dst + first, src, count);
        return VAE_OK;
    }
    for (size_t i = 0; i < count; i++) {
        float v;
        if (h->type == VDS_IDX_U8) {
            v = (float)src[i];
        } else {
            uint32_t u = be32(src + 4 * i);
            memcpy(&v, &u, sizeof v);
            if (!isfinite(v)) {
                size_t k = first + i;
                return vae_fail(r->msg, VAE_ERR_NONFINITE,
                                "%s: example %zu, value %zu is not finite", r->path, k / h->d,
                                k % h->d);
            }
        }
        if (out == RD_INT)
            ((int *)dst)[first + i] = (int)v;
        else
            ((float *)dst)[first + i] = v;
    }
    return VAE_OK;
}

/* Read the n*d elements after the header into a new array *out. */
static int rd_payload(idx_reader *r, const idx_header *h, int out, void **res)
{
    size_t total = h->n * h->d;
    size_t esize = elem_size(h->type);
    size_t osize = out_size(out);
    uint64_t expected = (uint64_t)h->size + (uint64_t)total * esize;
    unsigned char chunk[CHUNK_BYTES];
    void *buf = NULL;
    size_t cap = 0, done = 0;
    int st = VAE_OK;
    while (done < total && st == VAE_OK) {
        size_t count = total - done;
        if (count > CHUNK_BYTES / esize)
            count = CHUNK_BYTES / esize;
        size_t got;
        if ((st = rd_read(r, chunk, count * esize, &got)) != VAE_OK)
            break;
        if (got < count * esize) {
            st = rd_truncated(r, expected);
            break;
        }
        if ((st = grow(r, &buf, &cap, done + count, total, osize)) != VAE_OK)
            break;
        st = convert(r, h, chunk, done, count, buf, out);
        done += count;
    }
    if (st != VAE_OK) {
        free(buf);
        return st;
    }
    *res = buf;
    return VAE_OK;
}

/* The file must end where the header says. Reading one more byte also
 * makes zlib verify the gzip trailer (CRC and length). */
static int rd_expect_end(idx_reader *r)
{
    unsigned char extra;
    int k = gzread(r->gz, &extra, 1);
    if (k < 0)
        return rd_gz_error(r);
    if (k > 0)
        return vae_fail(r->msg, VAE_ERR_FORMAT,
                        "%s: trailing data after the %zu bytes the header describes", r->path,
                        r->offset);
    if (rd_gz_cut(r))
        return vae_fail(r->msg, VAE_ERR_FORMAT, "%s: gzip stream cut short after %zu bytes",
                        r->path, r->offset);
    return VAE_OK;
}

/* Open, parse the header, check it with `check`, read the payload as
 * `out` (enum rd_out) says; u8 images come as bytes when bytes_ok. */
static int rd_file(const char *path, char *msg, int out, int bytes_ok, size_t expect_n,
                   int (*check)(idx_reader *, const idx_header *), idx_header *h, void **res)
{
    idx_reader r;
    int st = rd_open(&r, path, msg);
    if (st != VAE_OK)
        return st;
    r.expect_n = expect_n;
    void *buf = NULL;
    st = rd_header(&r, h);
    if (st == VAE_OK)
        st = check(&r, h);
    if (st == VAE_OK && r.expect_n && h->n != r.expect_n)
        st = vae_fail(msg, VAE_ERR_SHAPE, "%s: %zu labels for %zu images", path, h->n,
                      r.expect_n);
    if (st == VAE_OK)
        st = check_claim(&r, h);
    if (st == VAE_OK)
        st = rd_payload(&r, h, bytes_ok && h->type == VDS_IDX_U8 ? RD_BYTES : out, &buf);
    if (st == VAE_OK)
        st = rd_expect_end(&r);
    gzclose_r(r.gz);
    if (st != VAE_OK) {
        free(buf);
        return st;
    }
    *res = buf;
    return VAE_OK;
}

static int check_images(idx_reader *r, const idx_header *h)
{
    if (h->rank < 2)
        return vae_fail(r->msg, VAE_ERR_FORMAT,
                        "%s: IDX rank %d, but images need rank >= 2 (a labels file?)", r->path,
                        h->rank);
    return VAE_OK;
}

static int check_labels(idx_reader *r, const idx_header *h)
{
    if (h->rank != 1)
        return vae_fail(r->msg, VAE_ERR_FORMAT,
                        "%s: IDX rank %d, but labels need rank 1 (an images file?)", r->path,
                        h->rank);
    if (h->type != VDS_IDX_U8)
        return vae_fail(r->msg, VAE_ERR_FORMAT, "%s: labels must be of type u8 (0x08)",
                        r->path);
    return VAE_OK;
}

int vds_idx_read_images(const char *path, void **x, size_t *n, size_t *d, int *type,
                        int shape[3], char *msg)
{
    idx_header h;
    void *buf = NULL;
    int st = rd_file(path, msg, RD_FLOAT, 1, 0, check_images, &h, &buf);
    if (st != VAE_OK)
        return st;
    *x = buf;
    *n = h.n;
    *d = h.d;
    *type = h.type;
    /* n x H x W images are (1, H, W); n x C x H x W ones (C, H, W); others flat. */
    shape[0] = (int)h.d, shape[1] = shape[2] = 1;
    if (h.rank == 3)
        shape[0] = 1, shape[1] = (int)h.dim[1], shape[2] = (int)h.dim[2];
    else if (h.rank == 4)
        shape[0] = (int)h.dim[1], shape[1] = (int)h.dim[2], shape[2] = (int)h.dim[3];
    return VAE_OK;
}

int vds_idx_read_labels(const char *path, int **labels, size_t *n, char *msg)
{
    return vds_idx_read_labels_for(path, 0, labels, n, msg);
}

int vds_idx_read_labels_for(const char *path, size_t n_images, int **labels, size_t *n,
                            char *msg)
{
    idx_header h;
    void *buf = NULL;
    int st = rd_file(path, msg, RD_INT, 0, n_images, check_labels, &h, &buf);
    if (st != VAE_OK)
        return st;
    *labels = buf;
    *n = h.n;
    return VAE_OK;
}
