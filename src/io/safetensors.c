/* Parameters as a .safetensors file (see safetensors.h and docs/format.md). */
#define _POSIX_C_SOURCE 200809L /* pread, fsync, O_CLOEXEC, strndup */

#include "io/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/files.h"

/* Dimensions a shape in the file may have (for messages; we only accept 2). */
#define VST_MAX_DIMS 8
/* Nesting the parser follows: the top object, a tensor's object, its arrays. */

/* ---- small helpers ------------------------------------------------------------ */

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put_f32(unsigned char *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(u >> (8 * i));
}

static float get_f32(const unsigned char *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ---- the dtypes read ---------------------------------------------------------
 * Parameters are float32 in libvae; a file's F16, BF16 and F64 tensors
 * (PyTorch's torch.float16, torch.bfloat16 and torch.float64, common in
 * saved half-precision checkpoints) are converted on reading: F16 and BF16
 * exactly (every value of theirs is a float32), F64 rounded to the nearest
 * float32 (a finite value beyond float32's range is refused, not made
 * infinite). Files are written as F32 only. */

/* A half-precision value (IEEE binary16) as a float:
 *   e = 0:       (-1)^s * m * 2^-24                 (zero, subnormals)
 *   0 < e < 31:  (-1)^s * (1 + m/1024) * 2^(e-15)
 *   e = 31:      infinity (m = 0) or NaN
 * The normal case moves the fields into float32's (exponent bias 127). */
static float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, u;
    if (e == 0) {
        float v = ldexpf((float)m, -24);
        return sign ? -v : v;
    }
    if (e == 31)
        u = sign | 0x7f800000u | m << 13;
    else
        u = sign | (e + 112u) << 23 | m << 13; /* 112 = 127 - 15 */
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* bfloat16 is float32's upper half. */
static float bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Each dtype's value as a double (exact for all four). */
static double read_f32(const unsigned char *p) { return get_f32(p); }
static double read_f16(const unsigned char *p) { return f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }
static double read_bf16(const unsigned char *p) { return bf16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

static double read_f64(const unsigned char *p)
{
    uint64_t u = get_u64(p);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

typedef struct dtype_info {
    const char *name;
    unsigned size; /* bytes per value */
    double (*read)(const unsigned char *p); /* little-endian bytes -> value */
} dtype_info;

/* The dtypes vst_read accepts, F32 first (the one it writes). */
static const dtype_info dtypes[] = {
    {"F32", 4, read_f32},
    {"F16", 2, read_f16},
    {"BF16", 2, read_bf16},
    {"F64", 8, read_f64},
};
#define N_DTYPES (sizeof dtypes / sizeof dtypes[0])

/* A growing byte buffer for the JSON header. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

/* s as a JSON string literal (quotes included). */
static void sb_json_string(sbuf *b, const char *s)
{
    sb_add(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char esc[8];
        if (*c == '"' || *c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*c;
            sb_add(b, esc, 2);
        } else if (*c < 0x20 || *c == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", *c);
            sb_add(b, esc, 6);
        } else {
            sb_add(b, (const char *)c, 1);
        }
    }
    sb_add(b, "\"", 1);
}

/* ---- writer ------------------------------------------------------------------- */

/* The header JSON, padded with spaces to a multiple of 8 bytes so the data
 * section starts aligned (as the reference writer does). */
static int build_header(const vst_tensor *t, size_t n, const vst_meta *meta, size_t n_meta,
                        sbuf *b, char *msg)
{
    char num[96];
    uint64_t off = 0;
    sb_str(b, "{");
    if (n_meta > 0) {
        sb_str(b, "\"__metadata__\":{");
        for (size_t i = 0; i < n_meta; i++) {
            if (i)
                sb_str(b, ",");
            sb_json_string(b, meta[i].key);
            sb_str(b, ":");
            sb_json_string(b, meta[i].value);
        }
        sb_str(b, "}");
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t bytes = t[i].rows * t[i].cols * 4;
        if (n_meta > 0 || i)
            sb_str(b, ",");
        sb_json_string(b, t[i].name);
        snprintf(num, sizeof num,
                 ":{\"dtype\":\"F32\",\"shape\":[%llu,%llu],\"data_offsets\":[%llu,%llu]}",
                 (unsigned long long)t[i].rows, (unsigned long long)t[i].cols,
                 (unsigned long long)off, (unsigned long long)(off + bytes));
        sb_str(b, num);
        off += bytes;
    }
    sb_str(b, "}");
    while (!b->oom && b->len % 8 != 0)
        sb_str(b, " ");
    if (b->oom)
        return vae_fail(msg, VAE_ERR_NOMEM, "export_safetensors: out of memory building the header");
    if ((uint64_t)b->len > VST_MAX_HEADER)
        return vae_fail(msg, VAE_ERR_LIMIT, "export_safetensors: the header would be %zu bytes (most %llu)",
                        b->len, (unsigned long long)VST_MAX_HEADER);
    return VAE_OK;
}

/* What write_body writes: the header and the tensors. */
typedef struct st_body {
    const sbuf *h;
    const vst_tensor *t;
    size_t n;
} st_body;

/* Header length, header, tensors (little-endian float32) into fd; 0 or an
 * errno value (vae_write_atomic makes it durable and visible). */
static int write_body(int fd, const void *ctx)
{
    const st_body *b = ctx;
    const sbuf *h = b->h;
    const vst_tensor *t = b->t;
    size_t n = b->n;
    unsigned char len8[8], chunk[4096];
    put_u64(len8, (uint64_t)h->len);
    int e = vae_write_all(fd, len8, 8);
    if (!e)
        e = vae_write_all(fd, (const unsigned char *)h->p, h->len);
    for (size_t i = 0; i < n && !e; i++) {
        size_t count = (size_t)(t[i].rows * t[i].cols), k = 0;
        while (k < count && !e) {
            size_t m = 0;
            for (; m < sizeof chunk / 4 && k < count; m++, k++)
                put_f32(chunk + 4 * m, t[i].src[k]);
            e = vae_write_all(fd, chunk, 4 * m);
        }
    }
    return e;
}

int vst_write(const char *path, const vst_tensor *t, size_t n, const vst_meta *meta,
              size_t n_meta, char *msg)
{
    if (!*path)
        return vae_fail(msg, VAE_ERR_INVALID, "export_safetensors: the path is empty");
    for (size_t i = 0; i < n; i++) {
        size_t count = (size_t)(t[i].rows * t[i].cols);
        for (size_t k = 0; k < count; k++)
            if (!isfinite(t[i].src[k]))
                return vae_fail(msg, VAE_ERR_NONFINITE,
                                "export_safetensors: %s[%zu] = %g is not finite (refusing to write it)",
                                t[i].name, k, (double)t[i].src[k]);
    }
    sbuf h = {0};
    int rc = build_header(t, n, meta, n_meta, &h, msg);
    if (rc != VAE_OK) {
        free(h.p);
        return rc;
    }
    st_body body = {&h, t, n};
    rc = vae_write_atomic(path, write_body, &body, msg);
    free(h.p);
    return rc;
}

/* ---- reader: a strict parser for the header's JSON subset ------------------------ */

typedef struct vst_parser {
    const char *path;
    const unsigned char *s;
    size_t len, pos;
    char *msg;
    const vst_tensor *t;
    size_t n;
    unsigned char *seen;     /* n flags */
    unsigned char *dtype;    /* n indices into dtypes[] */
    uint64_t *begin, *end;   /* n offsets */
} vst_parser;

static int perr(vst_parser *p, const char *what)
{
    return vae_fail(p->msg, VAE_ERR_FORMAT, "%s: safetensors header: %s at byte %zu of the JSON",
                    p->path, what, p->pos);
}

static void skip_ws(vst_parser *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                               p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static int expect_char(vst_parser *p, char c)
{
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != (unsigned char)c) {
        char what[32];
        snprintf(what, sizeof what, "expected '%c'", c);
        return perr(p, what);
    }
    p->pos++;
    return VAE_OK;
}

static int hex4(const unsigned char *s, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = s[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        *v = *v << 4 | d;
    }
    return 0;
}

/* A JSON string into a malloc'd, NUL-terminated UTF-8 copy (*out). Control
 * characters and NUL (also as \u0000) are refused. */
static int parse_string(vst_parser *p, char **out)
{
    *out = NULL;
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != '"')
        return perr(p, "expected a string");
    p->pos++;
    size_t start = p->pos;
    while (p->pos < p->len && p->s[p->pos] != '"') /* the decoded text is never longer */
        p->pos += p->s[p->pos] == '\\' ? 2 : 1;
    if (p->pos >= p->len)
        return perr(p, "unterminated string");
    size_t raw = p->pos - start;
    p->pos = start;
    char *o = malloc(raw + 1);
    if (!o)
        return vae_fail(p->msg, VAE_ERR_NOMEM, "%s: out of memory parsing the header", p->path);
    size_t k = 0;
    while (p->s[p->pos] != '"') {
        unsigned c = p->s[p->pos];
        if (c < 0x20) {
            free(o);
            return perr(p, "control character in a string");
        }
        if (c != '\\') {
            o[k++] = (char)c;
            p->pos++;
            continue;
        }
        c = p->s[p->pos + 1];
        p->pos += 2;
        const char *simple = strchr("\"\\/bfnrt", (int)c);
        if (c && simple) {
            static const char map[] = "\"\\/\b\f\n\r\t";
            o[k++] = map[simple - "\"\\/bfnrt"];
            continue;
        }
        unsigned u, lo;
        if (c != 'u' || p->pos + 4 > p->len || hex4(p->s + p->pos, &u) != 0 || u == 0) {
            free(o);
            return perr(p, "bad escape in a string");
        }
        p->pos += 4;
        if (u >= 0xD800 && u <= 0xDBFF) {
            if (p->pos + 6 > p->len || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u' ||
                hex4(p->s + p->pos + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF) {
                free(o);
                return perr(p, "unpaired surrogate in a string");
            }
            p->pos += 6;
            u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
        } else if (u >= 0xDC00 && u <= 0xDFFF) {
            free(o);
            return perr(p, "unpaired surrogate in a string");
        }
        /* \uXXXX takes 6 raw bytes and at most 4 decoded ones */
        if (u < 0x80) {
            o[k++] = (char)u;
        } else if (u < 0x800) {
            o[k++] = (char)(0xC0 | u >> 6);
            o[k++] = (char)(0x80 | (u & 0x3F));
        } else if (u < 0x10000) {
            o[k++] = (char)(0xE0 | u >> 12);
            o[k++] = (char)(0x80 | (u >> 6 & 0x3F));
            o[k++] = (char)(0x80 | (u & 0x3F));
        } else {
            o[k++] = (char)(0xF0 | u >> 18);
            o[k++] = (char)(0x80 | (u >> 12 & 0x3F));
            o[k++] = (char)(0x80 | (u >> 6 & 0x3F));
            o[k++] = (char)(0x80 | (u & 0x3F));
        }
    }
    p->pos++; /* the closing quote */
    o[k] = '\0';
    *out = o;
    return VAE_OK;
}

/* A non-negative integer without sign, fraction or exponent, below 2^53. */
static int parse_uint(vst_parser *p, uint64_t *v)
{
    skip_ws(p);
    size_t start = p->pos;
    uint64_t x = 0;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        x = x * 10 + (uint64_t)(p->s[p->pos] - '0');
        p->pos++;
        if (x >= ((uint64_t)1 << 53))
            return perr(p, "integer too large");
    }
    if (p->pos == start)
        return perr(p, "expected a non-negative integer");
    if (p->s[start] == '0' && p->pos - start > 1)
        return perr(p, "leading zero in an integer");
    if (p->pos < p->len && (p->s[p->pos] == '.' || p->s[p->pos] == 'e' || p->s[p->pos] == 'E'))
        return perr(p, "expected an integer");
    *v = x;
    return VAE_OK;
}

/* '[' u64 (',' u64)* ']' or '[]': at most cap values into v, count in *k. */
static int parse_uint_array(vst_parser *p, uint64_t *v, int cap, int *k, const char *what)
{
    *k = 0;
    int rc = expect_char(p, '[');
    if (rc)
        return rc;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
        p->pos++;
        return VAE_OK;
    }
    for (;;) {
        uint64_t x = 0;
        if ((rc = parse_uint(p, &x)))
            return rc;
        if (*k == cap) {
            char m[64];
            snprintf(m, sizeof m, "%s has more than %d entries", what, cap);
            return perr(p, m);
        }
        v[(*k)++] = x;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        return expect_char(p, ']');
    }
}

/* "__metadata__": an object of string values (read and dropped). */
static int parse_metadata(vst_parser *p)
{
    int rc = expect_char(p, '{');
    if (rc)
        return rc;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
        return VAE_OK;
    }
    for (;;) {
        char *s = NULL;
        if ((rc = parse_string(p, &s)))
            return rc;
        free(s);
        if ((rc = expect_char(p, ':')))
            return rc;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] != '"')
            return perr(p, "__metadata__ values must be strings");
        if ((rc = parse_string(p, &s)))
            return rc;
        free(s);
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        return expect_char(p, '}');
    }
}

