/**
 * @file vae.h
 * @brief libvae — variational autoencoders in C.
 *
 * This is the umbrella header: it is the whole public API. Include it as
 * `#include <libvae/vae.h>` and link with `pkg-config --libs vae`.
 *
 * Conventions (see docs/design.md):
 *   - Opaque handles (vae_model, vae_optimizer, vae_dataset). Create with
 *     vae_NOUN_create/load, free with vae_NOUN_free; free(NULL) is a no-op.
 *   - Every fallible call returns an int status: VAE_OK (0) or a negative
 *     enum vae_status code. After a failed call on a handle,
 *     vae_NOUN_errmsg(handle) says what was wrong and where, and the
 *     handle is as it was before the call. Calls that create a handle take an
 *     optional vae_error* that receives the status and message.
 *   - Thread rule: a handle may be used by one thread at a time; different
 *     handles may be used from different threads concurrently. The library
 *     has no mutable global state of its own. Each function states its rule
 *     under "Threads" (in this header: \@thread_safe = any thread at any time;
 *     \@thread_handle = one thread at a time per handle; \@thread_caller =
 *     touches only the caller's struct).
 *   - Ownership: the caller owns every buffer it passes in and every buffer
 *     it passes to be filled. Nothing the library returns must be freed by
 *     the caller except handles (with their _free function).
 *   - Units: ELBO, reconstruction and KL figures are in nats, summed over
 *     data/latent dimensions, averaged over examples.
 *   - Configuration structs start with struct_size and are filled by a
 *     *_init function first, so they can grow without breaking callers.
 *   - ABI rule: a program built against an older header keeps working with
 *     a newer library of the same soname, and no call writes or reads
 *     beyond the size its structs had when it was compiled:
 *       - every *_init is a macro passing the caller's sizeof to a sized
 *         initialiser (vae_model_config_init(cfg) is
 *         vae_model_config_init_size(cfg, sizeof *(cfg))), which writes
 *         exactly min(size, the library's sizeof) bytes and sets
 *         struct_size to that count. The plain *_init functions are still
 *         exported for programs built against 0.3.0 headers and write
 *         exactly the 0.3.0 struct size. Bindings that cannot expand macros
 *         (cffi, ctypes) call the *_init_size functions with their size;
 *       - calls that read a struct (create, set_config, set_training, ...)
 *         take min(struct_size, sizeof) bytes over the defaults, so fields
 *         an older caller does not know keep their defaults;
 *       - getters that fill a struct with struct_size (get_config,
 *         training_state, diagnostics) write min(struct_size, sizeof)
 *         bytes, set struct_size to that count, and refuse an unset (0) or
 *         absurd struct_size with VAE_ERR_INVALID, writing nothing;
 *       - structs without struct_size (vae_error, vae_elbo_stats,
 *         vae_grad_stats, vae_vqvae_stats) are frozen: they never grow. New
 *         figures go into new structs that start with struct_size.
 *     Fields are only ever added at the end of a struct.
 */
#ifndef LIBVAE_VAE_H
#define LIBVAE_VAE_H

#include <stddef.h>
#include <stdint.h>

#include <libvae/vae_version.h>

#ifndef VAE_API
#  if defined(_WIN32)
#    define VAE_API
#  elif defined(__GNUC__) && __GNUC__ >= 4
#    define VAE_API __attribute__((visibility("default")))
#  else
#    define VAE_API
#  endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Status codes and versions                                                 */
/* ------------------------------------------------------------------------ */

/** Status codes. Values are pinned: they never change between versions. */
enum vae_status {
    VAE_OK = 0,                 /**< success */
    VAE_ERR_NULL = -1,          /**< a required pointer argument was NULL */
    VAE_ERR_INVALID = -2,       /**< an argument value is out of range */
    VAE_ERR_SHAPE = -3,         /**< sizes or dimensions do not match */
    VAE_ERR_NOMEM = -4,         /**< memory allocation failed */
    VAE_ERR_IO = -5,            /**< a file could not be opened, read or written */
    VAE_ERR_FORMAT = -6,        /**< a file is corrupt, truncated or of another format */
    VAE_ERR_NONFINITE = -7,     /**< NaN or infinity in input data */
    VAE_ERR_DIVERGED = -8,      /**< a training step produced NaN or infinity; parameters kept */
    VAE_ERR_LIMIT = -9,         /**< a size exceeds what the library accepts */
    VAE_ERR_CANCELLED = -10,    /**< a progress callback asked to stop */
    VAE_ERR_UNSUPPORTED = -11   /**< the operation does not apply to this model */
};

/** Length of every error message buffer, including the terminating NUL. */
#define VAE_ERRMSG_LEN 256

/**
 * The outcome of a call that creates a handle (there is no handle yet to
 * hold the message). Pass NULL where the details are not wanted.
 * Frozen: no struct_size, so it never changes size.
 */
typedef struct vae_error {
    int status;                       /**< the status the call returned */
    char message[256];                /**< what was wrong; "" on success */
} vae_error;

/**
 * A static English description of a status code ("invalid argument", ...).
 * @param status  a value of enum vae_status (any int is accepted).
 * @return a static NUL-terminated string, never NULL; "unknown status" for
 *         a value that is not a status code. Do not free it.
 * @thread_safe
 * @since 0.1.0
 */
VAE_API const char *vae_status_str(int status);

/**
 * The runtime library version. Compare with VAE_VERSION_STRING (the headers
 * the program was compiled with) to detect a header/library mismatch.
 * @return a static string "MAJOR.MINOR.PATCH", never NULL. Do not free it.
 * @thread_safe
 * @since 0.1.0
 */
VAE_API const char *vae_version_string(void);

/**
 * The runtime library version as a number, encoded as VAE_VERSION_NUMBER is.
 * @return MAJOR*10000 + MINOR*100 + PATCH (300 for 0.3.0).
 * @thread_safe
 * @since 0.1.0
 */
VAE_API unsigned vae_version_number(void);

/* ------------------------------------------------------------------------ */
/* Datasets                                                                  */
/* ------------------------------------------------------------------------ */

/** An immutable table of n examples of d float features, plus optional labels. */
typedef struct vae_dataset vae_dataset;

/** How raw values are mapped before use. */
enum vae_scale {
    VAE_SCALE_AUTO = -1,    /**< the default: VAE_SCALE_255 for IDX uint8 images, VAE_SCALE_NONE otherwise */
    VAE_SCALE_NONE = 0,     /**< use values as given */
    VAE_SCALE_255 = 1,      /**< divide by 255 (8-bit pixels to [0,1]) */
    VAE_SCALE_MINMAX = 2    /**< (v - min) / (max - min) over the whole dataset */
};

/** How examples are binarised when a batch is drawn. */
enum vae_binarize {
    VAE_BINARIZE_NONE = 0,      /**< values as stored */
    VAE_BINARIZE_THRESHOLD = 1, /**< 1 if v > threshold else 0 */
    VAE_BINARIZE_DYNAMIC = 2    /**< 1 with probability v (v in [0,1]), redrawn every time a batch is drawn */
};

/** Whether vae_dataset_from_array copies the caller's array or borrows it. */
enum vae_array_mode {
    VAE_ARRAY_COPY = 0,     /**< the dataset keeps its own copy */
    VAE_ARRAY_BORROW = 1    /**< the caller's array is used in place; it must stay valid and unchanged until vae_dataset_free */
};

/** Options for creating a dataset. Initialise with vae_dataset_options_init (a macro: see vae_dataset_options_init_size). */
typedef struct vae_dataset_options {
    size_t struct_size;     /**< sizeof(vae_dataset_options) */
    int scale;              /**< enum vae_scale, default VAE_SCALE_AUTO */
    int binarize;           /**< enum vae_binarize, default VAE_BINARIZE_NONE */
    float threshold;        /**< for VAE_BINARIZE_THRESHOLD, default 0.5 */
    int csv_header;         /**< CSV: 1 if the first line is a header to skip, default 0 */
    int csv_label_column;   /**< CSV: index of an integer label column, -1 (default) for none */
} vae_dataset_options;

/**
 * Fill *opt with the defaults (VAE_SCALE_AUTO, no binarisation, threshold
 * 0.5, no CSV header, no label column) and set opt->struct_size. Call it
 * before changing fields, so the struct can grow without breaking callers.
 * In C and C++ the name is a macro over vae_dataset_options_init_size with
 * sizeof *(opt); the exported function of this name (for programs built
 * against 0.3.0 headers) writes exactly the 0.3.0 size, 32 bytes on LP64.
 * @param opt  the options to fill (caller-owned); NULL is ignored.
 * @thread_caller
 * @since 0.1.0
 */
VAE_API void vae_dataset_options_init(vae_dataset_options *opt);

/**
 * Fill the first min(size, sizeof(vae_dataset_options)) bytes of *opt with
 * the defaults of vae_dataset_options_init and set opt->struct_size to that
 * count: never a byte beyond `size`. Pass the size of the caller's struct
 * (the vae_dataset_options_init macro passes sizeof *(opt)); bindings that
 * cannot use the macro call this.
 * @param opt   the options to fill (caller-owned); NULL is ignored.
 * @param size  sizeof the caller's struct; below sizeof(size_t) nothing is
 *              written.
 * @thread_caller
 * @since 0.4.0
 */
VAE_API void vae_dataset_options_init_size(vae_dataset_options *opt, size_t size);

/** vae_dataset_options_init(opt): the sized initialiser with the caller's sizeof. */
#define vae_dataset_options_init(opt) vae_dataset_options_init_size((opt), sizeof *(opt))

/**
 * Load images from an IDX file (raw or gzip-compressed; the magic decides),
 * with optional labels from an IDX1 file.
 * Element types u8 and f32 are accepted; images of any rank >= 2 are
 * flattened per example. uint8 data is scaled by 1/255 unless opt->scale
 * says otherwise. Files claiming more than 2^28 examples or 2^24 values
 * per example are refused (VAE_ERR_LIMIT) before any large allocation.
 * The files are read completely during the call; nothing keeps them open.
 * Only regular files are read (a FIFO, device or directory: VAE_ERR_IO at
 * once, without blocking). Memory follows the data a file really holds: a
 * header claiming more bytes than the file can hold (its size when raw,
 * 1040 times it when gzip, the most deflate expands) is refused before the
 * data is read, and a labels file whose count differs from the images' is
 * refused at its 8-byte header.
 * u8 images are kept as bytes (1 byte per value, whatever opt->scale says)
 * and turned into their float values (the same bits as dividing the float
 * by 255, or as the scale asks) as batches are drawn; see
 * vae_dataset_data for the one call that makes a float copy (since 0.3.0;
 * earlier versions held every u8 image as floats).
 * @param images_path  path of the IDX images file (u8 or f32).
 * @param labels_path  path of an IDX1 labels file with one label per image,
 *                     or NULL for none.
 * @param opt   options (scale, binarisation); NULL for the defaults.
 * @param out   receives the new dataset, owned by the caller (free it with
 *              vae_dataset_free); set to NULL on failure.
 * @param err   may be NULL; receives the status and a message naming the file.
 * @return VAE_OK; VAE_ERR_NULL (images_path or out NULL), VAE_ERR_INVALID
 *         (bad options), VAE_ERR_IO (cannot open or read), VAE_ERR_FORMAT
 *         (not IDX, truncated, unsupported type), VAE_ERR_SHAPE (label count
 *         differs from the image count), VAE_ERR_NONFINITE (f32 data with
 *         NaN or infinity), VAE_ERR_LIMIT, VAE_ERR_NOMEM.
 * @thread_safe
 * @since 0.1.0
 */
VAE_API int vae_dataset_load_idx(const char *images_path, const char *labels_path,
                                 const vae_dataset_options *opt, vae_dataset **out,
                                 vae_error *err);

/**
 * Load a CSV file of numbers (comma separated, one example per line; blank
 * lines skipped), raw or gzip-compressed (recognised by its content; since
 * 0.4.0). Every row must have the same number of columns. An
 * optional label column (opt->csv_label_column) is taken out of the
 * features. The file is read completely during the call; it must be a
 * regular file (a FIFO, device or directory: VAE_ERR_IO, without
 * blocking). A line may be at most 2^24 bytes (16 MiB) long; a NUL byte
 * in a line is an error naming its line and column.
 * @param path  path of the CSV file.
 * @param opt   options (header line, label column, scale, binarisation);
 *              NULL for the defaults.
 * @param out   receives the new dataset, owned by the caller (free it with
 *              vae_dataset_free); set to NULL on failure.
 * @param err   may be NULL; receives the status and a message naming the
 *              line and column at fault.
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID (bad options), VAE_ERR_IO,
 *         VAE_ERR_FORMAT (a field that is not a number, a NUL byte, ragged
 *         rows, no rows, corrupt gzip data), VAE_ERR_NONFINITE (NaN or infinity), VAE_ERR_LIMIT
 *         (rows wider than 2^18 = 262,144 columns, lines longer than 2^24
 *         bytes), VAE_ERR_NOMEM.
 * @thread_safe
 * @since 0.1.0
 */
VAE_API int vae_dataset_load_csv(const char *path, const vae_dataset_options *opt,
                                 vae_dataset **out, vae_error *err);

/**
 * Make a dataset from a caller's row-major float array.
 * @param x       n*d floats, row i at x[i*d]; must be finite.
 * @param n       number of examples (rows), >= 1.
 * @param d       features per example (columns), >= 1.
 * @param labels  NULL, or n ints copied into the dataset.
 * @param mode    enum vae_array_mode. VAE_ARRAY_COPY: the dataset keeps its
 *                own copy and x may be freed right after the call.
 *                VAE_ARRAY_BORROW: the dataset uses x in place; it must stay
 *                valid and unchanged until vae_dataset_free, and opt->scale
 *                must be VAE_SCALE_NONE or VAE_SCALE_AUTO.
 * @param opt     options (scale, binarisation); NULL for the defaults.
 * @param out     receives the new dataset, owned by the caller; NULL on failure.
 * @param err     may be NULL; receives the status and message.
 * @return VAE_OK; VAE_ERR_NULL (x or out NULL), VAE_ERR_INVALID (n or d
 *         zero, bad mode or options, scaling a borrowed array),
 *         VAE_ERR_NONFINITE (NaN or infinity, with its position),
 *         VAE_ERR_LIMIT (absurd n or d), VAE_ERR_NOMEM.
 * @thread_caller
 * @since 0.1.0
 */
VAE_API int vae_dataset_from_array(const float *x, size_t n, size_t d, const int *labels,
                                   int mode, const vae_dataset_options *opt,
                                   vae_dataset **out, vae_error *err);

/**
 * A new dataset holding rows [first, first + count) of src (copied, so src
 * may be freed afterwards). Labels, conditions and binarisation settings
 * are inherited, and the scaling of src: values are copied as src stores
 * them (the bytes of an IDX u8 dataset stay bytes, 1 byte per value) and
 * are never rescaled (VAE_SCALE_MINMAX keeps src's minimum and maximum).
 * For the first n rows use first = 0; for the last n use
 * first = vae_dataset_count(src) - n.
 * @param src    the dataset to take rows from (not changed).
 * @param first  index of the first row taken.
 * @param count  number of rows, >= 1; first + count must not exceed the
 *               number of rows of src.
 * @param out    receives the new dataset, owned by the caller; NULL on failure.
 * @param err    may be NULL; receives the status and message.
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID (empty or out-of-range
 *         rows), VAE_ERR_NOMEM.
 * @par Threads
 * Only reads src: several threads may take subsets of one dataset at once,
 * as long as none changes it (vae_dataset_set_binarize, vae_dataset_free).
 * @since 0.1.0
 */
VAE_API int vae_dataset_subset(const vae_dataset *src, size_t first, size_t count,
                               vae_dataset **out, vae_error *err);

/**
 * Free a dataset and everything it owns (not a borrowed array).
 * @param ds  the dataset, or NULL (a no-op).
 * @thread_handle
 * @since 0.1.0
 */
VAE_API void vae_dataset_free(vae_dataset *ds);

/**
 * Number of examples.
 * @param ds  the dataset (may be NULL).
 * @return the number of rows; 0 for NULL.
 * @thread_handle
 * @since 0.1.0
 */
VAE_API size_t vae_dataset_count(const vae_dataset *ds);

/**
 * Number of features per example.
 * @param ds  the dataset (may be NULL).
 * @return the number of columns; 0 for NULL.
 * @thread_handle
 * @since 0.1.0
 */
VAE_API size_t vae_dataset_dim(const vae_dataset *ds);

/**
 * Whether the dataset carries labels.
 * @param ds  the dataset (may be NULL).
 * @return 1 if it has labels, else 0 (also for NULL).
 * @thread_handle
 * @since 0.1.0
 */
VAE_API int vae_dataset_has_labels(const vae_dataset *ds);

/**
 * A sample's shape (channels, height, width): (1, H, W) for IDX images of
 * rank 3, (C, H, W) for rank 4, else (dim, 1, 1) unless set by
 * vae_dataset_set_shape. Give it to vae_model_config.input_shape for
 * convolutional networks.
 * @param ds     the dataset.
 * @param shape  receives the three sizes (caller-owned).
 * @return VAE_OK, VAE_ERR_NULL.
 * @thread_safe
 * @since 0.4.0
 */
VAE_API int vae_dataset_shape(const vae_dataset *ds, int shape[3]);

