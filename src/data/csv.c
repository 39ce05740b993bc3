/* CSV reader: reads the file (raw or gzip: zlib's gzread passes raw files
 * through) in blocks, assembles one line at a time in a
 * buffer that grows as needed (counting commas on the way, so an absurdly
 * wide row is refused before it is parsed), and appends each row's values
 * to a growing array. */
#define _POSIX_C_SOURCE 200809L /* newlocale/uselocale */

#include "data/csv.h"

#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "common/errors.h"
#include "common/files.h"
#include "data/idx.h" /* VDS_MAX_EXAMPLES */
#include "libvae/vae.h"

#define BLOCK_BYTES 16384

/* The most columns a row may have (2^18 = 262,144), label column included.
 * Well above any real table (a 512x512 image is 2^18 pixels), and low
 * enough that a row of a million columns is refused (VAE_ERR_LIMIT) while
 * its line is still being read, before it is buffered or parsed. Lower
 * than VDS_MAX_VALUES, which bounds the values per example of IDX files
 * and caller arrays. */
#define CSV_MAX_COLUMNS ((size_t)1 << 18)

/* The longest line accepted: 2^24 bytes = 16 MiB, 64 bytes for each of
 * CSV_MAX_COLUMNS fields (a float printed with "%.17g" and a comma takes
 * at most 25). A longer line is refused (VAE_ERR_LIMIT) as it is read, so
 * a file without commas or newlines cannot make the buffer grow without
 * bound (issue 19: a line of zeros reached 8 GiB). */
#define CSV_MAX_LINE_BYTES ((size_t)1 << 24)

typedef struct csv_reader {
    gzFile f;
    int read_error;         /* gzread failed (the reason is in gz_reason) */
    const char *path;
    char *msg;
    unsigned char block[BLOCK_BYTES];
    size_t pos, len;        /* unread bytes are block[pos..len) */
    size_t lineno;          /* number of the line last read */
    char *line;             /* the current line, NUL-terminated, without its line end */
    size_t line_len, line_cap;
} csv_reader;

typedef struct csv_table {
    float *x;
    int *labels;
    size_t n, d;
    size_t x_cap, lab_cap;  /* capacities in elements */
    size_t ncols;           /* columns per row, 0 until the first row */
    size_t first_line;      /* line number of the first row (for messages) */
    int label_column;       /* -1 for none */
} csv_table;

/* Refill the block; returns 0 at end of file or on a read error. */
static int rd_refill(csv_reader *r)
{
    r->pos = 0;
    int got = gzread(r->f, r->block, (unsigned)sizeof r->block);
    int zerr = Z_OK;
    if (got <= 0)
        gzerror(r->f, &zerr); /* a truncated gzip stream ends with Z_BUF_ERROR, not -1 */
    if (got < 0 || zerr != Z_OK) {
        r->read_error = 1;
        got = 0;
    }
    r->len = (size_t)got;
    return r->len > 0;
}

static int rd_append(csv_reader *r, const unsigned char *src, size_t len)
{
    if (r->line_len + len + 1 > r->line_cap) {
        size_t cap = r->line_cap ? r->line_cap : 256;
        while (cap < r->line_len + len + 1)
            cap *= 2;
        char *p = realloc(r->line, cap);
        if (!p)
            return vae_fail(r->msg, VAE_ERR_NOMEM, "%s: line %zu: out of memory (%zu bytes)",
                            r->path, r->lineno + 1, cap);
        r->line = p;
        r->line_cap = cap;
    }
    memcpy(r->line + r->line_len, src, len);
    r->line_len += len;
    r->line[r->line_len] = '\0';
    return VAE_OK;
}

static size_t count_commas(const unsigned char *p, size_t len)
{
    size_t c = 0;
    for (size_t i = 0; i < len; i++)
        c += p[i] == ',';
    return c;
}

/* Read the next line into r->line (line end removed). *more = 0 at the end
 * of the file. *commas counts its commas; the count is checked against the
 * column limit block by block, before the rest of the line is buffered.
 * With keep == 0 the line is consumed without being stored (a header). */