static void shape_text(char *buf, size_t cap, const uint64_t *d, int k)
{
    size_t w = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < k && w < cap; i++)
        w += (size_t)snprintf(buf + w, cap - w, "%s%llu", i ? ", " : "", (unsigned long long)d[i]);
    if (w < cap)
        snprintf(buf + w, cap - w, "]");
}

/* One tensor's entry {"dtype":..,"shape":..,"data_offsets":..} for t[i]. */
static int parse_tensor(vst_parser *p, size_t i)
{
    const vst_tensor *t = &p->t[i];
    int rc = expect_char(p, '{');
    if (rc)
        return rc;
    int have = 0, nd = 0, no = 0; /* bits: 1 dtype, 2 shape, 4 offsets */
    char *dtype = NULL;
    uint64_t dims[VST_MAX_DIMS], offs[2];
    for (;;) {
        char *key = NULL;
        if ((rc = parse_string(p, &key)))
            break;
        int bit = !strcmp(key, "dtype") ? 1 : !strcmp(key, "shape") ? 2
                : !strcmp(key, "data_offsets") ? 4 : 0;
        if (!bit) {
            char m[96];
            snprintf(m, sizeof m, "tensor '%s': unknown key '%.40s'", t->name, key);
            free(key);
            rc = perr(p, m);
            break;
        }
        free(key);
        if (have & bit) {
            rc = perr(p, "duplicate key in a tensor entry");
            break;
        }
        have |= bit;
        if ((rc = expect_char(p, ':')))
            break;
        if (bit == 1)
            rc = parse_string(p, &dtype);
        else if (bit == 2)
            rc = parse_uint_array(p, dims, VST_MAX_DIMS, &nd, "shape");
        else
            rc = parse_uint_array(p, offs, 2, &no, "data_offsets");
        if (rc)
            break;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        rc = expect_char(p, '}');
        break;
    }
    if (rc == VAE_OK && have != 7)
        rc = vae_fail(p->msg, VAE_ERR_FORMAT, "%s: tensor '%s': the entry lacks %s", p->path, t->name,
                      !(have & 1) ? "\"dtype\"" : !(have & 2) ? "\"shape\"" : "\"data_offsets\"");
    size_t kind = 0;
    while (rc == VAE_OK && kind < N_DTYPES && strcmp(dtype, dtypes[kind].name) != 0)
        kind++;
    if (rc == VAE_OK && kind == N_DTYPES)
        rc = vae_fail(p->msg, VAE_ERR_FORMAT,
                      "%s: tensor '%s': dtype %.20s, libvae reads F32, F16, BF16 and F64 "
                      "(parameters are float32)", p->path, t->name, dtype);
    free(dtype);
    if (rc != VAE_OK)
        return rc;
    p->dtype[i] = (unsigned char)kind;
    uint64_t size = dtypes[kind].size;
    if (nd != 2 || dims[0] != t->rows || dims[1] != t->cols) {
        char got[160], hint[160] = "";
        shape_text(got, sizeof got, dims, nd);
        if (nd == 2 && dims[0] == t->cols && dims[1] == t->rows)
            snprintf(hint, sizeof hint, " (transposed: libvae stores a dense W as [in, out], "
                     "PyTorch's nn.Linear.weight transposed; see docs/format.md)");
        else if (nd > 2)
            snprintf(hint, sizeof hint, " (flatten a convolution kernel to 2-D; see docs/format.md)");
        return vae_fail(p->msg, VAE_ERR_FORMAT, "%s: tensor '%s': shape %s, the model's is [%llu, %llu]%s",
                        p->path, t->name, got, (unsigned long long)t->rows,
                        (unsigned long long)t->cols, hint);
    }
    if (no != 2 || offs[0] > offs[1] || offs[1] - offs[0] != t->rows * t->cols * size)
        return vae_fail(p->msg, VAE_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets do not span its %llu x %llu %s values",
                        p->path, t->name, (unsigned long long)t->rows, (unsigned long long)t->cols,
                        dtypes[p->dtype[i]].name);
    p->begin[i] = offs[0];
    p->end[i] = offs[1];
    return VAE_OK;
}