/**
 * Set a sample's shape, e.g. (1, 28, 28) for image rows read from CSV.
 * @param ds        the dataset.
 * @param channels  C >= 1.
 * @param height    H >= 1.
 * @param width     W >= 1; C * H * W must equal vae_dataset_dim.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID (a size < 1), VAE_ERR_SHAPE
 *         (the product differs from the dimension); nothing changes on failure.
 * @thread_handle
 * @since 0.4.0
 */
VAE_API int vae_dataset_set_shape(vae_dataset *ds, int channels, int height, int width);

/**
 * Borrow the stored features (scaled, not binarised) as floats, row-major.
 *
 * A dataset loaded from an IDX u8 file (or a subset of one) stores bytes:
 * its first vae_dataset_data call allocates n*d floats (4 bytes per value,
 * 31 MB for 10,000 MNIST images) and fills them with the values batches
 * get; later calls return the same array, which the dataset owns until
 * vae_dataset_free. Training, evaluation, vae_dataset_gather and
 * vae_dataset_subset never make this copy; call vae_dataset_data on a
 * small subset (e.g. the test rows) to keep memory down. Other datasets
 * hold floats already and return them at no cost.
 * @param ds  the dataset (may be NULL).
 * @return n*d floats owned by the dataset, valid until vae_dataset_free; do
 *         not write or free them. NULL for a NULL handle, and NULL when the
 *         float copy of a byte-backed dataset cannot be allocated (out of
 *         memory: vae_dataset_errmsg(ds) says so, the dataset is unchanged
 *         and a later call tries again).
 * @par Threads
 * Several threads may call it on one dataset at once, also while others
 * only read the dataset (train, evaluate, gather, subset): the float copy
 * is made once, the other callers wait for it and get the same array. Not
 * while a thread changes or frees the dataset.
 * @since 0.1.0 (the lazy float copy of byte-backed datasets: 0.3.0)
 */
VAE_API const float *vae_dataset_data(const vae_dataset *ds);

/**
 * Borrow the labels.
 * @param ds  the dataset (may be NULL).
 * @return n ints owned by the dataset, valid until vae_dataset_free; NULL
 *         when there are no labels or ds is NULL.
 * @thread_handle
 * @since 0.1.0
 */
VAE_API const int *vae_dataset_labels(const vae_dataset *ds);

/**
 * Change how batches drawn from the dataset are binarised. The stored
 * values are not changed; binarisation happens when a batch is drawn
 * (vae_model_train_epoch, vae_model_evaluate).
 * @param ds         the dataset.
 * @param mode       enum vae_binarize. VAE_BINARIZE_DYNAMIC needs all values
 *                   in [0,1].
 * @param threshold  used by VAE_BINARIZE_THRESHOLD (1 if v > threshold);
 *                   must be finite.
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID (unknown mode, non-finite
 *         threshold, dynamic binarisation of values outside [0,1]); the
 *         message is in vae_dataset_errmsg(ds).
 * @thread_handle
 * @since 0.1.0
 */
VAE_API int vae_dataset_set_binarize(vae_dataset *ds, int mode, float threshold);

/**
 * The message of the last failed call on ds.
 * @param ds  the dataset (may be NULL).
 * @return a string owned by the dataset ("" if no call failed, or for
 *         NULL), valid until the next failing call on ds or its free.
 * @thread_handle
 * @since 0.1.0
 */
VAE_API const char *vae_dataset_errmsg(const vae_dataset *ds);

/**
 * Attach condition vectors for a conditional model (cond_dim = dim): n rows
 * of dim floats, row-major, copied (the caller may free c afterwards). They
 * replace any the dataset had, stay aligned with their examples through
 * vae_dataset_subset and the epoch shuffle of vae_model_train_epoch, and are
 * not scaled or binarised.
 * @param ds   the dataset.
 * @param c    n x dim finite floats, row-major; owned by the caller.
 * @param n    must equal vae_dataset_count(ds).
 * @param dim  length of each condition vector, 1..65536.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_SHAPE (n differs), VAE_ERR_INVALID
 *         (dim = 0), VAE_ERR_LIMIT (dim > 65536), VAE_ERR_NONFINITE (a NaN
 *         or infinite value, named by row and column), VAE_ERR_NOMEM. On
 *         failure the dataset keeps its previous conditions; the message is
 *         in vae_dataset_errmsg(ds).
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_dataset_set_conditions(vae_dataset *ds, const float *c, size_t n, size_t dim);

/**
 * Attach one-hot conditions from the dataset's integer labels: example i
 * gets the vector of n_classes floats with a 1 at labels[i] and 0 elsewhere
 * (so cond_dim = n_classes). Replaces any earlier conditions.
 * @param ds         the dataset; it must have labels.
 * @param n_classes  number of classes, 1..65536.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID (no labels, n_classes
 *         outside 1..65536, or a label outside 0..n_classes-1, named),
 *         VAE_ERR_NOMEM. On failure the dataset keeps its previous
 *         conditions.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_dataset_set_onehot(vae_dataset *ds, int n_classes);

/**
 * Length of each example's condition vector.
 * @param ds  the dataset (may be NULL).
 * @return cond_dim; 0 when there are no conditions or ds is NULL.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API size_t vae_dataset_cond_dim(const vae_dataset *ds);

/**
 * Borrow the condition vectors (count x cond_dim floats, row-major), valid
 * until they are replaced or the dataset is freed.
 * @param ds  the dataset (may be NULL).
 * @return count x cond_dim floats owned by the dataset; NULL when there are
 *         no conditions or ds is NULL.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API const float *vae_dataset_conditions(const vae_dataset *ds);

/* ------------------------------------------------------------------------ */
/* Optimizers                                                                */
/* ------------------------------------------------------------------------ */

/** An optimizer and its state (moments, step count). */
typedef struct vae_optimizer vae_optimizer;

/** Optimizer algorithms. */
enum vae_optimizer_type {
    VAE_OPT_SGD = 0,        /**< p -= lr * g */
    VAE_OPT_MOMENTUM = 1,   /**< v = mu v + g; p -= lr * v (PyTorch's form) */
    VAE_OPT_ADAGRAD = 2,    /**< s += g^2; p -= lr * g / (sqrt(s) + eps) */
    VAE_OPT_ADAM = 3        /**< Kingma & Ba with bias correction */
};

/**
 * Optimizer hyperparameters. Initialise with vae_optimizer_config_init (a
 * macro: see vae_optimizer_config_init_size).
 *
 * Divergence (since 0.4.0): every update is checked before it is applied.
 * An update is refused, and the step returns VAE_ERR_DIVERGED with the
 * parameters, the optimizer state and every step count exactly as before
 * it, when a new parameter or state value would not be finite, or when the
 * update is longer than the parameters: ||delta||_2 > ||p||_2 + 0.1
 * sqrt(P) over the P parameters updated (an update may at most double the
 * parameter vector's length, with a floor of 0.1 RMS per parameter). A
 * learning rate far too large (Adam at 1e10, SGD at 10 on MNIST) is thus
 * refused at its first step, before it wrecks the parameters: lower it
 * (vae_optimizer_set_lr) and training continues from the last good state.
 * Steps of sane learning rates are far below the bound (Adam at 1e-3 moves
 * a 784-400-20 model by about 3% of its length).
 */
typedef struct vae_optimizer_config {
    size_t struct_size;     /**< sizeof(vae_optimizer_config) */
    int type;               /**< enum vae_optimizer_type */
    float lr;               /**< learning rate (default 1e-3; 1e-2 for SGD, momentum and Adagrad) */
    float momentum;         /**< VAE_OPT_MOMENTUM: mu, default 0.9 */
    float beta1;            /**< Adam: default 0.9 */
    float beta2;            /**< Adam: default 0.999 */
    float eps;              /**< Adam/Adagrad: default 1e-8 (Adam) and 1e-10 (Adagrad) */
    float weight_decay;     /**< L2 penalty added to the gradient, default 0 */
    float clip_norm;        /**< clip the global gradient norm to this value; 0 (default) = off */
} vae_optimizer_config;

/**
 * Fill *cfg with the defaults of optimizer `type` and set cfg->struct_size
 * (lr 1e-3 for Adam, 1e-2 for SGD, momentum and Adagrad; momentum 0.9;
 * betas 0.9 and 0.999; eps 1e-8 for Adam and 1e-10 for Adagrad; no weight
 * decay; no clipping).
 * @param cfg   the config to fill (caller-owned); NULL is ignored.
 * @param type  enum vae_optimizer_type; an unknown type is stored as given
 *              and refused by vae_optimizer_create.
 * In C and C++ the name is a macro over vae_optimizer_config_init_size with
 * sizeof *(cfg); the exported function of this name (for programs built
 * against 0.3.0 headers) writes exactly the 0.3.0 size, 40 bytes on LP64.
 * @thread_caller
 * @since 0.1.0
 */
VAE_API void vae_optimizer_config_init(vae_optimizer_config *cfg, int type);

/**
 * Fill the first min(size, sizeof(vae_optimizer_config)) bytes of *cfg with
 * the defaults of vae_optimizer_config_init for `type` and set
 * cfg->struct_size to that count: never a byte beyond `size`. The
 * vae_optimizer_config_init macro passes sizeof *(cfg); bindings that
 * cannot use the macro call this.
 * @param cfg   the config to fill (caller-owned); NULL is ignored.
 * @param type  enum vae_optimizer_type (an unknown type is stored as given).
 * @param size  sizeof the caller's struct; below sizeof(size_t) nothing is
 *              written.
 * @thread_caller
 * @since 0.4.0
 */
VAE_API void vae_optimizer_config_init_size(vae_optimizer_config *cfg, int type, size_t size);

/** vae_optimizer_config_init(cfg, type): the sized initialiser with the caller's sizeof. */
#define vae_optimizer_config_init(cfg, type) \
    vae_optimizer_config_init_size((cfg), (type), sizeof *(cfg))

/**
 * Create an optimizer. Its state (moments) is sized on the first step with
 * a model and then stays bound to models of that parameter count.
 * @param cfg  hyperparameters, filled by vae_optimizer_config_init first;
 *             copied, so it may be changed or freed after the call.
 * @param out  receives the optimizer, owned by the caller (free it with
 *             vae_optimizer_free); NULL on failure.
 * @param err  may be NULL; receives the status and message.
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID (bad type, lr <= 0, betas
 *         or momentum outside [0,1), eps <= 0, negative weight decay or
 *         clip), VAE_ERR_NOMEM.
 * @thread_safe
 * @since 0.1.0
 */
VAE_API int vae_optimizer_create(const vae_optimizer_config *cfg, vae_optimizer **out,
                                 vae_error *err);

/**
 * Free an optimizer and its state.
 * @param opt  the optimizer, or NULL (a no-op).
 * @thread_handle
 * @since 0.1.0
 */
VAE_API void vae_optimizer_free(vae_optimizer *opt);

/**
 * Copy the current hyperparameters into *cfg: min(cfg->struct_size,
 * sizeof) bytes, and cfg->struct_size is set to that count.
 * @param opt  the optimizer.
 * @param cfg  receives the hyperparameters (caller-owned); set
 *             cfg->struct_size first (vae_optimizer_config_init does).
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID (struct_size unset (0) or
 *         absurd: nothing is written; until 0.3.0 struct_size 0 received
 *         the whole struct).
 * @thread_handle
 * @since 0.1.0
 */
VAE_API int vae_optimizer_get_config(const vae_optimizer *opt, vae_optimizer_config *cfg);

/**
 * Replace the hyperparameters. The type must stay the same; the state
 * (moments, step count) is kept. On failure nothing changes.
 * @param opt  the optimizer.
 * @param cfg  the new hyperparameters (copied).
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID (another type, or a value
 *         vae_optimizer_create would refuse); the message is in
 *         vae_optimizer_errmsg(opt).
 * @thread_handle
 * @since 0.1.0
 */
VAE_API int vae_optimizer_set_config(vae_optimizer *opt, const vae_optimizer_config *cfg);

/**
 * Set only the learning rate, e.g. for a schedule between epochs.
 * @param opt  the optimizer.
 * @param lr   the new learning rate, finite and > 0.
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID.
 * @thread_handle
 * @since 0.1.0
 */
VAE_API int vae_optimizer_set_lr(vae_optimizer *opt, float lr);

/**
 * Number of update steps taken so far (restored by vae_model_load).
 * @param opt  the optimizer (may be NULL).
 * @return the step count; 0 for NULL.
 * @thread_handle
 * @since 0.1.0
 */
VAE_API uint64_t vae_optimizer_steps(const vae_optimizer *opt);

/**
 * The message of the last failed call on opt.
 * @param opt  the optimizer (may be NULL).
 * @return a string owned by the optimizer ("" if none, or for NULL), valid
 *         until the next failing call on opt or its free.
 * @thread_handle
 * @since 0.1.0
 */
VAE_API const char *vae_optimizer_errmsg(const vae_optimizer *opt);

/* ------------------------------------------------------------------------ */
/* Models                                                                    */
/* ------------------------------------------------------------------------ */

/** A VAE: encoder, decoder, parameters, random state and workspaces. */
typedef struct vae_model vae_model;

/** The most hidden layers an encoder or decoder may have. */
#define VAE_MAX_HIDDEN 8

/** Activation functions of hidden layers. */
enum vae_activation {
    VAE_ACT_RELU = 0,       /**< max(0, x) */
    VAE_ACT_LEAKY_RELU = 1, /**< x > 0 ? x : slope * x */
    VAE_ACT_TANH = 2,       /**< tanh(x) */
    VAE_ACT_SIGMOID = 3,    /**< 1 / (1 + exp(-x)) */
    VAE_ACT_SOFTPLUS = 4    /**< log(1 + exp(x)) */
};

/** Decoder likelihoods p(x|z). */
enum vae_likelihood {
    VAE_LIK_BERNOULLI = 0,        /**< Bernoulli with logits; x in [0,1] */
    VAE_LIK_GAUSSIAN_FIXED = 1,   /**< N(x; mean, sigma^2 I), sigma fixed by the config */
    VAE_LIK_GAUSSIAN_LEARNED = 2  /**< N(x; mean, diag sigma_j^2), log sigma_j learned per dimension */
};

/** How KL(q(z|x) || p(z)) is computed in the training objective. */
enum vae_kl_mode {
    VAE_KL_ANALYTIC = 0,    /**< closed form for diagonal Gaussians */
    VAE_KL_MONTE_CARLO = 1  /**< log q(z|x) - log p(z) at the sampled z */
};

/** Families of the approximate posterior q(z|x): location mu(x), scale e^(logvar(x)/2). */
enum vae_posterior {
    VAE_POST_GAUSSIAN = 0,  /**< N(mu, s^2); KL to the prior in closed form */
    VAE_POST_LAPLACE = 1,   /**< Laplace(mu, s); Monte Carlo KL */
    VAE_POST_LOGISTIC = 2   /**< logistic(mu, s); Monte Carlo KL */
};

/** How the encoder's gradient is estimated. */
enum vae_estimator {
    VAE_EST_PATHWISE = 0,   /**< reparameterisation: gradients flow through z = mu + s eps */
    VAE_EST_SCORE = 1       /**< score function (REINFORCE): E[(R - b) grad log q(z|x)] */
};

/** Baselines b for the score-function estimator. */
enum vae_baseline {
    VAE_BASELINE_NONE = 0,  /**< b = 0 */
    VAE_BASELINE_EMA = 1,   /**< exponential moving average of the mean reward (ema_decay) */
    VAE_BASELINE_LOO = 2    /**< leave-one-out mean of the other L-1 samples' rewards (needs samples >= 2) */
};

/** The reward R of the score-function estimator. */
enum vae_score_reward {
    VAE_REWARD_ELBO = 0,    /**< R = log p(x|z) + log p(z) - log q(z|x): the whole single-sample ELBO */
    VAE_REWARD_REC = 1      /**< R = log p(x|z), plus the exact gradient of the analytic KL (Gaussian posterior) */
};

/** The training objective. */
enum vae_objective {
    VAE_OBJ_ELBO = 0,       /**< the ELBO (beta-weighted KL), L samples */
    VAE_OBJ_IWAE = 1        /**< the importance-weighted bound with k = samples, pathwise */
};

/** Schedules of the KL weight (see docs/beta-vae.md). t counts schedule steps from 0. @since 0.3.0 */
enum vae_kl_schedule {
    VAE_KL_SCHEDULE_CONSTANT = 0,   /**< beta_t = beta */
    VAE_KL_SCHEDULE_LINEAR = 1,     /**< warm-up: beta_t = beta * min(1, t / kl_warmup_steps) */
    VAE_KL_SCHEDULE_CYCLICAL = 2    /**< Fu et al. 2019: tau = (t mod P) / P, beta_t = beta * min(1, tau / R); P = kl_cycle_steps, R = kl_cycle_ratio, for kl_cycles cycles (0: forever), then beta */
};

/**
 * The prior of a conditional model (cond_dim > 0). See docs/cvae.md.
 * @since 0.3.0
 */
enum vae_prior {
    VAE_PRIOR_STANDARD = 0, /**< p(z|c) = p(z) = N(0, I), independent of the condition */
    VAE_PRIOR_LEARNED = 1   /**< p(z|c) = N(mu(c), diag e^logvar(c)) from a prior network on c */
};

