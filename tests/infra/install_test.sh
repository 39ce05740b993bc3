#!/usr/bin/env bash
# Install test: stage `meson install` into a temporary DESTDIR, then build
# install_check.c with nothing but `pkg-config --cflags --libs vae` pointed
# at the staged tree, and run it against the staged library.
#
# usage: install_test.sh BUILD_DIR INSTALL_CHECK_C MESON CC [CC_ARGS...]
set -euo pipefail

build_dir=$1 src=$2 meson=$3
shift 3
cc=("$@")

tmp=$(mktemp -d "${VAE_TEST_TMPDIR:-${TMPDIR:-/tmp}}/install-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
stage=$tmp/stage

echo "== meson install into $stage"
DESTDIR=$stage "$meson" install -C "$build_dir" --no-rebuild --quiet

pc=$(find "$stage" -name vae.pc -print -quit)
if [ -z "$pc" ]; then
    echo "FAIL: no vae.pc in the installed tree" >&2
    find "$stage" >&2
    exit 1
fi
for f in libvae/vae.h libvae/vae_version.h; do
    if [ -z "$(find "$stage" -path "*/include/$f" -print -quit)" ]; then
        echo "FAIL: $f was not installed" >&2
        exit 1
    fi
done

# Man pages of the example programs ($VAE_MAN_PAGES: those meson generates;
# empty when help2man was not found at configure time).
for page in ${VAE_MAN_PAGES:-}; do
    f=$(find "$stage" -path "*/share/man/man1/$page" -print -quit)
    if [ -z "$f" ]; then
        echo "FAIL: man page $page was not installed under share/man/man1" >&2
        exit 1
    fi
    name=${page%.1}
    if ! MANWIDTH=80 man -l "$f" 2>/dev/null | grep -q "^ *$name - "; then
        echo "FAIL: $f does not render with a NAME line for $name (man -l)" >&2
        exit 1
    fi
    echo "== man page $page installed and renders"
done
[ -n "${VAE_MAN_PAGES:-}" ] || echo "note: no man pages expected (help2man not found)"

# The .pc file says prefix=/usr/local (or whatever was configured). Debian's
# multiarch libdir (lib/x86_64-linux-gnu/pkgconfig) defeats
# `pkg-config --define-prefix`, which assumes <prefix>/lib/pkgconfig, so the
# staged paths are resolved with the sysroot variable, which is exactly the
# DESTDIR convention: every -I/-L path gets the stage prepended.
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
export PKG_CONFIG_SYSROOT_DIR=$stage
export PKG_CONFIG_LIBDIR=$PKG_CONFIG_PATH   # nothing from the system's .pc files
cflags=$(pkg-config --cflags vae)
libs=$(pkg-config --libs vae)
libdir=$(pkg-config --variable=libdir vae)
echo "== pkg-config --cflags --libs vae: $cflags $libs"
case "$cflags $libs" in
    *"$stage"*) ;;
    *) echo "FAIL: pkg-config flags do not point into the stage" >&2; exit 1 ;;
esac
# --variable is not sysroot-prefixed by every pkg-config; make it so.
case "$libdir" in "$stage"*) ;; *) libdir=$stage$libdir ;; esac
if [ ! -e "$libdir/libvae.so" ]; then
    echo "FAIL: $libdir/libvae.so missing" >&2
    exit 1
fi