static int rd_line(csv_reader *r, int keep, int *more, size_t *commas)
{
    int seen = 0, newline = 0;
    r->line_len = 0;
    *commas = 0;
    while (!newline && (r->pos < r->len || rd_refill(r))) {
        const unsigned char *start = r->block + r->pos;
        size_t avail = r->len - r->pos;
        const unsigned char *nl = memchr(start, '\n', avail);
        size_t take = nl ? (size_t)(nl - start) : avail;
        seen = 1;
        newline = nl != NULL;
        r->pos += take + (size_t)newline;
        if (!keep)
            continue;
        const unsigned char *nul = memchr(start, '\0', take);
        if (nul)
            return vae_fail(r->msg, VAE_ERR_FORMAT, "%s: line %zu, column %zu: a NUL byte",
                            r->path, r->lineno + 1,
                            *commas + count_commas(start, (size_t)(nul - start)) + 1);
        *commas += count_commas(start, take);
        if (*commas >= CSV_MAX_COLUMNS)
            return vae_fail(r->msg, VAE_ERR_LIMIT, "%s: line %zu has more than %zu columns",
                            r->path, r->lineno + 1, CSV_MAX_COLUMNS);
        if (r->line_len + take > CSV_MAX_LINE_BYTES)
            return vae_fail(r->msg, VAE_ERR_LIMIT, "%s: line %zu is longer than %zu bytes",
                            r->path, r->lineno + 1, CSV_MAX_LINE_BYTES);
        int st = rd_append(r, start, take);
        if (st != VAE_OK)
            return st;
    }
    if (r->read_error) {
        int zerr = Z_OK;
        const char *why = gzerror(r->f, &zerr);
        if (zerr == Z_ERRNO)
            return vae_fail(r->msg, VAE_ERR_IO, "%s: read error after line %zu: %s", r->path,
                            r->lineno, strerror(errno));
        /* zlib puts "<fd:N>: " before its own reason. */
        const char *colon = why ? strstr(why, ": ") : NULL;
        return vae_fail(r->msg, VAE_ERR_FORMAT, "%s: corrupt gzip data after %zu complete lines: %s",
                        r->path, r->lineno, colon ? colon + 2 : (why ? why : "unknown error"));
    }
    *more = seen;
    if (!seen)
        return VAE_OK;
    r->lineno++;
    if (keep && r->line_len > 0 && r->line[r->line_len - 1] == '\r')
        r->line[--r->line_len] = '\0';
    return VAE_OK;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

static int is_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_space(s[i]))
            return 0;
    return 1;
}

/* Trim spaces around the field s[0..*len) in place; returns the new start. */
static char *trim(char *s, size_t *len)
{
    while (*len > 0 && is_space(*s)) {
        s++;
        (*len)--;
    }
    while (*len > 0 && is_space(s[*len - 1]))
        (*len)--;
    s[*len] = '\0';
    return s;
}

static int field_error(csv_reader *r, size_t col, const char *field, const char *what)
{
    return vae_fail(r->msg, VAE_ERR_FORMAT, "%s: line %zu, column %zu: \"%.32s\" is not %s",
                    r->path, r->lineno, col + 1, field, what);
}

static int parse_value(csv_reader *r, size_t col, char *field, float *out)
{
    if (*field == '\0')
        return vae_fail(r->msg, VAE_ERR_FORMAT, "%s: line %zu, column %zu: empty field",
                        r->path, r->lineno, col + 1);
    char *end;
    float v = strtof(field, &end);
    if (end == field || *end != '\0')
        return field_error(r, col, field, "a number");
    if (!isfinite(v))
        return vae_fail(r->msg, VAE_ERR_NONFINITE,
                        "%s: line %zu, column %zu: \"%.32s\" is not finite", r->path, r->lineno,
                        col + 1, field);
    *out = v;
    return VAE_OK;
}

/* Labels are integers, but written as "3" or as "3.0e+00" (numpy) alike. */
static int parse_label(csv_reader *r, size_t col, char *field, int *out)
{
    if (*field == '\0')
        return vae_fail(r->msg, VAE_ERR_FORMAT, "%s: line %zu, column %zu: empty label",
                        r->path, r->lineno, col + 1);
    char *end;
    double v = strtod(field, &end);
    if (end == field || *end != '\0' || !isfinite(v) || v != floor(v) || v < INT_MIN ||
        v > INT_MAX)
        return field_error(r, col, field, "an integer label");
    *out = (int)v;
    return VAE_OK;
}

/* Check the row's width against the first row (which fixes the width). */
static int check_width(csv_reader *r, csv_table *t, size_t ncols)
{
    if (t->ncols == 0) {
        if (t->label_column >= 0 && (size_t)t->label_column >= ncols)
            return vae_fail(r->msg, VAE_ERR_INVALID,
                            "%s: label column %d (0-based) but line %zu has %zu columns",
                            r->path, t->label_column, r->lineno, ncols);
        size_t d = ncols - (t->label_column >= 0);
        if (d == 0)
            return vae_fail(r->msg, VAE_ERR_FORMAT,
                            "%s: line %zu has no feature columns besides the label", r->path,
                            r->lineno);
        t->ncols = ncols;
        t->d = d;
        t->first_line = r->lineno;
        return VAE_OK;
    }
    if (ncols != t->ncols)
        return vae_fail(r->msg, VAE_ERR_SHAPE, "%s: line %zu has %zu columns, line %zu has %zu",
                        r->path, r->lineno, ncols, t->first_line, t->ncols);
    return VAE_OK;
}