/** The most stochastic layers a hierarchical model may have (latent_layers). @since 0.4.0 */
#define VAE_MAX_LATENT_LAYERS 8

/**
 * How a hierarchical model (latent_layers >= 2) infers its layers; see
 * docs/hierarchical.md.
 * @since 0.4.0
 */
enum vae_inference {
    VAE_INFER_BOTTOM_UP = 0, /**< Burda et al. 2015: q(z_1|x) q(z_2|z_1) ... q(z_L|z_{L-1}), each a Gaussian from a network on the sample below */
    VAE_INFER_LADDER = 1     /**< Sønderby et al. 2016: a deterministic bottom-up pass, then top-down posteriors, each the precision-weighted combination of the bottom-up Gaussian and the prior p(z_l|z_{l+1}) */
};

/**
 * The model family of a vae_model (docs/autoencoders.md).
 * @since 0.4.0
 */
enum vae_family {
    VAE_FAMILY_VAE = 0,     /**< the variational autoencoder (Gaussian or other posterior) */
    VAE_FAMILY_AE = 1       /**< a deterministic autoencoder: z = the encoder's code (the mean head), loss -log p(x|decoder(z)) + code_l2 sum_j z_j^2 */
};

/** Model configuration. Initialise with vae_model_config_init (a macro: see vae_model_config_init_size). */
typedef struct vae_model_config {
    size_t struct_size;            /**< sizeof(vae_model_config) */
    int input_dim;                 /**< n: features per example (default 784) */
    int latent_dim;                /**< K: latent dimensions (default 20) */
    int n_hidden;                  /**< encoder hidden layers, 0..VAE_MAX_HIDDEN (default 1) */
    int hidden[VAE_MAX_HIDDEN];    /**< their sizes, input side first (default {400}); the decoder mirrors them */
    int activation;                /**< enum vae_activation (default ReLU) */
    float leaky_slope;             /**< slope for VAE_ACT_LEAKY_RELU (default 0.01) */
    int likelihood;                /**< enum vae_likelihood (default Bernoulli) */
    float gaussian_sigma;          /**< fixed sigma, or initial sigma when learned (default 1) */
    int samples;                   /**< L: z samples per example in training (default 1) */
    int kl_mode;                   /**< enum vae_kl_mode (default analytic; only a Gaussian posterior has a closed form, the other families always use Monte Carlo) */
    float logvar_min;              /**< encoder log-variance is clamped to [logvar_min, logvar_max] */
    float logvar_max;              /**< defaults -30 and 20 (sigma from 3e-7 to 2e4) */
    uint64_t seed;                 /**< seeds parameter init, sampling and shuffling (default 1) */
    int threads;                   /**< threads this model's calls use (default 1): its own team, see vae_model_set_threads */
    /* Since 0.2.0: objective and gradient estimator (training settings, see vae_model_set_training). */
    int posterior;                 /**< enum vae_posterior (default Gaussian) */
    int estimator;                 /**< enum vae_estimator (default pathwise) */
    int baseline;                  /**< enum vae_baseline for the score estimator (default none) */
    float ema_decay;               /**< decay of the EMA baseline, in [0, 1) (default 0.9) */
    int score_reward;              /**< enum vae_score_reward (default VAE_REWARD_ELBO) */
    int objective;                 /**< enum vae_objective (default ELBO); for IWAE, samples is k */
    float beta;                    /**< weight of the KL term, >= 0 (default 1: the ELBO) */
    /* Since 0.3.0: beta-VAE schedules, capacity, free bits and aggressive
     * training (training settings, see vae_model_set_training and docs/beta-vae.md). */
    int kl_schedule;               /**< enum vae_kl_schedule (default constant) */
    int kl_warmup_steps;           /**< linear warm-up length N in steps, >= 1 (default 10000) */
    int kl_cycle_steps;            /**< cyclical: cycle length P in steps, >= 1 (default 10000) */
    float kl_cycle_ratio;          /**< cyclical: fraction R of a cycle spent rising, in (0, 1] (default 0.5) */
    int kl_cycles;                 /**< cyclical: number of cycles M, then beta stays at beta; 0 (default) = forever */
    float capacity_gamma;          /**< capacity objective -rec + gamma |KL - C_t| when > 0 (default 0: off; Burgess et al. use 1000) */
    float capacity_max;            /**< C_max in nats (default 25) */
    int capacity_steps;            /**< C_t = C_max min(1, t / capacity_steps); >= 1 (default 100000) */
    float free_bits;               /**< lambda in nats per latent dimension: KL term sum_j max(lambda, batch-mean KL_j); 0 (default) = off */
    int aggressive;                /**< 1: lagging-inference-network "aggressive" training in vae_model_train_epoch (He et al. 2019); default 0 */
    int aggressive_max_inner;      /**< most encoder updates per batch in aggressive mode, 1..10000 (default 100) */
    /* Since 0.3.0: conditional VAE (docs/cvae.md). With cond_dim = C > 0 the encoder
     * reads [x, c] and the decoder [z, c]; the array calls then have _cond variants. */
    int cond_dim;                  /**< C: condition features per example, 0..65536; 0 (default) = unconditional */
    int prior;                     /**< enum vae_prior (default VAE_PRIOR_STANDARD); learned needs cond_dim > 0 */
    int prior_hidden;              /**< learned prior: units of the prior network's one hidden layer (activation as the model's), 0 = affine in c (default 64) */
    /* Since 0.4.0: networks as data (docs/networks.md). A network is the text
     * form of its layers, e.g. "conv2d(32,4,2,1) relu flatten dense(256) relu".
     * The strings are copied by vae_model_create; vae_model_get_config returns
     * the model's own canonical texts (also for the n_hidden shorthand), valid
     * until the model is freed. */
    const char *encoder;           /**< encoder layers; the mean and log-variance heads (dense, latent_dim each) follow automatically. NULL (default): the MLP of n_hidden, hidden and activation */
    const char *decoder;           /**< decoder layers, on z (latent_dim values); the last produces the likelihood's parameters and must give input_dim values. NULL (default): the encoder's MLP mirrored, then dense(input_dim) */
    const char *prior_network;     /**< learned prior: the prior network's layers on c, before its heads. NULL (default): dense(prior_hidden) and the activation, or none when prior_hidden is 0 */
    int input_shape[3];            /**< a sample's shape (channels, height, width), product input_dim; {0, 0, 0} (default): flat, (input_dim, 1, 1). Convolutions need it */
    /* Since 0.4.0: hierarchical VAEs (docs/hierarchical.md): p(z_L) p(z_{L-1}|z_L)
     * ... p(z_1|z_2) p(x|z_1). z_1 (latent_dim values) is next to x: encode,
     * decode and reconstruct work on z_1; sample draws every layer top-down. */
    int latent_layers;             /**< L, stochastic layers, 1..VAE_MAX_LATENT_LAYERS; 1 (default): the plain VAE. Since 0.4.0 */
    int latent_sizes[VAE_MAX_LATENT_LAYERS]; /**< K_1 .. K_L for l < latent_layers, K_1 next to x; latent_sizes[0] is 0 (default: taken as latent_dim) or latent_dim. Since 0.4.0 */
    int inference;                 /**< enum vae_inference (default bottom-up). Since 0.4.0 */
    const char *hier_network;      /**< the layers of every network between stochastic layers (each q(z_l|z_{l-1}) or ladder step d_l = f(d_{l-1}), and each prior p(z_l|z_{l+1})) before its mean and log-variance heads; NULL (default): dense(h) and the activation, h the last hidden size (hidden[n_hidden - 1]), or none when n_hidden is 0. Copied by vae_model_create. Since 0.4.0 */
    /* Since 0.4.0: autoencoders and denoising (docs/autoencoders.md). */
    int family;                    /**< enum vae_family (default VAE_FAMILY_VAE). An AE has no log-variance head, no posterior and no prior: the calls that need one return VAE_ERR_UNSUPPORTED */
    float code_l2;                 /**< AE: weight lambda >= 0 of the code penalty lambda sum_j z_j^2 in the loss (default 0); must be 0 for a VAE */
    int corruption;                /**< enum vae_corruption of the encoder's input in training (default VAE_CORRUPT_NONE): the encoder sees corrupt(x), the likelihood scores the clean x (a training setting, see vae_model_set_training) */
    float corruption_level;        /**< its parameter: sigma for Gaussian, p for mask and salt-and-pepper (default 0) */
} vae_model_config;

/**
 * Fill *cfg with the defaults and set cfg->struct_size: a 784-400-20
 * Bernoulli VAE with ReLU, a Gaussian posterior, analytic KL, one sample,
 * the pathwise estimator, the ELBO objective, beta 1, seed 1, 1 thread.
 * In C and C++ the name is a macro over vae_model_config_init_size with
 * sizeof *(cfg); the exported function of this name (for programs built
 * against 0.3.0 headers) writes exactly the 0.3.0 size, 184 bytes on LP64.
 * @param cfg  the config to fill (caller-owned); NULL is ignored.
 * @thread_caller
 * @since 0.1.0
 */
VAE_API void vae_model_config_init(vae_model_config *cfg);

/**
 * Fill the first min(size, sizeof(vae_model_config)) bytes of *cfg with the
 * defaults of vae_model_config_init and set cfg->struct_size to that count:
 * never a byte beyond `size`. The vae_model_config_init macro passes
 * sizeof *(cfg); bindings that cannot use the macro call this.
 * @param cfg   the config to fill (caller-owned); NULL is ignored.
 * @param size  sizeof the caller's struct; below sizeof(size_t) nothing is
 *              written.
 * @thread_caller
 * @since 0.4.0
 */
VAE_API void vae_model_config_init_size(vae_model_config *cfg, size_t size);

/** vae_model_config_init(cfg): the sized initialiser with the caller's sizeof. */
#define vae_model_config_init(cfg) vae_model_config_init_size((cfg), sizeof *(cfg))

/**
 * Create a model with freshly initialised parameters: weights and biases
 * uniform in +-1/sqrt(fan_in) (PyTorch's nn.Linear default), drawn from the
 * model's random generator seeded by cfg->seed.
 * @param cfg  the configuration, filled by vae_model_config_init first;
 *             copied (an older, smaller struct_size is accepted).
 * @param out  receives the model, owned by the caller (free it with
 *             vae_model_free); NULL on failure.
 * @param err  may be NULL; receives the status and message.
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID (a size <= 0, an unknown
 *         enum, sigma <= 0, samples outside 1..4096, ...), VAE_ERR_LIMIT
 *         (more than 2^31 parameters), VAE_ERR_NOMEM.
 * @thread_safe
 * @since 0.1.0
 */
VAE_API int vae_model_create(const vae_model_config *cfg, vae_model **out, vae_error *err);

/**
 * Free a model and everything it owns.
 * @param model  the model, or NULL (a no-op).
 * @thread_handle
 * @since 0.1.0
 */
VAE_API void vae_model_free(vae_model *model);

/**
 * The message of the last failed call on model: what was wrong and where
 * ("train_step: x[1][1] = nan is not finite").
 * @param model  the model (may be NULL).
 * @return a string owned by the model ("" if none, or for NULL), valid
 *         until the next failing call on model or its free.
 * @thread_handle
 * @since 0.1.0
 */
VAE_API const char *vae_model_errmsg(const vae_model *model);

/**
 * Copy the model's configuration into *cfg.
 * @param model  the model.
 * @param cfg    receives the configuration; cfg->struct_size must be set
 *               (min(struct_size, sizeof) bytes are written and struct_size
 *               is set to that count).
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID (struct_size 0 or absurd).
 * @thread_handle
 * @since 0.1.0
 */
VAE_API int vae_model_get_config(const vae_model *model, vae_model_config *cfg);

/**
 * Change the training settings of a model: samples, kl_mode, estimator,
 * baseline, ema_decay, score_reward, objective, beta, threads and (since
 * 0.3.0) kl_schedule, kl_warmup_steps, kl_cycle_steps, kl_cycle_ratio,
 * kl_cycles, capacity_gamma, capacity_max, capacity_steps, free_bits,
 * aggressive and aggressive_max_inner are taken from cfg; every architecture field (sizes, activation, likelihood,
 * posterior, logvar range, seed) must equal the model's, else
 * VAE_ERR_INVALID and nothing changes. Parameters and the random state are
 * kept; the EMA baseline restarts.
 * @param model  the model.
 * @param cfg    a full configuration, typically from vae_model_get_config
 *               with the training fields changed (copied).
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID (an architecture field
 *         differs, or a training value is out of range), VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.2.0
 */
VAE_API int vae_model_set_training(vae_model *model, const vae_model_config *cfg);

/**
 * Set the number of threads the model's calls use.
 *
 * A model with threads = T > 1 owns T - 1 worker threads (started here or
 * by vae_model_create, joined by vae_model_free; idle workers sleep after
 * a few hundred microseconds). Its calls cut every large matrix product,
 * the element-wise work and the optimizer update into T parts with a
 * fixed partition and run them on the caller and the workers. The results
 * are the same bits at any T (the test suite checks it, also with
 * OpenBLAS's Haswell (AVX2) kernels, whose rounding depends on where a
 * product is cut: with those, products are cut the same way at every T).
 * Never do they depend on scheduling.
 * OpenBLAS's own threads are not used: at libvae's first matrix product
 * it sets OpenBLAS's thread count to 1 (process-wide) and stops OpenBLAS's
 * idle server threads, which would otherwise spin for about 0.1 s after
 * loading; OpenBLAS starts them again if the application later asks it
 * for more threads. Do not run that first product while another thread of
 * the application is inside a multi-threaded OpenBLAS call.
 * Where the CPU has AVX-512F but OpenBLAS runs kernels without it (e.g.
 * OpenBLAS 0.3.21 on AMD Zen 5), libvae multiplies with its own AVX-512
 * product instead (same bits at any T too; other last bits than
 * OpenBLAS's). The environment variable VAE_GEMM, read once per process,
 * overrides that: "blas" always uses the BLAS, "libvae" libvae's product
 * wherever the CPU has AVX-512F.
 * @param model    the model.
 * @param threads  1..256; more than the machine's cores only adds waiting.
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID, VAE_ERR_NOMEM (the threads
 *         could not be started; the model keeps its previous count).
 * @thread_handle
 * @since 0.1.0
 */
VAE_API int vae_model_set_threads(vae_model *model, int threads);

/**
 * Total number of trainable parameters (floats in the flat parameter vector).
 * @param model  the model (may be NULL).
 * @return the count; 0 for NULL.
 * @thread_handle
 * @since 0.1.0
 */
VAE_API size_t vae_model_param_count(const vae_model *model);

/**
 * Per-example averages of the objective's terms, in nats.
 * Frozen: this struct has no struct_size and is written whole by many calls,
 * so it never grows. Newer training figures go into a separate output
 * struct that starts with struct_size (like vae_training_state).
 * For an autoencoder (VAE_FAMILY_AE): rec = mean log p(x|x_hat) of the
 * reconstruction x_hat = decoder(code), kl = the code penalty
 * code_l2 mean_i sum_j z_ij^2 (0 without one), elbo = rec - kl and loss =
 * -elbo, the AE's loss.
 */
typedef struct vae_elbo_stats {
    double elbo;    /**< mean over examples of E_q[log p(x|z)] - KL */
    double rec;     /**< mean E_q[log p(x|z)] (Monte Carlo, L samples) */
    double kl;      /**< mean KL(q(z|x) || p(z)) */
    double loss;    /**< the mean objective minimised (-elbo for the plain ELBO) */
    size_t n;       /**< examples covered */
} vae_elbo_stats;

/**
 * Called after each training batch. Return 0 to go on, nonzero to stop the
 * epoch (the call then returns VAE_ERR_CANCELLED; parameters keep the
 * updates done so far). Called in the thread that called
 * vae_model_train_epoch; it must not call functions on the same model.
 * @param user         the pointer given to vae_model_train_epoch
 * @param batch        0-based index of the batch just done
 * @param n_batches    batches in the epoch
 * @param running_elbo mean ELBO (nats) over the examples of the epoch so far
 * @return 0 to continue, nonzero to stop.
 */
typedef int (*vae_progress_fn)(void *user, size_t batch, size_t n_batches, double running_elbo);

/**
 * One training step on n examples: forward, backward, and an optimizer
 * update of the loss -mean(rec) + beta * mean(KL) (or the IWAE bound, as
 * configured). Values must be finite; the Bernoulli likelihood needs them in
 * [0,1]. The model's training random stream advances.
 * @param model  the model.
 * @param opt    the optimizer; bound to the model's parameter count on its
 *               first step.
 * @param x      n x input_dim floats, row-major (read only, not kept).
 * @param n      number of examples, 1..2^28.
 * @param stats  may be NULL; receives the batch's averages in nats (before
 *               the update).
 * @return VAE_OK; VAE_ERR_DIVERGED when the loss or a gradient is not
 *         finite, or the update would make a value non-finite or is longer
 *         than the parameters (see vae_optimizer_config): the update is not
 *         applied, parameters, optimizer state and step counts stay exactly
 *         as before the step, and a lower learning rate continues from
 *         there; VAE_ERR_NULL, VAE_ERR_INVALID (n = 0,
 *         data outside [0,1] for Bernoulli), VAE_ERR_NONFINITE,
 *         VAE_ERR_SHAPE (optimizer bound to another model size),
 *         VAE_ERR_LIMIT, VAE_ERR_NOMEM.
 * @par Threads
 * One thread at a time per model and per optimizer.
 * @since 0.1.0
 */
