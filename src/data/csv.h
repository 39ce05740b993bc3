/* CSV reader: a file of comma-separated numbers, one example per line.
 *
 * Blank lines (empty or only spaces/tabs) are skipped; line ends may be LF
 * or CRLF and the last line needs no newline; a UTF-8 byte order mark is
 * ignored. Numbers are read with strtof in the "C" numeric locale whatever
 * the host program's locale. Lines and columns in messages count from 1.
 */
#ifndef VAE_DATA_CSV_H
#define VAE_DATA_CSV_H

#include <stddef.h>

/* Read `path` into a new malloc'd row-major array *x of *n rows and *d
 * features. header != 0 skips the first line unread. label_column >= 0
 * (0-based) takes that column out of the features as an integer label into
 * a new malloc'd array *labels (else *labels = NULL). Both arrays are freed
 * by the caller.
 *
 * On failure writes a message naming the file (and line and column where
 * it applies) into msg (VAE_ERRMSG_LEN bytes), leaves the outputs untouched
 * and returns VAE_ERR_IO, VAE_ERR_FORMAT (unparsable field, no data rows,
 * no feature columns), VAE_ERR_SHAPE (rows of different widths),
 * VAE_ERR_NONFINITE, VAE_ERR_INVALID (label column past the last column),
 * VAE_ERR_LIMIT (a row of more than 2^18 (CSV_MAX_COLUMNS) columns, found while the
 * line is read, or more than VDS_MAX_EXAMPLES rows) or VAE_ERR_NOMEM. */
int vds_csv_read(const char *path, int header, int label_column, float **x, int **labels,
                 size_t *n, size_t *d, char *msg);

#endif