/* Make room for one more row (d values and a label). */
static int reserve_row(csv_reader *r, csv_table *t)
{
    if (t->n >= VDS_MAX_EXAMPLES)
        return vae_fail(r->msg, VAE_ERR_LIMIT, "%s: more than %zu rows", r->path,
                        VDS_MAX_EXAMPLES);
    if (t->d > SIZE_MAX / sizeof(float) / (t->n + 1))
        return vae_fail(r->msg, VAE_ERR_LIMIT, "%s: too many values at line %zu", r->path,
                        r->lineno);
    size_t need = (t->n + 1) * t->d;
    if (need > t->x_cap) {
        size_t cap = t->x_cap ? t->x_cap : 4096;
        while (cap < need)
            cap = cap > SIZE_MAX / sizeof(float) / 2 ? need : cap * 2;
        float *p = realloc(t->x, cap * sizeof *p);
        if (!p)
            return vae_fail(r->msg, VAE_ERR_NOMEM, "%s: out of memory at line %zu", r->path,
                            r->lineno);
        t->x = p;
        t->x_cap = cap;
    }
    if (t->label_column >= 0 && t->n + 1 > t->lab_cap) {
        size_t cap = t->lab_cap ? t->lab_cap * 2 : 1024;
        int *p = realloc(t->labels, cap * sizeof *p);
        if (!p)
            return vae_fail(r->msg, VAE_ERR_NOMEM, "%s: out of memory at line %zu", r->path,
                            r->lineno);
        t->labels = p;
        t->lab_cap = cap;
    }
    return VAE_OK;
}

/* Parse the current line (ncols fields) into row t->n. */
static int parse_row(csv_reader *r, csv_table *t, size_t ncols)
{
    int st = check_width(r, t, ncols);
    if (st == VAE_OK)
        st = reserve_row(r, t);
    if (st != VAE_OK)
        return st;
    float *row = t->x + t->n * t->d;
    char *p = r->line, *line_end = r->line + r->line_len;
    size_t j = 0;
    for (size_t col = 0; col < ncols && st == VAE_OK; col++) {
        /* Cut the field out so strtof cannot read into the next one. */
        char *comma = memchr(p, ',', (size_t)(line_end - p));
        size_t len = comma ? (size_t)(comma - p) : (size_t)(line_end - p);
        char *field = trim(p, &len);
        if ((int)col == t->label_column)
            st = parse_label(r, col, field, &t->labels[t->n]);
        else
            st = parse_value(r, col, field, &row[j++]);
        p = comma ? comma + 1 : line_end;
    }
    if (st == VAE_OK)
        t->n++;
    return st;
}

static void skip_bom(csv_reader *r)
{
    if (r->line_len >= 3 && memcmp(r->line, "\xEF\xBB\xBF", 3) == 0) {
        memmove(r->line, r->line + 3, r->line_len - 2);
        r->line_len -= 3;
    }
}

static int parse_file(csv_reader *r, csv_table *t, int header)
{
    int more = 1, st = VAE_OK;
    size_t commas;
    if (header)
        st = rd_line(r, 0, &more, &commas);
    while (st == VAE_OK && more) {
        st = rd_line(r, 1, &more, &commas);
        if (st != VAE_OK || !more)
            break;
        if (r->lineno == 1)
            skip_bom(r);
        if (!is_blank(r->line, r->line_len))
            st = parse_row(r, t, commas + 1);
    }
    if (st == VAE_OK && t->n == 0)
        st = vae_fail(r->msg, VAE_ERR_FORMAT, "%s: no data rows", r->path);
    return st;
}

/* strtof follows LC_NUMERIC; switch this thread alone to "C" so that a host
 * program's locale (say, with a decimal comma) cannot change the parse. */
#ifdef LC_NUMERIC_MASK
typedef struct numeric_locale {
    locale_t c, old;
} numeric_locale;

static void locale_enter(numeric_locale *l)
{
    l->c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    l->old = l->c ? uselocale(l->c) : (locale_t)0;
}

static void locale_leave(numeric_locale *l)
{
    if (l->c) {
        uselocale(l->old);
        freelocale(l->c);
    }
}
#else
typedef int numeric_locale;
static void locale_enter(numeric_locale *l) { (void)l; }
static void locale_leave(numeric_locale *l) { (void)l; }
#endif

int vds_csv_read(const char *path, int header, int label_column, float **x, int **labels,
                 size_t *n, size_t *d, char *msg)
{
    csv_reader *r = calloc(1, sizeof *r);
    if (!r)
        return vae_fail(msg, VAE_ERR_NOMEM, "%s: out of memory", path);
    r->path = path;
    r->msg = msg;
    int fd;
    int st = vae_open_regular(path, &fd, msg); /* FIFOs and devices refused, unblocked */
    if (st != VAE_OK) {
        free(r);
        return st;
    }
    r->f = gzdopen(fd, "rb");
    if (!r->f) {
        st = vae_fail(msg, VAE_ERR_NOMEM, "%s: cannot open: out of memory", path);
        close(fd);
        free(r);
        return st;
    }
    csv_table t = {0};
    t.label_column = label_column;
    numeric_locale loc;
    locale_enter(&loc);
    st = parse_file(r, &t, header);
    locale_leave(&loc);
    gzclose(r->f);
    free(r->line);
    free(r);
    if (st != VAE_OK) {
        free(t.x);
        free(t.labels);
        return st;
    }
    /* Give back the slack of the last doubling. */
    float *fit = realloc(t.x, t.n * t.d * sizeof *fit);
    *x = fit ? fit : t.x;
    *labels = t.labels;
    *n = t.n;
    *d = t.d;
    return VAE_OK;
}