VAE_API int vae_model_train_step(vae_model *model, vae_optimizer *opt, const float *x, size_t n,
                                 vae_elbo_stats *stats);

/**
 * One epoch over `data`: shuffle the example order with the model's random
 * generator, then call vae_model_train_step on consecutive batches of
 * batch_size (the last one may be smaller), binarising as the dataset says.
 * @param model       the model.
 * @param opt         the optimizer.
 * @param data        the training set (not changed); its dim must equal
 *                    input_dim.
 * @param batch_size  examples per step, 1..2^28.
 * @param progress    may be NULL; called after each batch (see vae_progress_fn).
 * @param user        passed to progress unchanged.
 * @param stats       may be NULL; receives averages over the whole epoch, in nats.
 * @return VAE_OK; VAE_ERR_CANCELLED (progress returned nonzero; the updates
 *         done so far are kept); VAE_ERR_DIVERGED (the message names the
 *         step; that step's update is not applied); VAE_ERR_NULL,
 *         VAE_ERR_SHAPE (dim differs), VAE_ERR_INVALID (batch_size 0, data
 *         outside [0,1] for Bernoulli), VAE_ERR_LIMIT, VAE_ERR_NOMEM.
 * @par Threads
 * One thread at a time per model and per optimizer; the dataset is only
 * read, so several threads may train different models on one dataset.
 * @since 0.1.0
 */
VAE_API int vae_model_train_epoch(vae_model *model, vae_optimizer *opt, const vae_dataset *data,
                                  size_t batch_size, vae_progress_fn progress, void *user,
                                  vae_elbo_stats *stats);

/**
 * The ELBO of every example of `data` with the analytic KL and one z sample
 * per example, in batches of batch_size. Evaluation draws from its own
 * random stream, reset from the seed at every call, so it does not disturb
 * training and the same parameters always give the same figure.
 * @param model       the model (its parameters are not changed).
 * @param data        the examples (not changed); dim must equal input_dim.
 * @param batch_size  examples per forward pass, 1..2^28 (memory only; the
 *                    result does not depend on it).
 * @param stats       receives the averages in nats (elbo, rec, kl, loss, n);
 *                    required (NULL: VAE_ERR_NULL).
 * @return VAE_OK; VAE_ERR_NONFINITE when the ELBO of some example is not
 *         finite (parameters wrecked by a divergence: the message gives how
 *         many and the first example's index; *stats is not written);
 *         VAE_ERR_NULL, VAE_ERR_SHAPE, VAE_ERR_INVALID, VAE_ERR_LIMIT,
 *         VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.1.0
 */
VAE_API int vae_model_evaluate(vae_model *model, const vae_dataset *data, size_t batch_size,
                               vae_elbo_stats *stats);

/**
 * Like vae_model_evaluate for a caller's array: the ELBO of n examples with
 * the analytic KL and one z sample each, from the evaluation stream.
 * @param model        the model (parameters not changed).
 * @param x            n x input_dim floats, row-major.
 * @param n            number of examples, 1..2^28.
 * @param per_example  may be NULL; else n floats: each example's ELBO, nats.
 * @param stats        may be NULL; else the averages in nats.
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID, VAE_ERR_NONFINITE (NaN
 *         or infinity in x, or an example whose ELBO is not finite: the
 *         message gives how many and the first one's index, *stats is not
 *         written), VAE_ERR_LIMIT, VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.1.0
 */
VAE_API int vae_model_elbo(vae_model *model, const float *x, size_t n, float *per_example,
                           vae_elbo_stats *stats);

/**
 * Encoder outputs for n examples: the mean mu(x) and the log-variance
 * log sigma^2(x) of q(z|x) (clamped to [logvar_min, logvar_max]).
 * A hierarchical model (latent_layers >= 2) gives q(z_1|x)'s, z_1 being the
 * layer next to x; for the ladder, q(z_1|.) at z_2 .. z_L set to their
 * posterior means (docs/hierarchical.md).
 * For an autoencoder (VAE_FAMILY_AE) mu is the code and logvar is filled with zeros.
 * @param model   the model.
 * @param x       n x input_dim floats, row-major.
 * @param n       number of examples, 1..2^28.
 * @param mu      may be NULL; else n x latent_dim floats (caller-owned).
 * @param logvar  may be NULL; else n x latent_dim floats (caller-owned).
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID, VAE_ERR_NONFINITE,
 *         VAE_ERR_LIMIT, VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.1.0
 */
VAE_API int vae_model_encode(vae_model *model, const float *x, size_t n, float *mu,
                             float *logvar);

/**
 * Decoder output for n latent vectors: Bernoulli probabilities (the
 * sigmoid of the logits) or Gaussian means.
 * @param model  the model.
 * @param z      n x latent_dim floats, row-major, finite.
 * @param n      number of vectors, 1..2^28.
 * @param out    n x input_dim floats (caller-owned).
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID, VAE_ERR_NONFINITE,
 *         VAE_ERR_LIMIT, VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.1.0
 */
VAE_API int vae_model_decode(vae_model *model, const float *z, size_t n, float *out);

/**
 * The reconstruction decode(mu(x)) of n examples (no sampling).
 * @param model  the model.
 * @param x      n x input_dim floats, row-major.
 * @param n      number of examples, 1..2^28.
 * @param out    n x input_dim floats (caller-owned); may not alias x.
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID, VAE_ERR_NONFINITE,
 *         VAE_ERR_LIMIT, VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.1.0
 */
VAE_API int vae_model_reconstruct(vae_model *model, const float *x, size_t n, float *out);

/**
 * Denoise n examples: the decoder's output (Bernoulli probabilities or
 * Gaussian means) for the encoder's mean of the given, possibly corrupted,
 * inputs; for an autoencoder its reconstruction. The same computation as
 * vae_model_reconstruct, named for models trained with a corruption
 * (vae_model_config.corruption): no corruption is applied here.
 * @param model    an unconditional model.
 * @param x_noisy  n x input_dim finite floats, row-major (caller-owned).
 * @param n        number of examples, 1..2^28.
 * @param out      receives n x input_dim floats (caller-owned); may not alias x_noisy.
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID, VAE_ERR_NONFINITE,
 *         VAE_ERR_LIMIT, VAE_ERR_UNSUPPORTED (a conditional model),
 *         VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.4.0
 */
VAE_API int vae_model_denoise(vae_model *model, const float *x_noisy, size_t n, float *out);

/**
 * n samples from the model: z ~ N(0, I) drawn with the model's training
 * generator (which advances), then the decoder output (probabilities or
 * means). A hierarchical model draws z_L ~ N(0, I), then each z_l ~
 * p(z_l|z_{l+1}) down to z_1, and decodes z_1.
 * @param model  the model.
 * @param n      number of samples, 1..2^28.
 * @param out    n x input_dim floats (caller-owned).
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID, VAE_ERR_LIMIT,
 *         VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.1.0
 */
VAE_API int vae_model_sample(vae_model *model, size_t n, float *out);

/**
 * log p(x) estimated by importance sampling with q(z|x) as proposal:
 *   log p(x) ~ log (1/k) sum_i p(x, z_i) / q(z_i|x),  z_i ~ q(z|x),
 * computed with log-sum-exp, per example, in nats. This is also the IWAE_k
 * bound (k = 1: the single-sample ELBO with Monte Carlo KL). Samples are
 * processed in chunks so memory stays bounded for any k; noise comes from the
 * evaluation stream (reset per call), so the result is a function of the
 * parameters, x and k.
 * @param model        the model (parameters not changed).
 * @param x            n x input_dim floats, row-major.
 * @param n            number of examples, 1..2^28.
 * @param k            importance samples per example, 1..2^20
 * @param per_example  may be NULL; else n floats (nats)
 * @param mean         may be NULL; else the mean over the n examples (nats)
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID (k out of range, n = 0),
 *         VAE_ERR_NONFINITE, VAE_ERR_LIMIT, VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.2.0
 */
VAE_API int vae_model_log_likelihood(vae_model *model, const float *x, size_t n, int k,
                                     float *per_example, double *mean);

/**
 * Statistics of S gradient estimates of a set of parameters.
 * Frozen (no struct_size; written as arrays): it never grows. Newer figures
 * go into a separate struct that starts with struct_size.
 */
typedef struct vae_grad_stats {
    double mean_norm;       /**< ||g_bar||, the L2 norm of the mean of the S estimates */
    double total_variance;  /**< sum over coordinates of the sample variance (S - 1 denominator) */
    double snr;             /**< signal-to-noise ratio mean_norm / sqrt(total_variance) */
} vae_grad_stats;

/**
 * Draw S independent estimates of the gradient of the loss with respect to
 * every parameter, on the n examples x, with the training settings of
 * `training` (NULL: the model's own; its architecture fields are ignored),
 * and report their statistics. Parameters are not changed; the model's
 * training random stream advances.
 * @param model       the model.
 * @param x           n x input_dim floats, row-major.
 * @param n           number of examples, 1..2^28.
 * @param training    NULL, or a configuration whose training fields
 *                    (estimator, baseline, samples, ...) are used.
 * @param draws       S, the number of gradient estimates, 2..10^7.
 * @param per_tensor  may be NULL; else vae_model_param_tensor_count() entries
 * @param encoder     may be NULL; else the statistics over all encoder tensors ("enc.*")
 * @param overall     may be NULL; else over all parameters
 * @param mean_grad   may be NULL; else vae_model_param_count() floats: g_bar
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID (draws out of range, bad
 *         training settings), VAE_ERR_NONFINITE, VAE_ERR_LIMIT,
 *         VAE_ERR_UNSUPPORTED (a conditional model: use
 *         vae_model_gradient_stats_cond), VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.2.0
 */
VAE_API int vae_model_gradient_stats(vae_model *model, const float *x, size_t n,
                                     const vae_model_config *training, int draws,
                                     vae_grad_stats *per_tensor, vae_grad_stats *encoder,
                                     vae_grad_stats *overall, float *mean_grad);

/**
 * Number of parameter tensors (weights and biases of each layer).
 * @param model  the model (may be NULL).
 * @return the count; 0 for NULL.
 * @thread_handle
 * @since 0.2.0
 */
VAE_API size_t vae_model_param_tensor_count(const vae_model *model);

/**
 * Name ("enc.0.W", "dec.out.b", ...), shape and offset in the flat
 * parameter vector of tensor i. Weights are [in, out] (y = x W + b).
 * @param model   the model.
 * @param i       tensor index, 0..vae_model_param_tensor_count()-1.
 * @param name    may be NULL; else receives the name, borrowed from the
 *                model (valid until vae_model_free).
 * @param rows    may be NULL; else the number of rows.
 * @param cols    may be NULL; else the number of columns.
 * @param offset  may be NULL; else the offset of element [0][0] in the flat
 *                vector (row-major within the tensor).
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID (i out of range).
 * @thread_handle
 * @since 0.2.0
 */
VAE_API int vae_model_param_tensor_info(const vae_model *model, size_t i, const char **name,
                                        size_t *rows, size_t *cols, size_t *offset);

/**
 * Copy the flat parameter vector into out.
 * @param model  the model.
 * @param out    count floats (caller-owned).
 * @param count  must equal vae_model_param_count(model).
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_SHAPE (count differs).
 * @thread_handle
 * @since 0.2.0
 */
VAE_API int vae_model_get_params(const vae_model *model, float *out, size_t count);

/**
 * Replace the flat parameter vector (the optimizer state is not touched).
 * On failure the parameters are unchanged.
 * @param model  the model.
 * @param in     count finite floats (copied).
 * @param count  must equal vae_model_param_count(model).
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_SHAPE (count differs),
 *         VAE_ERR_NONFINITE.
 * @thread_handle
 * @since 0.2.0
 */
VAE_API int vae_model_set_params(vae_model *model, const float *in, size_t count);

/**
 * Write a checkpoint of the model (configuration, parameters, random state)
 * and, if opt is not NULL, the optimizer's state (docs/format.md). The file
 * is written to a temporary name beside `path`, flushed and renamed, so
 * `path` holds either the old or the new checkpoint, never a partial one.
 * @param model  the model (not changed).
 * @param opt    NULL, or the optimizer whose state is saved with it.
 * @param path   the file to write (replaced if it exists).
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID (path is empty),
 *         VAE_ERR_SHAPE (opt is bound to a model of another parameter
 *         count, as vae_model_train_step refuses it), VAE_ERR_NONFINITE
 *         (refuses to write non-finite parameters), VAE_ERR_IO (cannot
 *         write or rename), VAE_ERR_NOMEM. On failure the file at path is
 *         left as it was.
 * @par Threads
 * One thread at a time per model and per optimizer.
 * @since 0.1.0
 */
VAE_API int vae_model_save(vae_model *model, const vae_optimizer *opt, const char *path);

/**
 * Load a checkpoint: a new model in *out and, when opt_out is not NULL and
 * the file holds optimizer state, a new optimizer in *opt_out (NULL if the
 * file has none). Training continues exactly as if never interrupted.
 * @param path     the checkpoint file written by vae_model_save.
 * @param out      receives the model, owned by the caller; NULL on failure.
 * @param opt_out  NULL, or receives the optimizer (owned by the caller) or
 *                 NULL when the file holds none.
 * @param err      may be NULL; receives the status and a message.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_IO (cannot open or read, or not a
 *         regular file: a FIFO, device or directory is refused without
 *         blocking), VAE_ERR_FORMAT (bad magic,
 *         version, CRC, truncated, missing or misshaped tensor),
 *         VAE_ERR_LIMIT, VAE_ERR_NOMEM.
 * @thread_safe
 * @since 0.1.0
 */
VAE_API int vae_model_load(const char *path, vae_model **out, vae_optimizer **opt_out,
                           vae_error *err);

/* ------------------------------------------------------------------------ */
/* beta-VAE schedules, aggressive training, collapse diagnostics (0.3.0)     */
/* ------------------------------------------------------------------------ */

/**
 * Where a model's training schedules stand. An output struct: set
 * struct_size = sizeof(vae_training_state) before the call (a smaller, older
 * struct receives the fields it has; struct_size is set to the bytes written).
 */
typedef struct vae_training_state {
    size_t struct_size;     /**< set by the caller: sizeof(vae_training_state) */
    uint64_t step;          /**< schedule steps t taken so far (training steps that updated the decoder) */
    double beta;            /**< the KL weight beta_t the next step uses (the configured beta under a constant schedule) */
    double beta_norm;       /**< beta_t * K / n (latent size K, input size n), Higgins et al.'s normalised beta */
    double capacity;        /**< the capacity target C_t (nats) the next step uses; 0 when the capacity objective is off */
    int aggressive_active;  /**< 1 while aggressive training is on (cfg.aggressive and not yet switched off) */
    double aggressive_mi;   /**< the last held-out MI given to vae_model_aggressive_update (nats); NaN before the first */
    uint64_t encoder_steps; /**< encoder-only updates made by aggressive training so far */
} vae_training_state;

/**
 * Read the model's schedule state: the step counter (saved in checkpoints),
 * the effective KL weight and capacity target of the next step, and the
 * aggressive-training status. Does not change the handle.
 * @param model  the model.
 * @param state  receives the state; set state->struct_size first.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID (struct_size 0 or above
 *         65536).
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_model_training_state(const vae_model *model, vae_training_state *state);

/**
 * The per-epoch check of aggressive training (He et al. 2019): estimate the
 * mutual information I(x; z) on n held-out examples x (as
 * vae_model_diagnostics does) and, when aggressive training is active and
 * the estimate is lower than at the previous call, switch aggressive
 * training off for good (the model then trains normally; cfg.aggressive
 * stays as configured). Call it after each epoch of vae_model_train_epoch.
 * Without these calls aggressive training never stops. Cost O(n^2 K).
 * @param model   the model (unconditional).
 * @param x       n x input_dim held-out examples, row-major; finite.
 * @param n       number of examples, 2..2^20.
 * @param mi      may be NULL; receives the estimate in nats.
 * @param active  may be NULL; receives 1 if aggressive training stays on.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID (n < 2), VAE_ERR_NONFINITE
 *         (x not finite), VAE_ERR_LIMIT (n > 2^20), VAE_ERR_UNSUPPORTED (a
 *         conditional model: use vae_model_aggressive_update_cond), VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_model_aggressive_update(vae_model *model, const float *x, size_t n, double *mi,
                                        int *active);

/** A dimension counts as active when Cov_x(E_q[z_d]) exceeds this (Burda et al. 2016). */
#define VAE_ACTIVE_UNIT_THRESHOLD 0.01

/** Posterior-collapse diagnostics over a set of examples. Output struct: set struct_size (set on return to the bytes written). */
typedef struct vae_diagnostics {
    size_t struct_size;     /**< set by the caller: sizeof(vae_diagnostics) */
    int active_units;       /**< dimensions d with Var_x(E_q[z_d|x]) > VAE_ACTIVE_UNIT_THRESHOLD */
    double mi;              /**< I(x; z) estimate of He et al. 2019, nats */
    double kl;              /**< mean KL(q(z|x) || N(0, I)) over the examples, nats (sum of kl_per_dim) */
    size_t n;               /**< examples used */
} vae_diagnostics;

