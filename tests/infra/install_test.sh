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