static int parse_header(vst_parser *p)
{
    int rc = expect_char(p, '{'), meta_seen = 0;
    if (rc)
        return rc;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
    } else {
        for (;;) {
            char *key = NULL;
            if ((rc = parse_string(p, &key)))
                return rc;
            if ((rc = expect_char(p, ':'))) {
                free(key);
                return rc;
            }
            if (!strcmp(key, "__metadata__")) {
                free(key);
                if (meta_seen++)
                    return perr(p, "duplicate __metadata__");
                rc = parse_metadata(p);
            } else {
                size_t i = 0;
                while (i < p->n && strcmp(p->t[i].name, key) != 0)
                    i++;
                if (i == p->n) {
                    rc = vae_fail(p->msg, VAE_ERR_FORMAT,
                                  "%s: tensor '%.80s' is not a parameter of this model "
                                  "(another architecture?)", p->path, key);
                } else if (p->seen[i]) {
                    rc = vae_fail(p->msg, VAE_ERR_FORMAT, "%s: tensor '%s' appears twice", p->path, key);
                } else {
                    p->seen[i] = 1;
                    rc = parse_tensor(p, i);
                }
                free(key);
            }
            if (rc)
                return rc;
            skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == ',') {
                p->pos++;
                continue;
            }
            if ((rc = expect_char(p, '}')))
                return rc;
            break;
        }
    }
    skip_ws(p);
    if (p->pos != p->len)
        return perr(p, "trailing bytes after the JSON object");
    for (size_t i = 0; i < p->n; i++)
        if (!p->seen[i])
            return vae_fail(p->msg, VAE_ERR_FORMAT, "%s: tensor '%s' is missing", p->path, p->t[i].name);
    return VAE_OK;
}