/**
 * Collapse diagnostics of the model on n examples x (n x input_dim):
 *  - kl_per_dim[d] = (1/n) sum_i KL(q(z_d|x_i) || N(0,1)), exact for every
 *    posterior family (KL = -H(q_d) + log(2 pi)/2 + (mu^2 + Var q_d)/2);
 *  - mu_variance[d] = Var_x(E_q[z_d|x]) = sample variance (n - 1
 *    denominator) of mu_d over the examples; active units are those above
 *    VAE_ACTIVE_UNIT_THRESHOLD (0.01);
 *  - mi = (1/n) sum_i [ -H(q(z|x_i)) - log (1/n) sum_j q(z_i|x_j) ],
 *    z_i ~ q(z|x_i): He et al.'s estimate of I(x; z) under the aggregate
 *    posterior of the n examples (log-sum-exp; one z per example from the
 *    evaluation stream, reset per call, so the figure is a function of the
 *    parameters and x). It is at most log n (plus Monte Carlo noise).
 * Cost O(n^2 K) for the MI; a few thousand examples are typical.
 * @param model        the model (unconditional).
 * @param x            n x input_dim examples, row-major; finite.
 * @param n            number of examples, 2..2^20.
 * @param out          receives the summary; set out->struct_size first.
 * @param kl_per_dim   may be NULL; else latent_dim floats (caller-owned).
 * @param mu_variance  may be NULL; else latent_dim floats (caller-owned).
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID (n < 2, out->struct_size 0
 *         or above 65536), VAE_ERR_NONFINITE (x not finite), VAE_ERR_LIMIT
 *         (n > 2^20), VAE_ERR_UNSUPPORTED (a conditional model: use
 *         vae_model_diagnostics_cond), VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_model_diagnostics(vae_model *model, const float *x, size_t n,
                                  vae_diagnostics *out, float *kl_per_dim, float *mu_variance);

/**
 * Statistics of one stochastic layer l of a model (l = 1 next to x), from
 * vae_model_layer_stats. Output struct: set struct_size (set on return to the
 * bytes written). Figures are averages over the examples given.
 * @since 0.4.0
 */
typedef struct vae_layer_stats {
    size_t struct_size;     /**< set by the caller: sizeof(vae_layer_stats) */
    int layer;              /**< l, 1..latent_layers (1: z_1, next to x) */
    int dims;               /**< K_l, dimensions of z_l */
    double kl;              /**< E_x E_q[KL(q(z_l|.) || p(z_l|z_{l+1}))], nats per example, given the sampled parent (p(z_L) = N(0, I)); the layers' kl sum to the ELBO's KL */
    double kl_dim_mean;     /**< kl / dims, nats per dimension */
    double kl_dim_max;      /**< the largest dimension's share of kl, nats */
    double kl_dim_min;      /**< the smallest dimension's share of kl, nats */
    int active_units;       /**< dimensions j with Cov_x(E_q[z_lj|x]) > VAE_ACTIVE_UNIT_THRESHOLD (Burda et al. 2016) */
    int samples;            /**< samples of z per example behind the expectations */
    size_t n;               /**< examples used */
} vae_layer_stats;

/**
 * Per-layer statistics of the model on n examples x: the KL of each
 * stochastic layer given its sampled parent and its active units. E_q[z_l|x]
 * is the average over samples of the layers below/above of q(z_l|.)'s mean
 * (exact for z_1 of the bottom-up model). The samples come from the
 * evaluation stream, reset per call, so the figures are a function of the
 * parameters and x. A plain VAE (latent_layers 1) has one layer, its KL
 * against N(0, I). Cost: that of the ELBO with 32 samples per example.
 * @param model      the model (unconditional, Gaussian posterior).
 * @param x          n x input_dim examples, row-major; finite.
 * @param n          number of examples, 2..2^20.
 * @param per_layer  n_layers structs (caller-owned); set per_layer[0].struct_size:
 *                   element i is at byte offset i * per_layer[0].struct_size.
 * @param n_layers   structs in per_layer, 1..VAE_MAX_LATENT_LAYERS; layers
 *                   1..min(n_layers, latent_layers) are written.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID (n < 2, n_layers out of
 *         range, per_layer[0].struct_size 0 or above 65536), VAE_ERR_NONFINITE
 *         (x not finite), VAE_ERR_LIMIT (n > 2^20), VAE_ERR_UNSUPPORTED (a
 *         conditional model, a non-Gaussian posterior or an autoencoder),
 *         VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.4.0
 */
VAE_API int vae_model_layer_stats(vae_model *model, const float *x, size_t n,
                                  vae_layer_stats *per_layer, int n_layers);

/* ------------------------------------------------------------------------ */
/* Conditional models (cond_dim > 0; docs/cvae.md)                           */
/* ------------------------------------------------------------------------ */
/*
 * A model created with cond_dim = C > 0 takes a condition vector c per
 * example: the encoder models q(z|x,c) from [x, c], the decoder p(x|z,c)
 * from [z, c], and the prior is N(0, I) or learned, p(z|c) =
 * N(mu(c), diag e^logvar(c)). Its array calls are the _cond variants below,
 * which take c as n x C floats, row-major, beside the n rows of x or z;
 * condition values must be finite. The plain array calls (train_step, elbo,
 * encode, decode, reconstruct, sample, log_likelihood; since 0.4.0 also
 * compute_gradients[_keyed], elbo_keyed, gradient_stats, diagnostics and
 * aggressive_update, whose _cond variants follow vae_dataset_gather) on a
 * conditional model, and the _cond calls on an unconditional one, fail with
 * VAE_ERR_UNSUPPORTED and a message naming the call to use. train_epoch and
 * evaluate take the conditions from the dataset (vae_dataset_set_onehot,
 * vae_dataset_set_conditions); an unconditional model ignores a dataset's
 * conditions. Errors and thread rule as for the plain calls.
 */

/**
 * vae_model_train_step with conditions c (n x cond_dim).
 * @param model  a conditional model (cond_dim > 0).
 * @param opt    the optimizer.
 * @param x      n x input_dim examples, row-major.
 * @param c      n x cond_dim conditions, row-major; row i goes with x row i.
 * @param n      number of examples.
 * @param stats  may be NULL; receives the batch's averages.
 * @return VAE_OK; VAE_ERR_DIVERGED (the update is not applied, as in
 *         vae_model_train_step); VAE_ERR_SHAPE (optimizer bound to another
 *         model size); VAE_ERR_NULL, VAE_ERR_UNSUPPORTED (the model is
 *         unconditional: use the plain call), VAE_ERR_INVALID (n = 0, data outside [0,1] for Bernoulli),
 *         VAE_ERR_LIMIT (n > 2^28), VAE_ERR_NONFINITE (x or c not finite),
 *         VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_model_train_step_cond(vae_model *model, vae_optimizer *opt, const float *x,
                                      const float *c, size_t n, vae_elbo_stats *stats);

/**
 * vae_model_elbo given the conditions: per-example ELBO of log p(x|c), in
 * nats (KL to p(z|c)).
 * @param model        a conditional model (cond_dim > 0).
 * @param x            n x input_dim examples, row-major.
 * @param c            n x cond_dim conditions, row-major.
 * @param n            number of examples.
 * @param per_example  may be NULL; else n floats (caller-owned).
 * @param stats        may be NULL; receives the averages.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_UNSUPPORTED (the model is
 *         unconditional: use the plain call), VAE_ERR_INVALID (n = 0, data outside [0,1] for Bernoulli),
 *         VAE_ERR_LIMIT (n > 2^28), VAE_ERR_NONFINITE (x or c not finite),
 *         VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_model_elbo_cond(vae_model *model, const float *x, const float *c, size_t n,
                                float *per_example, vae_elbo_stats *stats);

/**
 * vae_model_encode of q(z|x,c): mu and log sigma^2, n x latent_dim each.
 * @param model   a conditional model (cond_dim > 0).
 * @param x       n x input_dim examples, row-major.
 * @param c       n x cond_dim conditions, row-major.
 * @param n       number of examples.
 * @param mu      n x latent_dim floats (caller-owned), as in vae_model_encode.
 * @param logvar  n x latent_dim floats (caller-owned), as in vae_model_encode.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_UNSUPPORTED (the model is
 *         unconditional: use the plain call), VAE_ERR_INVALID (n = 0),
 *         VAE_ERR_LIMIT (n > 2^28), VAE_ERR_NONFINITE (x or c not finite),
 *         VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_model_encode_cond(vae_model *model, const float *x, const float *c, size_t n,
                                  float *mu, float *logvar);

/**
 * Decoder output of p(x|z,c) for n latent vectors z and conditions c:
 * probabilities or means, n x input_dim, into out.
 * @param model  a conditional model (cond_dim > 0).
 * @param z      n x latent_dim latent vectors, row-major.
 * @param c      n x cond_dim conditions, row-major.
 * @param n      number of rows.
 * @param out    n x input_dim floats (caller-owned).
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_UNSUPPORTED (the model is
 *         unconditional: use the plain call), VAE_ERR_INVALID (n = 0),
 *         VAE_ERR_LIMIT (n > 2^28), VAE_ERR_NONFINITE (z or c not finite),
 *         VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_model_decode_cond(vae_model *model, const float *z, const float *c, size_t n,
                                  float *out);

/**
 * decode(mu(x, c), c): the reconstruction of n examples given c.
 * @param model  a conditional model (cond_dim > 0).
 * @param x      n x input_dim examples, row-major.
 * @param c      n x cond_dim conditions, row-major.
 * @param n      number of examples.
 * @param out    n x input_dim floats (caller-owned).
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_UNSUPPORTED (the model is
 *         unconditional: use the plain call), VAE_ERR_INVALID (n = 0),
 *         VAE_ERR_LIMIT (n > 2^28), VAE_ERR_NONFINITE (x or c not finite),
 *         VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_model_reconstruct_cond(vae_model *model, const float *x, const float *c, size_t n,
                                       float *out);

/**
 * n samples of x given c: z ~ p(z|c) (N(0, I) for the standard prior) drawn
 * with the model's generator, then the decoder output (probabilities or
 * means), n x input_dim. Row i uses condition row i.
 * @param model  a conditional model (cond_dim > 0).
 * @param c      n x cond_dim conditions, row-major.
 * @param n      number of samples.
 * @param out    n x input_dim floats (caller-owned).
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_UNSUPPORTED (the model is
 *         unconditional: use vae_model_sample), VAE_ERR_INVALID (n = 0),
 *         VAE_ERR_LIMIT (n > 2^28), VAE_ERR_NONFINITE (c not finite),
 *         VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_model_sample_cond(vae_model *model, const float *c, size_t n, float *out);

/**
 * The prior p(z|c) for n conditions: its mean and log-variance, n x
 * latent_dim each (either may be NULL). For VAE_PRIOR_STANDARD both are 0.
 * @param model   a conditional model (cond_dim > 0).
 * @param c       n x cond_dim conditions, row-major.
 * @param n       number of conditions.
 * @param mu      may be NULL; else n x latent_dim floats (caller-owned).
 * @param logvar  may be NULL; else n x latent_dim floats (caller-owned).
 * @return VAE_OK, VAE_ERR_NULL (model or c), VAE_ERR_UNSUPPORTED (the model
 *         is unconditional: its prior is N(0, I)), VAE_ERR_INVALID (n = 0),
 *         VAE_ERR_LIMIT (n > 2^28), VAE_ERR_NONFINITE (c not finite),
 *         VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_model_prior_cond(vae_model *model, const float *c, size_t n, float *mu,
                                 float *logvar);

/**
 * vae_model_log_likelihood given c: importance-sampled log p(x|c) with
 * q(z|x,c) as proposal and p(z|c) as prior, in nats.
 * @param model        a conditional model (cond_dim > 0).
 * @param x            n x input_dim examples, row-major.
 * @param c            n x cond_dim conditions, row-major.
 * @param n            number of examples.
 * @param k            importance samples per example, 1..2^20.
 * @param per_example  may be NULL; else n floats (caller-owned), nats.
 * @param mean         may be NULL; receives the mean over the examples.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_UNSUPPORTED (the model is
 *         unconditional: use the plain call), VAE_ERR_INVALID (n = 0, k outside 1..2^20, data outside [0,1] for
 *         Bernoulli),
 *         VAE_ERR_LIMIT (n > 2^28), VAE_ERR_NONFINITE (x or c not finite),
 *         VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_model_log_likelihood_cond(vae_model *model, const float *x, const float *c,
                                          size_t n, int k, float *per_example, double *mean);

/* ------------------------------------------------------------------------ */
/* Pictures                                                                  */
/* ------------------------------------------------------------------------ */

/**
 * Write n grayscale images as one PNG grid: `cols` images per row, rows as
 * many as needed, cells separated by 2 pixels of mid-gray (also filling the
 * unused cells of the last row). Image k is height*width floats, row-major,
 * at pixels + k*height*width; 0 is black, 1 is white, values outside [0,1]
 * are clamped. Useful for decoder means (vae_model_sample,
 * vae_model_reconstruct) of image data. The file is 8-bit grayscale,
 * zlib-compressed, readable by any PNG decoder; it is replaced if it exists
 * and removed again if writing fails.
 * @param path    file to write.
 * @param pixels  n*height*width values in [0,1]; owned by the caller.
 * @param n       number of images (>= 1).
 * @param height  rows of pixels per image (>= 1).
 * @param width   columns of pixels per image (>= 1).
 * @param cols    images per grid row (>= 1; more than n is taken as n).
 * @param err     may be NULL; receives the status and message.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID (a size is 0),
 *         VAE_ERR_NONFINITE (a NaN or infinite pixel), VAE_ERR_LIMIT (the
 *         grid exceeds 8192 pixels a side), VAE_ERR_NOMEM, VAE_ERR_IO.
 * @thread_safe
 * @since 0.3.0
 */
VAE_API int vae_png_write_grid(const char *path, const float *pixels, size_t n, size_t height,
                               size_t width, size_t cols, vae_error *err);

/* ------------------------------------------------------------------------ */
/* Training in pieces: gradients, updates, streams (data parallelism)        */
/* ------------------------------------------------------------------------ */

/*
 * vae_model_train_step is vae_model_compute_gradients followed by
 * vae_model_apply_gradients, bit for bit. Between the two the caller may read
 * or replace the gradient in place through vae_model_gradient_data, e.g. to
 * average it over processes with one MPI_Allreduce (libvae_mpi does this).
 */

