#!/usr/bin/env bash
# Header test: the umbrella header <libvae/vae.h> alone must compile with
# strict warnings as C99, C11 and C++11 (and with clang when available).
#
# usage: header_check.sh MODE SRC_INCLUDE_DIR BUILD_INCLUDE_DIR COMPILER [ARGS...]
#   MODE is c99, c11 or c++11.
set -euo pipefail

mode=$1 src_inc=$2 build_inc=$3
shift 3
compiler=("$@")

tmp=$(mktemp -d "${VAE_TEST_TMPDIR:-${TMPDIR:-/tmp}}/header-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

case "$mode" in
    c99|c11)
        ext=c
        flags=(-std="$mode" -pedantic -Wall -Wextra -Werror -Wstrict-prototypes
               -Wmissing-prototypes -Wundef -Wshadow) ;;
    c++11)
        ext=cpp
        flags=(-std=c++11 -pedantic -Wall -Wextra -Werror -Wundef -Wshadow
               -Wold-style-cast) ;;
    *)
        echo "unknown mode $mode" >&2
        exit 2 ;;
esac

# Included twice (include guard) and used, so that the declarations,
# constants and structs are really checked, not just parsed.
cat > "$tmp/tu.$ext" <<'TU'
#include <libvae/vae.h>
#include <libvae/vae.h>

int vae_header_check(void);
int vae_header_check(void)
{
    vae_model_config cfg;
    vae_dataset_options dopt;
    vae_optimizer_config ocfg;
    vae_elbo_stats st;
    vae_error err;
    vae_progress_fn fn = 0;
    const char *(*version)(void) = vae_version_string;
    (void)cfg; (void)dopt; (void)ocfg; (void)st; (void)err; (void)fn; (void)version;
    return VAE_OK + VAE_ERR_UNSUPPORTED + VAE_VERSION_NUMBER + VAE_MAX_HIDDEN + VAE_ERRMSG_LEN
           + VAE_OPT_ADAM + VAE_LIK_BERNOULLI;
}
TU

echo "${compiler[*]} ${flags[*]} -c tu.$ext"
"${compiler[@]}" "${flags[@]}" -I"$src_inc" -I"$build_inc" -c "$tmp/tu.$ext" -o "$tmp/tu.o"
echo "ok: <libvae/vae.h> compiles as $mode with ${compiler[0]}"