/* Offsets must tile [0, data) exactly: no gaps, no overlaps (the format's rule). */
static int check_offsets(vst_parser *p, uint64_t data)
{
    size_t n = p->n;
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    if (!order)
        return vae_fail(p->msg, VAE_ERR_NOMEM, "%s: out of memory", p->path);
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    /* insertion sort by begin (then end): n is a model's tensor count */
    for (size_t i = 1; i < n; i++) {
        size_t v = order[i], j = i;
        while (j > 0 && (p->begin[order[j - 1]] > p->begin[v] ||
                         (p->begin[order[j - 1]] == p->begin[v] && p->end[order[j - 1]] > p->end[v]))) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
    uint64_t at = 0;
    int rc = VAE_OK;
    for (size_t k = 0; k < n && rc == VAE_OK; k++) {
        size_t i = order[k];
        if (p->begin[i] != at)
            rc = vae_fail(p->msg, VAE_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] %s", p->path,
                          p->t[i].name, (unsigned long long)p->begin[i], (unsigned long long)p->end[i],
                          p->begin[i] < at ? "overlap another tensor" : "leave a gap before it");
        at = p->end[i];
    }
    free(order);
    if (rc == VAE_OK && at != data)
        rc = vae_fail(p->msg, VAE_ERR_FORMAT,
                      "%s: the tensors take %llu bytes but the data section has %llu (%s)", p->path,
                      (unsigned long long)at, (unsigned long long)data,
                      at > data ? "truncated" : "trailing bytes");
    return rc;
}