/**
 * Forward and backward pass of the training objective on n examples
 * (row-major n x input_dim) without changing the parameters: afterwards the
 * model's gradient buffer (vae_model_gradient_data) holds the gradient of the
 * batch-MEAN loss with respect to every parameter, so the average of the
 * gradients of equal-sized shards of a batch is the gradient of the whole
 * batch. The reparameterisation noise comes from the model's training random
 * stream, exactly as in vae_model_train_step, which the stream advances like.
 * Values must be finite; the Bernoulli likelihood needs them in [0,1].
 * @param model the model (unconditional).
 * @param x     n x input_dim examples, row-major.
 * @param n     number of examples, 1..2^28.
 * @param stats may be NULL; receives the batch's averages (also when the
 *              call returns VAE_ERR_DIVERGED).
 * @return VAE_OK; VAE_ERR_DIVERGED when the loss or a gradient is not finite
 *         (parameters unchanged; the gradient buffer then holds the
 *         non-finite gradient); VAE_ERR_NULL, VAE_ERR_INVALID (n = 0, data
 *         outside [0,1] for Bernoulli), VAE_ERR_NONFINITE, VAE_ERR_LIMIT
 *         (n > 2^28), VAE_ERR_UNSUPPORTED (a conditional model: use
 *         vae_model_compute_gradients_cond), VAE_ERR_NOMEM. On an argument
 *         error nothing changes.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_model_compute_gradients(vae_model *model, const float *x, size_t n,
                                        vae_elbo_stats *stats);

/**
 * Like vae_model_compute_gradients, but the noise of row i is drawn from a
 * generator determined by (the model's seed, key, first + i) alone instead
 * of from the training stream (which is not touched). Use the step number as
 * key and the row's index in the global batch as first + i: then every
 * example gets the same noise however a global batch is split into shards,
 * and N processes computing shards [first, first + n) reproduce one process
 * computing the whole batch (up to the rounding of the average).
 * @param model  the model (unconditional).
 * @param x      n x input_dim examples, row-major.
 * @param n      number of examples, 1..2^28.
 * @param key    any value, e.g. the global step number
 * @param first  index of row 0 (first + n must not overflow 64 bits)
 * @param stats  may be NULL; receives the batch's averages.
 * @return VAE_OK; as vae_model_compute_gradients: VAE_ERR_DIVERGED,
 *         VAE_ERR_NULL, VAE_ERR_INVALID (also when first + n overflows),
 *         VAE_ERR_NONFINITE, VAE_ERR_LIMIT, VAE_ERR_UNSUPPORTED,
 *         VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_model_compute_gradients_keyed(vae_model *model, const float *x, size_t n,
                                              uint64_t key, uint64_t first,
                                              vae_elbo_stats *stats);

/**
 * Like vae_model_elbo (analytic KL, one z sample per example), but the noise
 * of row i comes from a generator determined by (seed, key, first + i) alone,
 * as in vae_model_compute_gradients_keyed: a row's ELBO does not depend on
 * the rows it is evaluated with, so shards of a set evaluated apart (e.g. on
 * several processes) give exactly the per-example figures of the whole set.
 * No random stream of the model is touched.
 * @param model       the model (unconditional).
 * @param x           n x input_dim examples, row-major.
 * @param n           number of examples, 1..2^28.
 * @param key         any value, e.g. VAE_MPI_EVAL_KEY in libvae_mpi.
 * @param first       index of row 0 (first + n must not overflow 64 bits).
 * @param per_example may be NULL; else n floats.
 * @param stats       may be NULL.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID (n = 0, data outside [0,1]
 *         for Bernoulli, first + n overflows), VAE_ERR_NONFINITE (also
 *         for a non-finite ELBO, as vae_model_elbo),
 *         VAE_ERR_LIMIT (n > 2^28), VAE_ERR_UNSUPPORTED (a conditional
 *         model: use vae_model_elbo_keyed_cond), VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_model_elbo_keyed(vae_model *model, const float *x, size_t n, uint64_t key,
                                 uint64_t first, float *per_example, vae_elbo_stats *stats);

/**
 * The model's flat gradient buffer: vae_model_param_count() floats, in the
 * layout of vae_model_param_tensor_info, written by compute_gradients (and
 * by train_step, train_epoch and gradient_stats). The pointer is owned by
 * the model and stays valid, at the same address, until vae_model_free; the
 * caller may read it and overwrite it in place (e.g. MPI_Allreduce with
 * MPI_IN_PLACE) before vae_model_apply_gradients. Zero before the first
 * gradient.
 * @param model  the model (may be NULL).
 * @return the model's gradient buffer; NULL for a NULL model.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API float *vae_model_gradient_data(vae_model *model);

/**
 * Read-only view of the model's flat parameter vector (vae_model_param_count()
 * floats, layout of vae_model_param_tensor_info), owned by the model and
 * valid at the same address until vae_model_free; its contents change with
 * every update. Write parameters with vae_model_set_params (which checks
 * them).
 * @param model  the model (may be NULL).
 * @return the model's parameters (read-only); NULL for a NULL model.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API const float *vae_model_param_data(const vae_model *model);

/**
 * One optimizer step with the gradient now in the model's gradient buffer
 * (see vae_model_compute_gradients), with the same checks as
 * vae_model_train_step: when the gradient or the updated parameters would
 * not be finite, or the update is longer than the parameters (the bound of
 * vae_optimizer_config), nothing changes (parameters, optimizer state and
 * step count stay) and VAE_ERR_DIVERGED is returned.
 * @param model  the model whose gradient buffer holds the gradient.
 * @param opt    the optimizer.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_SHAPE (the optimizer is bound to a
 *         model of another size), VAE_ERR_DIVERGED, VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_model_apply_gradients(vae_model *model, vae_optimizer *opt);

/**
 * Restart the model's training random stream (noise of train_step and
 * compute_gradients, epoch shuffles, dynamic binarisation in train_epoch,
 * vae_model_sample) as stream `stream` of `seed`. Different streams of one
 * seed are independent, e.g. one per process: stream = rank. The streams are
 * distinct from the one a new model starts with. Parameters are unchanged.
 * @param model  the model.
 * @param seed   any value.
 * @param stream below 2^63, else VAE_ERR_INVALID
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID (stream >= 2^63).
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_model_reseed(vae_model *model, uint64_t seed, uint64_t stream);

/**
 * Copy dataset rows rows[0..n) into out (n x dim floats, row-major),
 * binarised as the dataset says. Dynamic binarisation draws row r's
 * uniforms from a generator determined by (seed, key, r) alone, so a row
 * gets the same bits whichever batch, shard or process gathers it (use the
 * epoch or step as key). These generators differ from the noise generators
 * of vae_model_compute_gradients_keyed for the same seed and key.
 * @param ds    the dataset (only read).
 * @param rows  n row indices, each below vae_dataset_count(ds).
 * @param n     number of rows, at most 2^28.
 * @param seed  seeds the binarisation generators (e.g. the model's seed).
 * @param key   e.g. the epoch or step.
 * @param out   n x vae_dataset_dim(ds) floats (caller-owned).
 * @param err   may be NULL.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID (a row out of range),
 *         VAE_ERR_LIMIT (n > 2^28).
 * @par Threads
 * Only reads the dataset: concurrent calls on one dataset are safe as long
 * as no thread changes it meanwhile.
 * @since 0.3.0
 */
VAE_API int vae_dataset_gather(const vae_dataset *ds, const size_t *rows, size_t n,
                               uint64_t seed, uint64_t key, float *out, vae_error *err);

/* ------------------------------------------------------------------------ */
/* Conditional models: gradients, keyed calls, statistics, diagnostics (0.4.0) */
/* ------------------------------------------------------------------------ */
/*
 * The _cond counterparts of the calls above and of gradient_stats,
 * diagnostics and aggressive_update, for a conditional model (cond_dim > 0,
 * docs/cvae.md): c is n x cond_dim floats, row-major, row i going with row i
 * of x, and must be finite. The plain calls on a conditional model, and
 * these on an unconditional one, fail with VAE_ERR_UNSUPPORTED and a
 * message naming the call to use. Keyed noise keeps its property: row i's
 * noise depends on (seed, key, first + i) alone, not on its batch or its
 * condition's neighbours.
 */

/**
 * vae_model_compute_gradients given the conditions: forward and backward
 * pass of the training objective (the ELBO of log p(x|c), KL to p(z|c)) on n
 * examples without changing the parameters; afterwards the gradient buffer
 * (vae_model_gradient_data) holds the gradient of the batch-MEAN loss with
 * respect to every parameter, the prior network's included. The noise comes
 * from the training stream as in vae_model_train_step_cond, so
 * compute_gradients_cond followed by vae_model_apply_gradients is
 * vae_model_train_step_cond bit for bit.
 * @param model  a conditional model (cond_dim > 0).
 * @param x      n x input_dim examples, row-major (caller-owned, only read).
 * @param c      n x cond_dim conditions, row-major (caller-owned, only read).
 * @param n      number of examples, 1..2^28.
 * @param stats  may be NULL; receives the batch's averages in nats (also
 *               when the call returns VAE_ERR_DIVERGED).
 * @return VAE_OK; VAE_ERR_DIVERGED when the loss or a gradient is not finite
 *         (parameters unchanged); VAE_ERR_NULL, VAE_ERR_UNSUPPORTED (the
 *         model is unconditional: use vae_model_compute_gradients),
 *         VAE_ERR_INVALID (n = 0, data outside [0,1] for Bernoulli),
 *         VAE_ERR_NONFINITE (x or c not finite), VAE_ERR_LIMIT (n > 2^28),
 *         VAE_ERR_NOMEM. On an argument error nothing changes.
 * @thread_handle
 * @since 0.4.0
 */
VAE_API int vae_model_compute_gradients_cond(vae_model *model, const float *x, const float *c,
                                             size_t n, vae_elbo_stats *stats);

/**
 * vae_model_compute_gradients_keyed given the conditions: the noise of row i
 * is drawn from a generator determined by (the model's seed, key, first + i)
 * alone (the training stream is not touched), so example i of step `key`
 * gets the same noise whichever batch, shard or process computes it.
 * @param model  a conditional model (cond_dim > 0).
 * @param x      n x input_dim examples, row-major (caller-owned, only read).
 * @param c      n x cond_dim conditions, row-major (caller-owned, only read).
 * @param n      number of examples, 1..2^28.
 * @param key    any value, e.g. the global step number.
 * @param first  index of row 0 (first + n must not overflow 64 bits).
 * @param stats  may be NULL; receives the batch's averages in nats.
 * @return VAE_OK; as vae_model_compute_gradients_cond: VAE_ERR_DIVERGED,
 *         VAE_ERR_NULL, VAE_ERR_UNSUPPORTED (the model is unconditional: use
 *         vae_model_compute_gradients_keyed), VAE_ERR_INVALID (also when
 *         first + n overflows), VAE_ERR_NONFINITE, VAE_ERR_LIMIT,
 *         VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.4.0
 */
VAE_API int vae_model_compute_gradients_keyed_cond(vae_model *model, const float *x,
                                                   const float *c, size_t n, uint64_t key,
                                                   uint64_t first, vae_elbo_stats *stats);

/**
 * vae_model_elbo_keyed given the conditions: the evaluation ELBO of log
 * p(x|c) (analytic KL to p(z|c) where it exists, one z sample per example),
 * in nats, with row i's noise from (seed, key, first + i) alone, so shards
 * of a set evaluated apart give exactly the per-example figures of the
 * whole set. No random stream of the model is touched.
 * @param model        a conditional model (cond_dim > 0).
 * @param x            n x input_dim examples, row-major (caller-owned).
 * @param c            n x cond_dim conditions, row-major (caller-owned).
 * @param n            number of examples, 1..2^28.
 * @param key          any value, e.g. VAE_MPI_EVAL_KEY in libvae_mpi.
 * @param first        index of row 0 (first + n must not overflow 64 bits).
 * @param per_example  may be NULL; else n floats (caller-owned), nats.
 * @param stats        may be NULL; receives the averages in nats.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_UNSUPPORTED (the model is
 *         unconditional: use vae_model_elbo_keyed), VAE_ERR_INVALID (n = 0,
 *         data outside [0,1] for Bernoulli, first + n overflows),
 *         VAE_ERR_NONFINITE (x or c not finite, or a non-finite ELBO),
 *         VAE_ERR_LIMIT (n > 2^28), VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.4.0
 */
VAE_API int vae_model_elbo_keyed_cond(vae_model *model, const float *x, const float *c, size_t n,
                                      uint64_t key, uint64_t first, float *per_example,
                                      vae_elbo_stats *stats);

/**
 * The conditions of dataset rows rows[0..n) into out (n x
 * vae_dataset_cond_dim(ds) floats, row-major): the counterpart of
 * vae_dataset_gather for the conditions (a plain copy; nothing is random).
 * @param ds    the dataset (only read); it must have conditions.
 * @param rows  n row indices, each below vae_dataset_count(ds).
 * @param n     number of rows, at most 2^28.
 * @param out   n x vae_dataset_cond_dim(ds) floats (caller-owned).
 * @param err   may be NULL; receives the status and message.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID (a row out of range, or the
 *         dataset has no conditions), VAE_ERR_LIMIT (n > 2^28).
 * @par Threads
 * Only reads the dataset: concurrent calls on one dataset are safe as long
 * as no thread changes it meanwhile.
 * @since 0.4.0
 */
VAE_API int vae_dataset_gather_cond(const vae_dataset *ds, const size_t *rows, size_t n,
                                    float *out, vae_error *err);

/**
 * vae_model_gradient_stats given the conditions: S independent estimates of
 * the gradient of the loss on the n examples x with conditions c, with the
 * training settings of `training` (NULL: the model's own), and their
 * statistics. Parameters are not changed; the training stream advances.
 * @param model       a conditional model (cond_dim > 0).
 * @param x           n x input_dim floats, row-major (caller-owned).
 * @param c           n x cond_dim conditions, row-major (caller-owned).
 * @param n           number of examples, 1..2^28.
 * @param training    NULL, or a configuration whose training fields are used.
 * @param draws       S, the number of gradient estimates, 2..10^7.
 * @param per_tensor  may be NULL; else vae_model_param_tensor_count() entries
 * @param encoder     may be NULL; else the statistics over all encoder tensors ("enc.*")
 * @param overall     may be NULL; else over all parameters (prior network included)
 * @param mean_grad   may be NULL; else vae_model_param_count() floats: g_bar
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_UNSUPPORTED (the model is
 *         unconditional: use vae_model_gradient_stats), VAE_ERR_INVALID
 *         (draws out of range, bad training settings), VAE_ERR_NONFINITE (x
 *         or c not finite), VAE_ERR_DIVERGED (a draw was not finite),
 *         VAE_ERR_LIMIT, VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.4.0
 */
VAE_API int vae_model_gradient_stats_cond(vae_model *model, const float *x, const float *c,
                                          size_t n, const vae_model_config *training, int draws,
                                          vae_grad_stats *per_tensor, vae_grad_stats *encoder,
                                          vae_grad_stats *overall, float *mean_grad);

/**
 * vae_model_diagnostics of a conditional model: q is q(z|x_i, c_i) and the
 * KL is to the model's prior p(z|c_i) = N(mu_p, diag e^lv_p) (N(0, I) for
 * VAE_PRIOR_STANDARD), exact per dimension for every posterior family:
 *  - kl_per_dim[d] = (1/n) sum_i [ -H(q_d) + log(2 pi)/2 + lv_p/2
 *    + ((mu_d - mu_p)^2 + Var q_d) e^-lv_p / 2 ], nats;
 *  - mu_variance[d] = Var_i(E_q[z_d|x_i, c_i]) (n - 1 denominator); active
 *    units are those above VAE_ACTIVE_UNIT_THRESHOLD;
 *  - mi: He et al.'s estimate of the mutual information between z and the
 *    pair (x, c), the aggregate posterior being the mixture of the n
 *    examples' q(z|x_j, c_j) (one z per example from the evaluation
 *    stream, reset per call), nats.
 * Cost O(n^2 K).
 * @param model        a conditional model (cond_dim > 0).
 * @param x            n x input_dim examples, row-major; finite (caller-owned).
 * @param c            n x cond_dim conditions, row-major; finite (caller-owned).
 * @param n            number of examples, 2..2^20.
 * @param out          receives the summary; set out->struct_size first.
 * @param kl_per_dim   may be NULL; else latent_dim floats (caller-owned).
 * @param mu_variance  may be NULL; else latent_dim floats (caller-owned).
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_UNSUPPORTED (the model is
 *         unconditional: use vae_model_diagnostics), VAE_ERR_INVALID (n < 2,
 *         out->struct_size 0 or above 65536), VAE_ERR_NONFINITE (x or c not
 *         finite), VAE_ERR_LIMIT (n > 2^20), VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.4.0
 */
VAE_API int vae_model_diagnostics_cond(vae_model *model, const float *x, const float *c,
                                       size_t n, vae_diagnostics *out, float *kl_per_dim,
                                       float *mu_variance);

/**
 * vae_model_aggressive_update given the conditions: estimate the mutual
 * information on n held-out examples x with conditions c (as
 * vae_model_diagnostics_cond does) and, when aggressive training is active
 * and the estimate is lower than at the previous call, switch it off.
 * Cost O(n^2 K).
 * @param model   a conditional model (cond_dim > 0).
 * @param x       n x input_dim held-out examples, row-major; finite.
 * @param c       n x cond_dim conditions, row-major; finite.
 * @param n       number of examples, 2..2^20.
 * @param mi      may be NULL; receives the estimate in nats.
 * @param active  may be NULL; receives 1 if aggressive training stays on.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_UNSUPPORTED (the model is
 *         unconditional: use vae_model_aggressive_update), VAE_ERR_INVALID
 *         (n < 2), VAE_ERR_NONFINITE (x or c not finite), VAE_ERR_LIMIT
 *         (n > 2^20), VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.4.0
 */
VAE_API int vae_model_aggressive_update_cond(vae_model *model, const float *x, const float *c,
                                             size_t n, double *mi, int *active);

/* ------------------------------------------------------------------------ */
/* VQ-VAE: discrete latents with a learned codebook                          */
/* ------------------------------------------------------------------------ */

/**
 * A VQ-VAE (van den Oord et al. 2017, "Neural Discrete Representation
 * Learning"): an MLP encoder gives M latent vectors of size D per example,
 * each is replaced by its nearest code (squared Euclidean distance, ties to
 * the lowest index) of a codebook of K vectors of size D, and an MLP decoder
 * reconstructs the example from the M chosen codes. Gradients pass from the
 * decoder input to the encoder output unchanged (straight-through). The
 * training loss per example is
 *   -log p(x|z_q) + ||sg[z_e] - e||^2 + beta ||z_e - sg[e]||^2
 * (sg: stop-gradient); with moving-average codebook learning the middle
 * (codebook) term is left out. A separate handle from vae_model: its own
 * configuration, checkpoints and calls.
 */
typedef struct vae_vqvae vae_vqvae;

/** How the codebook learns. */
enum vae_vq_codebook {
    VAE_VQ_CODEBOOK_LOSS = 0,  /**< by the optimizer, from the codebook loss ||sg[z_e] - e||^2 */
    VAE_VQ_CODEBOOK_EMA = 1    /**< by exponential moving averages of the encoder outputs assigned to each code */
};