# The installed programs find the installed library by their rpath
# ($ORIGIN/../<libdir> first): no LD_LIBRARY_PATH.
vt=$(find "$stage" -path "*/bin/vae-train" -print -quit)
[ -n "$vt" ] || { echo "FAIL: vae-train was not installed" >&2; exit 1; }
resolved=$(env -u LD_LIBRARY_PATH ldd "$vt" | awk '$1 ~ /^libvae\.so/ {print $3}')
echo "== installed vae-train loads $resolved"
case "$(readlink -f "$resolved")" in
    "$(readlink -f "$libdir")"/*) ;;
    *) echo "FAIL: the installed vae-train does not load the installed libvae" >&2; exit 1 ;;
esac
env -u LD_LIBRARY_PATH "$vt" --help >"$tmp/help" 2>&1 || { cat "$tmp/help" >&2; echo "FAIL: vae-train --help" >&2; exit 1; }
grep -q "^usage: vae-train" "$tmp/help" || { echo "FAIL: no usage from vae-train --help" >&2; exit 1; }
(cd "$tmp" && env -u LD_LIBRARY_PATH "$vt" --epochs 1 --seed 3 >"$tmp/run" 2>&1) || {
    cat "$tmp/run" >&2; echo "FAIL: a short vae-train run from the install" >&2; exit 1; }
grep -q "^epoch 1 " "$tmp/run" || { cat "$tmp/run" >&2; echo "FAIL: no epoch line" >&2; exit 1; }
echo "== installed vae-train runs without LD_LIBRARY_PATH"
# vae-train-mpi (when MPI was found) links libvae_mpi and libvae the same way.
vtm=$(find "$stage" -path "*/bin/vae-train-mpi" -print -quit)
if [ -n "$vtm" ]; then
    env -u LD_LIBRARY_PATH ldd "$vtm" | awk '$1 ~ /^libvae(_mpi)?\.so/ {print $1, $3}' >"$tmp/ldd-mpi"
    [ "$(wc -l <"$tmp/ldd-mpi")" -eq 2 ] || { cat "$tmp/ldd-mpi" >&2; echo "FAIL: vae-train-mpi's libraries" >&2; exit 1; }
    while read -r soname path; do
        case "$(readlink -f "$path")" in
            "$(readlink -f "$libdir")"/*) ;;
            *) echo "FAIL: the installed vae-train-mpi loads $soname from $path" >&2; exit 1 ;;
        esac
    done <"$tmp/ldd-mpi"
    env -u LD_LIBRARY_PATH "$vtm" --help >"$tmp/help-mpi" 2>&1 || {
        cat "$tmp/help-mpi" >&2; echo "FAIL: vae-train-mpi --help" >&2; exit 1; }
    echo "== installed vae-train-mpi finds libvae_mpi and libvae"
fi

# The Python package: installed into <prefix>/lib/python3/dist-packages/libvae
# (Debian's layout, meson's python module) with _config.py; imported from
# there alone (run from $tmp, PYTHONPATH the installed site-packages only, no
# LIBVAE_LIBRARY), it must load the installed libvae.so and train a model.
if [ -n "${VAE_PYTHON:-}" ] && "$VAE_PYTHON" -c 'import numpy' 2>/dev/null; then
    init=$(find "$stage" -path "*/libvae/__init__.py" -print -quit)
    [ -n "$init" ] || { echo "FAIL: the Python package was not installed" >&2; exit 1; }
    site=$(dirname "$(dirname "$init")")
    case "$site" in
        */lib/python3/dist-packages|*/lib/python3*/site-packages|*/lib/python3*/dist-packages) ;;
        *) echo "FAIL: the package went to $site, not a site-packages directory" >&2; exit 1 ;;
    esac
    [ -f "$site/libvae/_config.py" ] || { echo "FAIL: no libvae/_config.py installed" >&2; exit 1; }
    [ -f "$site/libvae/_capi_h.py" ] || { echo "FAIL: no libvae/_capi_h.py installed" >&2; exit 1; }
    echo "== python package in $site"
    (cd "$tmp" && env -u LD_LIBRARY_PATH -u LIBVAE_LIBRARY -u LIBVAE_BUILD_DIR \
        PYTHONPATH="$site" PYTHONDONTWRITEBYTECODE=1 "$VAE_PYTHON" -c '
import os, sys
import numpy as np
import libvae
site = sys.argv[1]
assert os.path.realpath(libvae.__file__).startswith(os.path.realpath(site)), libvae.__file__
assert os.path.realpath(libvae.library_path).startswith(os.path.realpath(sys.argv[2])), \
    libvae.library_path
assert not any(os.path.exists(os.path.join(p, "gen_capi.py")) for p in sys.path if p), sys.path
x = (np.random.default_rng(0).random((64, 12)) > 0.5).astype(np.float32)
with libvae.Model(input_dim=12, hidden=(8,), latent_dim=2, seed=1) as m:
    st = m.fit(x, epochs=2, batch_size=16)
    assert len(st) == 2 and np.isfinite(st[-1].elbo), st
print("python: libvae", libvae.version(), "from", libvae.library_path)
' "$site" "$stage") || { echo "FAIL: import libvae from the installed package" >&2; exit 1; }
else
    echo "note: no python3 with numpy (VAE_PYTHON=${VAE_PYTHON:-unset}): package not checked"
fi

echo "== compiling install_check.c"
# shellcheck disable=SC2086  # the pkg-config output is a word list
"${cc[@]}" -std=c99 -Wall -Wextra -Werror $cflags "$src" -o "$tmp/install_check" $libs

export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
resolved=$(ldd "$tmp/install_check" | awk '$1 ~ /^libvae\.so/ {print $3}')
echo "== libvae resolves to $resolved"
case "$resolved" in
    "$libdir"/*) ;;
    *) echo "FAIL: the check program does not load the staged libvae" >&2; exit 1 ;;
esac

echo "== running"
"$tmp/install_check"