static int pread_full(int fd, unsigned char *buf, size_t n, uint64_t off)
{
    while (n > 0) {
        size_t want = n < ((size_t)1 << 30) ? n : ((size_t)1 << 30);
        ssize_t k = pread(fd, buf, want, (off_t)off);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (k == 0)
            return -1; /* shrank under us */
        buf += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

static int read_tensors(vst_parser *p, int fd, uint64_t base)
{
    unsigned char chunk[4096];
    for (size_t i = 0; i < p->n; i++) {
        const vst_tensor *t = &p->t[i];
        const dtype_info *d = &dtypes[p->dtype[i]];
        size_t count = (size_t)(t->rows * t->cols), k = 0, per = sizeof chunk / d->size;
        while (k < count) {
            size_t m = count - k < per ? count - k : per;
            int e = pread_full(fd, chunk, d->size * m, base + p->begin[i] + d->size * (uint64_t)k);
            if (e)
                return vae_fail(p->msg, VAE_ERR_IO, "%s: cannot read tensor '%s': %s", p->path, t->name,
                                e < 0 ? "the file ended early" : strerror(e));
            for (size_t j = 0; j < m; j++, k++) {
                double x = d->read(chunk + d->size * j);
                float v = (float)x; /* F64: rounded to nearest; the others exact */
                if (!isfinite(v))
                    return vae_fail(p->msg, VAE_ERR_NONFINITE, "%s: tensor '%s': value [%zu][%zu] = %g %s",
                                    p->path, t->name, (size_t)(k / t->cols), (size_t)(k % t->cols), x,
                                    isfinite(x) ? "is beyond float32's range" : "is not finite");
                t->dst[k] = v;
            }
        }
    }
    return VAE_OK;
}

int vst_read(const char *path, const vst_tensor *t, size_t n, char *msg)
{
    int fd;
    int rc = vae_open_regular(path, &fd, msg);
    if (rc != VAE_OK)
        return rc;
    struct stat sb;
    unsigned char len8[8];
    vst_parser p = {.path = path, .msg = msg, .t = t, .n = n};
    unsigned char *head = NULL;
    if (fstat(fd, &sb) != 0) {
        rc = vae_fail(msg, VAE_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (size < 8) {
        rc = vae_fail(msg, VAE_ERR_FORMAT, "%s: %llu bytes: too short for a safetensors file "
                      "(8-byte header length first)", path, (unsigned long long)size);
        goto done;
    }
    int e = pread_full(fd, len8, 8, 0);
    if (e) {
        rc = vae_fail(msg, VAE_ERR_IO, "%s: cannot read: %s", path, e < 0 ? "the file ended early" : strerror(e));
        goto done;
    }
    uint64_t hlen = get_u64(len8);
    if (hlen > VST_MAX_HEADER) {
        rc = vae_fail(msg, VAE_ERR_LIMIT, "%s: declared header length %llu bytes is above the limit "
                      "of %llu (not a safetensors file?)", path, (unsigned long long)hlen,
                      (unsigned long long)VST_MAX_HEADER);
        goto done;
    }
    if (hlen < 2 || hlen > size - 8) {
        rc = vae_fail(msg, VAE_ERR_FORMAT, "%s: declared header length %llu bytes, but the file has %llu "
                      "after the length (truncated or not a safetensors file)", path,
                      (unsigned long long)hlen, (unsigned long long)(size - 8));
        goto done;
    }
    head = malloc((size_t)hlen);
    p.seen = calloc(n ? n : 1, 1);
    p.dtype = calloc(n ? n : 1, 1);
    p.begin = malloc((n ? n : 1) * sizeof *p.begin);
    p.end = malloc((n ? n : 1) * sizeof *p.end);
    if (!head || !p.seen || !p.dtype || !p.begin || !p.end) {
        rc = vae_fail(msg, VAE_ERR_NOMEM, "%s: out of memory for a %llu-byte header", path,
                      (unsigned long long)hlen);
        goto done;
    }
    if ((e = pread_full(fd, head, (size_t)hlen, 8))) {
        rc = vae_fail(msg, VAE_ERR_IO, "%s: cannot read the header: %s", path,
                      e < 0 ? "the file ended early" : strerror(e));
        goto done;
    }
    if (memchr(head, 0, (size_t)hlen)) {
        rc = vae_fail(msg, VAE_ERR_FORMAT, "%s: the header holds a NUL byte (not a safetensors file?)", path);
        goto done;
    }
    p.s = head;
    p.len = (size_t)hlen;
    if ((rc = parse_header(&p)) == VAE_OK && (rc = check_offsets(&p, size - 8 - hlen)) == VAE_OK)
        rc = read_tensors(&p, fd, 8 + hlen);
done:
    free(head);
    free(p.seen);
    free(p.dtype);
    free(p.begin);
    free(p.end);
    close(fd);
    return rc;
}