/** VQ-VAE configuration. Initialise with vae_vqvae_config_init (a macro: see vae_vqvae_config_init_size). */
typedef struct vae_vqvae_config {
    size_t struct_size;            /**< sizeof(vae_vqvae_config) */
    int input_dim;                 /**< features per example (default 784) */
    int n_hidden;                  /**< encoder hidden layers, 0..VAE_MAX_HIDDEN (default 1) */
    int hidden[VAE_MAX_HIDDEN];    /**< their sizes, input side first (default {400}); the decoder mirrors them */
    int activation;                /**< enum vae_activation (default ReLU) */
    float leaky_slope;             /**< slope for VAE_ACT_LEAKY_RELU (default 0.01) */
    int likelihood;                /**< VAE_LIK_BERNOULLI (default) or VAE_LIK_GAUSSIAN_FIXED */
    float gaussian_sigma;          /**< sigma of VAE_LIK_GAUSSIAN_FIXED (default 1) */
    int n_latents;                 /**< M: latent vectors per example, >= 1 (default 16) */
    int code_dim;                  /**< D: size of each latent vector and code (default 16) */
    int codebook_size;             /**< K: codes, 1..65536 (default 128) */
    float beta;                    /**< weight of the commitment term, finite, >= 0 (default 0.25) */
    int codebook_update;           /**< enum vae_vq_codebook (default VAE_VQ_CODEBOOK_EMA) */
    float ema_decay;               /**< gamma of the moving averages, in [0, 1) (default 0.99) */
    float ema_eps;                 /**< Laplace smoothing of the EMA counts, > 0 (default 1e-5) */
    int restart_after;             /**< move codes unused for this many training steps to random encoder outputs of the batch; 0 = never (default 0) */
    uint64_t seed;                 /**< seeds initialisation, shuffling, restarts and sampling (default 1) */
    int threads;                   /**< threads this model's calls use (default 1): its own team, see vae_model_set_threads; results do not depend on it */
    /* Since 0.4.0: networks as data (docs/networks.md), as in vae_model_config.
     * An encoder whose output is a C x H x W map (no flatten at its end) is
     * quantised per spatial position: a 1x1 convolution to code_dim channels
     * follows it and n_latents becomes H * W (van den Oord et al. 2017);
     * otherwise a dense head to n_latents * code_dim follows. */
    const char *encoder;           /**< encoder layers; NULL (default): the MLP of n_hidden, hidden and activation */
    const char *decoder;           /**< decoder layers on z_q (code_dim x H x W for a spatial encoder, else n_latents * code_dim values); the last gives input_dim values. NULL (default): the MLP mirrored, then dense(input_dim) */
    int input_shape[3];            /**< a sample's shape (channels, height, width), product input_dim; {0, 0, 0} (default): flat */
} vae_vqvae_config;

/**
 * Figures of a VQ-VAE over a batch, an epoch or a dataset (nats per example).
 * Frozen: no struct_size, so it never grows; newer figures go into a
 * separate struct that starts with struct_size.
 */
typedef struct vae_vqvae_stats {
    double rec;          /**< mean log p(x|z_q), nats per example (higher is better) */
    double commit;       /**< mean sum over the M latents of ||z_e - e||^2 */
    double loss;         /**< the mean loss minimised: -rec + (1 + beta) commit (gradient codebook) or -rec + beta commit (EMA) */
    double perplexity;   /**< exp(H(p)), p the average code usage over all latents covered: 1..K */
    size_t codes_used;   /**< codes chosen at least once */
    size_t n;            /**< examples covered */
} vae_vqvae_stats;

/**
 * Fill *cfg with defaults: 784-400-(16 x 16) encoder, K = 128 codes,
 * beta 0.25, EMA codebook (decay 0.99, eps 1e-5), no restarts, Bernoulli
 * likelihood, seed 1, 1 thread. Sets struct_size. NULL is ignored.
 * In C and C++ the name is a macro over vae_vqvae_config_init_size with
 * sizeof *(cfg); the exported function of this name (for programs built
 * against 0.3.0 headers) writes exactly the 0.3.0 size, 112 bytes on LP64.
 * @param cfg  the configuration to fill (may be NULL).
 * @thread_caller
 * @since 0.3.0
 */
VAE_API void vae_vqvae_config_init(vae_vqvae_config *cfg);

/**
 * Fill the first min(size, sizeof(vae_vqvae_config)) bytes of *cfg with the
 * defaults of vae_vqvae_config_init and set cfg->struct_size to that count:
 * never a byte beyond `size`. The vae_vqvae_config_init macro passes
 * sizeof *(cfg); bindings that cannot use the macro call this.
 * @param cfg   the configuration to fill (may be NULL).
 * @param size  sizeof the caller's struct; below sizeof(size_t) nothing is
 *              written.
 * @thread_caller
 * @since 0.4.0
 */
VAE_API void vae_vqvae_config_init_size(vae_vqvae_config *cfg, size_t size);

/** vae_vqvae_config_init(cfg): the sized initialiser with the caller's sizeof. */
#define vae_vqvae_config_init(cfg) vae_vqvae_config_init_size((cfg), sizeof *(cfg))

/**
 * Create a VQ-VAE. Weights and biases are uniform in +-1/sqrt(fan_in)
 * (PyTorch's nn.Linear default); the codebook is uniform in +-1/K (the
 * common VQ-VAE initialisation); the EMA state starts at N_i = 0 and
 * m_i = e_i, as in Sonnet. Everything is drawn from the model's generator
 * seeded by cfg->seed.
 * @param cfg  the configuration (from vae_vqvae_config_init); copied.
 * @param out  receives the model; NULL on failure.
 * @param err  may be NULL; receives status and message.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID (a size out of range, an
 *         unknown enum, beta < 0, decay outside [0,1), eps <= 0, ...),
 *         VAE_ERR_UNSUPPORTED (a learned Gaussian sigma), VAE_ERR_LIMIT
 *         (more than 2^31 parameters, M*D above 2^20), VAE_ERR_NOMEM.
 * @thread_safe
 * @since 0.3.0
 */
VAE_API int vae_vqvae_create(const vae_vqvae_config *cfg, vae_vqvae **out, vae_error *err);

/**
 * Free a VQ-VAE. NULL is a no-op.
 * @param vq  the model (may be NULL).
 * @thread_handle
 * @since 0.3.0
 */
VAE_API void vae_vqvae_free(vae_vqvae *vq);

/**
 * The message of the last failed call on vq.
 * @param vq  the model (may be NULL).
 * @return a string owned by the model ("" if no call failed; "vq is NULL"
 *         for NULL), valid until the next failing call on vq or its free.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API const char *vae_vqvae_errmsg(const vae_vqvae *vq);

/**
 * Copy the configuration into *cfg (cfg->struct_size must be set; a smaller,
 * older struct receives its fields only: min(struct_size, sizeof) bytes,
 * and struct_size is set to that count).
 * @param vq   the model.
 * @param cfg  receives the configuration.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID (struct_size 0 or above
 *         65536).
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_vqvae_get_config(const vae_vqvae *vq, vae_vqvae_config *cfg);

/**
 * Set the number of threads the model's calls use: as vae_model_set_threads
 * (a thread team owned by the model; the same results at any count).
 * @param vq       the model.
 * @param threads  1..256.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID (threads out of range),
 *         VAE_ERR_NOMEM (the threads could not be started; nothing changed).
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_vqvae_set_threads(vae_vqvae *vq, int threads);

/**
 * Number of parameters the optimizer trains: encoder and decoder, plus the
 * K*D codebook with VAE_VQ_CODEBOOK_LOSS.
 * @param vq  the model (may be NULL).
 * @return the parameter count; 0 for NULL.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API size_t vae_vqvae_param_count(const vae_vqvae *vq);

/**
 * Bits needed to store one example's codes: M * log2(K).
 * @param vq  the model (may be NULL).
 * @return the bits; 0 for NULL.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API double vae_vqvae_bits_per_example(const vae_vqvae *vq);

/**
 * One training step on n examples (row-major n x input_dim): forward,
 * backward, optimizer update, then (EMA mode) the moving-average codebook
 * update and (restart_after > 0) dead-code restarts. Values must be finite;
 * the Bernoulli likelihood needs them in [0,1].
 * @param vq    the model.
 * @param opt   the optimizer.
 * @param x     n x input_dim examples, row-major.
 * @param n     number of examples (n*M*K below 2^31, n at most 2^28).
 * @param stats may be NULL; receives the batch's figures (before the update).
 * @return VAE_OK; VAE_ERR_DIVERGED when the loss or a gradient is not finite
 *         (nothing is changed: parameters, codebook, EMA and optimizer state
 *         stay as before); VAE_ERR_NULL, VAE_ERR_INVALID (n = 0, values
 *         outside [0,1]), VAE_ERR_LIMIT (n too large), VAE_ERR_NONFINITE,
 *         VAE_ERR_SHAPE (the optimizer is bound to another parameter count),
 *         VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_vqvae_train_step(vae_vqvae *vq, vae_optimizer *opt, const float *x, size_t n,
                                 vae_vqvae_stats *stats);

/**
 * One epoch over `data`: shuffle with the model's generator, then
 * vae_vqvae_train_step on consecutive batches of batch_size (the last may
 * be smaller).
 * @param vq          the model.
 * @param opt         the optimizer.
 * @param data        the training set (input_dim features per example).
 * @param batch_size  examples per step, 1..2^28.
 * @param progress    may be NULL; receives the running mean rec.
 * @param user        passed to progress.
 * @param stats may be NULL; receives the epoch's figures (perplexity and
 *              codes used over all training assignments of the epoch).
 * @return VAE_OK; as vae_vqvae_train_step (VAE_ERR_DIVERGED, VAE_ERR_NULL,
 *         VAE_ERR_INVALID for an empty dataset, batch_size 0 or data outside
 *         [0,1] for Bernoulli, VAE_ERR_SHAPE also for a dataset of another
 *         width, VAE_ERR_LIMIT, VAE_ERR_NOMEM), plus VAE_ERR_CANCELLED.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_vqvae_train_epoch(vae_vqvae *vq, vae_optimizer *opt, const vae_dataset *data,
                                  size_t batch_size, vae_progress_fn progress, void *user,
                                  vae_vqvae_stats *stats);

/**
 * Figures over every example of `data` (binarised as the dataset says, with
 * the evaluation stream reset at every call), in batches of batch_size.
 * Changes nothing in the model.
 * @param vq          the model.
 * @param data        the examples (input_dim features each).
 * @param batch_size  examples per batch, 1..2^28.
 * @param stats       receives the figures; required (NULL: VAE_ERR_NULL;
 *                    since 0.4.0, earlier versions accepted NULL).
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_SHAPE (dataset width differs),
 *         VAE_ERR_INVALID (empty dataset, batch_size 0, data outside [0,1]
 *         for Bernoulli), VAE_ERR_NONFINITE (the loss of some example is
 *         not finite: the message gives how many and the first index),
 *         VAE_ERR_LIMIT (batch_size > 2^28), VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_vqvae_evaluate(vae_vqvae *vq, const vae_dataset *data, size_t batch_size,
                               vae_vqvae_stats *stats);

/**
 * The layout of an example's M codes: an H x W grid, row-major (a spatial
 * encoder's feature map, van den Oord et al. 2017), or 1 x M for a flat one.
 * @param vq    the model.
 * @param grid  receives {H, W} with H * W = M (caller-owned, 2 ints).
 * @return VAE_OK, VAE_ERR_NULL.
 * @thread_handle
 * @since 0.4.0
 */
VAE_API int vae_vqvae_code_grid(const vae_vqvae *vq, int grid[2]);

/**
 * Code indices of n examples: n x M ints in 0..K-1, example-major (for a
 * spatial encoder each example's M = H x W codes are its grid, row-major;
 * see vae_vqvae_code_grid), into `codes` (caller's buffer).
 * @param vq     the model.
 * @param x      n x input_dim examples, row-major.
 * @param n      number of examples, 1..2^28.
 * @param codes  n x M ints (caller-owned).
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID (n = 0, data outside [0,1]
 *         for Bernoulli), VAE_ERR_LIMIT (n > 2^28), VAE_ERR_NONFINITE,
 *         VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_vqvae_encode(vae_vqvae *vq, const float *x, size_t n, int *codes);

/**
 * Decoder output for n examples given by their codes (n x M ints, each in
 * 0..K-1, else VAE_ERR_INVALID naming the entry): Bernoulli probabilities or
 * Gaussian means, n x input_dim, into `out`.
 * @param vq     the model.
 * @param codes  n x M code indices.
 * @param n      number of examples, 1..2^28.
 * @param out    n x input_dim floats (caller-owned).
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID (n = 0, a code out of
 *         range), VAE_ERR_LIMIT (n > 2^28), VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_vqvae_decode(vae_vqvae *vq, const int *codes, size_t n, float *out);

/**
 * decode(encode(x)) for n examples, n x input_dim, into `out`.
 * @param vq   the model.
 * @param x    n x input_dim examples, row-major.
 * @param n    number of examples, 1..2^28.
 * @param out  n x input_dim floats (caller-owned).
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID (n = 0, data outside [0,1]
 *         for Bernoulli), VAE_ERR_LIMIT (n > 2^28), VAE_ERR_NONFINITE,
 *         VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_vqvae_reconstruct(vae_vqvae *vq, const float *x, size_t n, float *out);

/**
 * Copy the codebook (K x D floats, row k is code k) into out.
 * @param vq     the model.
 * @param out    count floats (caller-owned).
 * @param count  must be K*D.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_SHAPE (count != K*D).
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_vqvae_get_codebook(const vae_vqvae *vq, float *out, size_t count);

/**
 * Replace the codebook (K x D finite floats). With EMA learning the moving
 * averages are made consistent with it: m_i = e_i N~_i (counts kept), or
 * m_i = e_i while no code has been counted yet (the state at creation).
 * @param vq     the model.
 * @param in     count floats, K x D; copied.
 * @param count  must be K*D.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_SHAPE (count != K*D),
 *         VAE_ERR_NONFINITE; on failure the codebook is unchanged.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_vqvae_set_codebook(vae_vqvae *vq, const float *in, size_t count);

/**
 * Fit the prior over codes: for every position m an independent categorical
 * p_m(k) = (c_mk + alpha) / (N + K alpha), c_mk counting how often the
 * examples of `data` chose code k at position m (additive smoothing alpha,
 * >= 0; 0 gives the empirical frequencies).
 * @param vq          the model.
 * @param data        the examples (input_dim features each).
 * @param batch_size  examples encoded at a time, 1..2^28.
 * @param alpha       additive smoothing, finite, >= 0.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID (alpha negative or not
 *         finite, empty data, batch_size 0, data outside [0,1] for
 *         Bernoulli), VAE_ERR_SHAPE (dataset width differs), VAE_ERR_LIMIT
 *         (batch_size > 2^28), VAE_ERR_NOMEM. On failure the previous prior
 *         is kept.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_vqvae_fit_prior(vae_vqvae *vq, const vae_dataset *data, size_t batch_size,
                                float alpha);

/**
 * Copy the fitted prior (M x K probabilities) into out.
 * @param vq     the model.
 * @param out    count floats (caller-owned).
 * @param count  must be M*K.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_SHAPE (count != M*K),
 *         VAE_ERR_UNSUPPORTED (no prior fitted yet).
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_vqvae_get_prior(const vae_vqvae *vq, float *out, size_t count);

/**
 * n new examples: codes drawn from the fitted prior with the model's
 * generator, then decoded (n x input_dim into out). codes may be NULL, else
 * receives the n x M drawn codes.
 * @param vq     the model, with a fitted prior.
 * @param n      number of examples, 1..2^28.
 * @param codes  may be NULL; else n x M ints (caller-owned).
 * @param out    n x input_dim floats (caller-owned).
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID (n = 0), VAE_ERR_LIMIT
 *         (n > 2^28), VAE_ERR_UNSUPPORTED (no prior fitted), VAE_ERR_NOMEM.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_vqvae_sample(vae_vqvae *vq, size_t n, int *codes, float *out);

/**
 * Write a checkpoint: configuration, parameters, codebook, EMA state, idle
 * counters, the prior (if fitted), the random state and, if opt is not
 * NULL, the optimizer's state. Written atomically like vae_model_save.
 * @param vq    the model.
 * @param opt   may be NULL; else its state is saved too.
 * @param path  file to write.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID (empty path), VAE_ERR_SHAPE
 *         (opt bound to another parameter count), VAE_ERR_NONFINITE,
 *         VAE_ERR_IO, VAE_ERR_NOMEM; on failure the file at path is left
 *         as it was.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_vqvae_save(vae_vqvae *vq, const vae_optimizer *opt, const char *path);

/**
 * Load a VQ-VAE checkpoint (and its optimizer when opt_out is not NULL and
 * the file holds one). Training continues exactly as if never interrupted.
 * A vae_model checkpoint is refused with VAE_ERR_FORMAT and a message
 * saying to use vae_model_load (and vae_model_load refuses VQ-VAE files).
 * @param path     file to read.
 * @param out      receives the model; NULL on failure.
 * @param opt_out  may be NULL; else receives the optimizer (NULL when the
 *                 file holds none).
 * @param err      may be NULL; receives status and message.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_IO, VAE_ERR_FORMAT, VAE_ERR_LIMIT,
 *         VAE_ERR_NOMEM.
 * @thread_safe
 * @since 0.3.0
 */
VAE_API int vae_vqvae_load(const char *path, vae_vqvae **out, vae_optimizer **opt_out,
                           vae_error *err);

/* ------------------------------------------------------------------------ */
/* PCA and corruption for denoising (docs/pca.md)                            */
/* ------------------------------------------------------------------------ */

/**
 * A principal component analysis fitted to a dataset: the mean, the k
 * leading unit eigenvectors of the covariance and their eigenvalues.
 * Immutable after vae_pca_fit.
 */
typedef struct vae_pca vae_pca;

/** Options of vae_pca_fit. Initialise with vae_pca_options_init (a macro: see vae_pca_options_init_size). */
typedef struct vae_pca_options {
    size_t struct_size;     /**< sizeof(vae_pca_options) */
    int center;             /**< 1 (default): subtract the mean; 0: analyse the raw second moment x^T x / n (the mean is then reported as 0) */
    int max_iterations;     /**< QL iterations allowed per eigenvalue before VAE_ERR_DIVERGED, 1..1000, default 60 (2 are typical) */
} vae_pca_options;

/**
 * Fill the first min(size, sizeof(vae_pca_options)) bytes of *opt with the
 * defaults (center 1, max_iterations 60) and set opt->struct_size to that
 * count. The macro vae_pca_options_init(opt) passes sizeof *(opt);
 * bindings that cannot use the macro call this.
 * @param opt   the options to fill (caller-owned); NULL is ignored.
 * @param size  sizeof the caller's struct; below sizeof(size_t) nothing is
 *              written.
 * @thread_caller
 * @since 0.4.0
 */
VAE_API void vae_pca_options_init_size(vae_pca_options *opt, size_t size);

/** vae_pca_options_init(opt): the sized initialiser with the caller's sizeof. */
#define vae_pca_options_init(opt) vae_pca_options_init_size((opt), sizeof *(opt))

/**
 * Fit a PCA with k components to the stored values of a dataset (scaled
 * as the dataset says, never binarised; byte-backed IDX datasets are read
 * without a float copy).
 *
 * Method (docs/pca.md): the mean m in double; the covariance
 * C = (X - 1 m^T)^T (X - 1 m^T) / n (divisor n, not n - 1) as float32
 * products of blocks of 256 rows (vt_gemm, i.e. cblas_sgemm) summed in
 * double; then the eigen-decomposition of C in double precision by
 * Householder tridiagonalisation and the implicit QL algorithm with shifts
 * (EISPACK tred2/tql2; BLAS only, no LAPACK). QL takes an off-diagonal as
 * zero when |e_i| <= DBL_EPSILON (|d_i| + |d_i+1|). Accuracy: the
 * eigenpairs are exact for a matrix within about d * 1e-16 * ||C|| of the
 * computed C; C itself carries float32 rounding of the block products
 * (relative ~1e-6), which dominates: eigenvalues to ~1e-6 * ||C||,
 * residuals ||C v - lambda v|| of that order. Time O(n d^2 + d^3)
 * (MNIST, 9,000 x 784: about 1 s), memory about 12 d^2 bytes.
 *
 * Components are sorted by decreasing eigenvalue; each is a unit vector
 * whose entry of largest magnitude (the first such) is positive, so the
 * result does not depend on the eigensolver's signs. Eigenvalues of equal
 * value have no preferred basis: any orthonormal basis of their
 * eigenspace may be returned. Eigenvalues that come out negative by
 * rounding (rank-deficient data) are reported as 0.
 * @param ds   the dataset (n >= 1 rows of d <= 4096 values; not changed).
 * @param k    number of components, 1 <= k <= d.
 * @param opt  options; NULL for the defaults.
 * @param out  receives the new PCA, owned by the caller (free it with
 *             vae_pca_free); NULL on failure.
 * @param err  may be NULL; receives the status and message.
 * @return VAE_OK; VAE_ERR_NULL (ds or out NULL), VAE_ERR_INVALID (k out of
 *         1..d, an empty dataset, bad options), VAE_ERR_LIMIT (d > 4096),
 *         VAE_ERR_NONFINITE (values so large the covariance overflows
 *         float), VAE_ERR_DIVERGED (the eigensolver did not converge within
 *         max_iterations), VAE_ERR_NOMEM.
 * @par Threads
 * Only reads ds: several threads may fit PCAs of one dataset at once, as
 * long as none changes or frees it. The products run on the calling thread.
 * @since 0.4.0
 */
VAE_API int vae_pca_fit(const vae_dataset *ds, int k, const vae_pca_options *opt, vae_pca **out,
                        vae_error *err);

/**
 * Free a PCA.
 * @param pca  the PCA, or NULL (a no-op).
 * @thread_handle
 * @since 0.4.0
 */
VAE_API void vae_pca_free(vae_pca *pca);

/**
 * The message of the last failed call on pca.
 * @param pca  the PCA (may be NULL).
 * @return a NUL-terminated string owned by pca ("" when no call failed; a
 *         static "pca is NULL" for NULL), valid until the next failing call
 *         or vae_pca_free.
 * @thread_handle
 * @since 0.4.0
 */
VAE_API const char *vae_pca_errmsg(const vae_pca *pca);

/**
 * Number of input dimensions d.
 * @param pca  the PCA (may be NULL).
 * @return d; 0 for NULL.
 * @thread_handle
 * @since 0.4.0
 */
VAE_API size_t vae_pca_dim(const vae_pca *pca);

/**
 * Number of components k.
 * @param pca  the PCA (may be NULL).
 * @return k; 0 for NULL.
 * @thread_handle
 * @since 0.4.0
 */
VAE_API size_t vae_pca_components_count(const vae_pca *pca);

/**
 * Borrow the mean (all zeros when the fit had center = 0).
 * @param pca  the PCA (may be NULL).
 * @return d floats owned by pca, valid until vae_pca_free; NULL for NULL.
 * @thread_handle
 * @since 0.4.0
 */
VAE_API const float *vae_pca_mean(const vae_pca *pca);

/**
 * Borrow the components: a k x d row-major matrix W whose row j is the
 * unit eigenvector of the j-th largest eigenvalue (sign: its largest
 * entry in magnitude is positive).
 * @param pca  the PCA (may be NULL).
 * @return k*d floats owned by pca, valid until vae_pca_free; NULL for NULL.
 * @thread_handle
 * @since 0.4.0
 */
VAE_API const float *vae_pca_components(const vae_pca *pca);

/**
 * Borrow the explained variance: eigenvalue lambda_j of the covariance for
 * each component j (descending, >= 0), in squared data units. The
 * explained ratio of component j is lambda_j / vae_pca_total_variance.
 * @param pca  the PCA (may be NULL).
 * @return k doubles owned by pca, valid until vae_pca_free; NULL for NULL.
 * @thread_handle
 * @since 0.4.0
 */
VAE_API const double *vae_pca_explained_variance(const vae_pca *pca);

/**
 * The total variance of the fitted data: the trace of the covariance, i.e.
 * the sum of all d eigenvalues, (1/n) sum_i ||x_i - m||^2.
 * @param pca  the PCA (may be NULL).
 * @return the total variance (>= 0); 0 for NULL.
 * @thread_handle
 * @since 0.4.0
 */
VAE_API double vae_pca_total_variance(const vae_pca *pca);

/**
 * Project rows onto the components: codes = (x - 1 m^T) W^T.
 * @param pca    the PCA.
 * @param x      n*d finite floats, row-major (caller-owned).
 * @param n      number of rows, 1 <= n <= 2^28.
 * @param codes  receives n*k floats, row-major (caller-owned).
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID (n = 0), VAE_ERR_LIMIT,
 *         VAE_ERR_NONFINITE (x holds NaN or infinity; the message names
 *         the entry), VAE_ERR_NOMEM; the message is in vae_pca_errmsg.
 * @thread_handle
 * @since 0.4.0
 */
VAE_API int vae_pca_project(vae_pca *pca, const float *x, size_t n, float *codes);

/**
 * Map codes back to the data space: out = 1 m^T + codes W.
 * @param pca    the PCA.
 * @param codes  n*k finite floats, row-major (caller-owned).
 * @param n      number of rows, 1 <= n <= 2^28.
 * @param out    receives n*d floats, row-major (caller-owned).
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID (n = 0), VAE_ERR_LIMIT,
 *         VAE_ERR_NONFINITE; the message is in vae_pca_errmsg.
 * @thread_handle
 * @since 0.4.0
 */
VAE_API int vae_pca_decode(vae_pca *pca, const float *codes, size_t n, float *out);

/**
 * The rank-k reconstruction: out = 1 m^T + (x - 1 m^T) W^T W, i.e.
 * vae_pca_decode of vae_pca_project. out may equal x (in place).
 * @param pca  the PCA.
 * @param x    n*d finite floats, row-major (caller-owned).
 * @param n    number of rows, 1 <= n <= 2^28.
 * @param out  receives n*d floats (caller-owned).
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID (n = 0), VAE_ERR_LIMIT,
 *         VAE_ERR_NONFINITE, VAE_ERR_NOMEM; the message is in
 *         vae_pca_errmsg.
 * @thread_handle
 * @since 0.4.0
 */
VAE_API int vae_pca_reconstruct(vae_pca *pca, const float *x, size_t n, float *out);

/**
 * The mean squared reconstruction error of a dataset's stored values
 * (never binarised): (1/n) sum_i sum_j (x_ij - r_ij)^2, r the rank-k
 * reconstruction: the sum over dimensions, averaged over examples. These
 * are the units of the Gaussian likelihood's squared error (the negative
 * Gaussian log-likelihood with sigma = 1 is half of it plus
 * (d/2) log(2 pi) nats). On the data the PCA was fitted to it equals the
 * sum of the discarded eigenvalues, the smallest any rank-k linear map
 * achieves (Eckart-Young).
 * @param pca  the PCA.
 * @param ds   a dataset with d columns (not changed).
 * @param mse  receives the error, accumulated in double.
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_SHAPE (ds has another number of
 *         columns), VAE_ERR_NOMEM; the message is in vae_pca_errmsg.
 * @thread_handle
 * @since 0.4.0
 */
VAE_API int vae_pca_reconstruction_error(vae_pca *pca, const vae_dataset *ds, double *mse);

/** Corruptions of the input for denoising autoencoders (vae_corrupt). */
enum vae_corruption {
    VAE_CORRUPT_NONE = 0,       /**< out = x */
    VAE_CORRUPT_GAUSSIAN = 1,   /**< out = x + sigma N(0,1), independently per value; param = sigma >= 0 */
    VAE_CORRUPT_MASK = 2,       /**< each value set to 0 with probability p, else kept; param = p in [0,1] */
    VAE_CORRUPT_SALT_PEPPER = 3 /**< each value replaced with probability p by 0 or 1 (equally likely); param = p in [0,1] */
};

/**
 * Corrupt n rows of d values for a denoising autoencoder. Draws come from
 * a xoshiro256** generator seeded with (seed, a stream of its own), one per
 * value in row-major order (a standard normal for Gaussian noise, a uniform
 * u for the others: MASK zeroes when u < p; SALT_PEPPER replaces when
 * u < p, with 0 when u < p/2 and 1 otherwise), so the same seed and sizes
 * give the same bits on every machine with the same libm. Use a new seed
 * per batch for fresh noise.
 * @param kind   enum vae_corruption.
 * @param param  sigma for VAE_CORRUPT_GAUSSIAN (finite, >= 0), p for MASK
 *               and SALT_PEPPER (in [0,1]); ignored for NONE.
 * @param seed   the seed.
 * @param x      n*d finite floats (caller-owned).
 * @param n      rows (>= 1).
 * @param d      values per row (>= 1); n*d <= 2^40.
 * @param out    receives n*d floats (caller-owned); may equal x (in
 *               place) but must not otherwise overlap it.
 * @param err    may be NULL; receives the status and message.
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID (unknown kind, parameter
 *         out of range, n or d 0, partially overlapping buffers),
 *         VAE_ERR_LIMIT (n*d too large), VAE_ERR_NONFINITE (x holds NaN or
 *         infinity; the message names the entry).
 * @thread_safe
 * @since 0.4.0
 */
VAE_API int vae_corrupt(int kind, float param, uint64_t seed, const float *x, size_t n, size_t d,
                        float *out, vae_error *err);

/**
 * Parse the command-line form of a corruption: "none", "gaussian:SIGMA",
 * "mask:P" or "saltpepper:P" (also "salt-pepper:P"), e.g. "gaussian:0.5".
 * Names are lower case; the number is a C decimal or exponent literal
 * (strtod) with nothing after it; ranges as for vae_corrupt.
 * @param text   the text (NUL-terminated).
 * @param kind   receives the enum vae_corruption value (unchanged on failure).
 * @param param  receives the parameter (0 for "none"; unchanged on failure).
 * @param err    may be NULL; receives the status and a message quoting the text.
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID (unknown kind, missing or
 *         malformed number, sigma < 0, p outside [0,1], not finite).
 * @thread_safe
 * @since 0.4.0
 */
VAE_API int vae_corruption_parse(const char *text, int *kind, float *param, vae_error *err);

/* ------------------------------------------------------------------------ */
/* Weights that travel: parameters as .safetensors files (docs/format.md)    */
/* ------------------------------------------------------------------------ */

/**
 * Write the model's parameters to a .safetensors file: one float32 tensor
 * per entry of vae_model_param_tensor_info, under the same name and with
 * its shape [rows, cols] in libvae's layout (a dense W is [in, out], i.e.
 * PyTorch's nn.Linear.weight transposed; conv2d W is [Cout, Cin*k*k]; see
 * docs/format.md for every name and its PyTorch counterpart), and a
 * "__metadata__" object of strings describing the architecture (family,
 * input_shape, latent_dim, the encoder and decoder texts, likelihood, ...)
 * so that a reader can rebuild the networks. Only parameters are written:
 * no optimizer state, random state or training settings (use
 * vae_model_save for checkpoints). The file is written to a temporary name
 * beside `path`, flushed and renamed, so `path` holds either the old
 * content or the whole new file.
 * @param model  the model (parameters not changed; its message buffer is
 *               written on failure).
 * @param path   the file to write (replaced if it exists; caller-owned).
 * @return VAE_OK; VAE_ERR_NULL (model or path NULL), VAE_ERR_INVALID (empty
 *         path), VAE_ERR_NONFINITE (a parameter is NaN or infinite; the
 *         message names it), VAE_ERR_IO (cannot write or rename),
 *         VAE_ERR_LIMIT, VAE_ERR_NOMEM; the message is in vae_model_errmsg.
 *         On failure the file at path is left as it was.
 * @thread_handle
 * @since 0.4.0
 */
VAE_API int vae_model_export_safetensors(vae_model *model, const char *path);

/**
 * Replace the model's parameters with those of a .safetensors file, as
 * written by vae_model_export_safetensors or by any writer using the same
 * names and layout (docs/format.md). The file must hold exactly the
 * model's tensors: every name once and no other, dtype "F32", "F16",
 * "BF16" or "F64" (converted to float32: the 16-bit types
 * exactly, F64 rounded to nearest, a finite F64 beyond float32's range
 * refused), the shape [rows, cols] of vae_model_param_tensor_info,
 * data_offsets that tile the data section without gaps or overlaps
 * (rows*cols values of the dtype's size), finite values. The metadata is
 * not interpreted (the model's own architecture decides). The optimizer
 * state, random state and training settings are not touched.
 * @param model  the model whose parameters are replaced; on any failure it
 *               is unchanged (only its message is set).
 * @param path   the file to read (caller-owned); only a regular file is
 *               read (a FIFO, device or directory: VAE_ERR_IO without
 *               blocking).
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID (empty path), VAE_ERR_IO
 *         (cannot open or read, not a regular file), VAE_ERR_FORMAT
 *         (truncated, malformed header JSON, a tensor missing, unknown,
 *         repeated, of another dtype or shape, bad offsets: the message
 *         names the tensor), VAE_ERR_LIMIT (a declared header length above
 *         100,000,000 bytes, refused before allocating), VAE_ERR_NONFINITE
 *         (a NaN or infinite value, or an F64 value beyond float32's
 *         range, named), VAE_ERR_NOMEM; the message is
 *         in vae_model_errmsg.
 * @thread_handle
 * @since 0.4.0
 */
VAE_API int vae_model_import_safetensors(vae_model *model, const char *path);

/**
 * vae_model_export_safetensors for a VQ-VAE: the encoder, z_e head and
 * decoder tensors, and the codebook "vq.codebook" [K, D] (also in EMA mode,
 * where it is not a trained parameter). The EMA statistics, code usage,
 * prior and random state are not written.
 * @param vq    the model (parameters not changed).
 * @param path  the file to write (replaced atomically; caller-owned).
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID (empty path),
 *         VAE_ERR_NONFINITE, VAE_ERR_IO, VAE_ERR_LIMIT, VAE_ERR_NOMEM; the
 *         message is in vae_vqvae_errmsg. On failure the file at path is
 *         left as it was.
 * @thread_handle
 * @since 0.4.0
 */
VAE_API int vae_vqvae_export_safetensors(vae_vqvae *vq, const char *path);

/**
 * vae_model_import_safetensors for a VQ-VAE: the same checks, the tensors
 * of vae_vqvae_export_safetensors. In EMA mode the codebook is set as by
 * vae_vqvae_set_codebook (the moving averages follow it).
 * @param vq    the model; unchanged on any failure.
 * @param path  the file to read (regular files only; caller-owned).
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID, VAE_ERR_IO,
 *         VAE_ERR_FORMAT, VAE_ERR_LIMIT, VAE_ERR_NONFINITE, VAE_ERR_NOMEM;
 *         the message is in vae_vqvae_errmsg.
 * @thread_handle
 * @since 0.4.0
 */
VAE_API int vae_vqvae_import_safetensors(vae_vqvae *vq, const char *path);

#ifdef __cplusplus
}
#endif

#endif /* LIBVAE_VAE_H */
