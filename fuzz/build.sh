#!/usr/bin/env bash
# Build the libFuzzer targets with a plain clang command line (no meson
# option is needed): the library's sources are compiled once with
# -fsanitize=fuzzer-no-link,address,undefined, then each target is linked
# with -fsanitize=fuzzer,address,undefined.
#
#   fuzz/build.sh [-b BUILD_DIR] [-o OUT_DIR] [--corpus]
#
#   -b BUILD_DIR  an existing meson build dir: only its generated
#                 include/libvae/vae_version.h is used (default: build)
#   -o OUT_DIR    where the fuzzers go (default: BUILD_DIR/fuzz)
#   --corpus      also build make-corpus and regenerate fuzz/corpus/
#
# Needs clang and libFuzzer's runtime (Debian: clang, libclang-rt-14-dev),
# OpenBLAS and zlib development files. CC overrides the compiler.
set -euo pipefail

CALLER=$(pwd)
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# Relative paths in the options are taken from the caller's directory.
abspath() { case "$1" in /*) echo "$1" ;; *) echo "$CALLER/$1" ;; esac; }
BUILD=build
OUT=
CORPUS=0
while [ $# -gt 0 ]; do
    case "$1" in
    -b) BUILD=$2; shift 2 ;;
    -o) OUT=$2; shift 2 ;;
    --corpus) CORPUS=1; shift ;;
    *) echo "usage: $0 [-b BUILD_DIR] [-o OUT_DIR] [--corpus]" >&2; exit 2 ;;
    esac
done
BUILD=$(abspath "$BUILD")
OUT=$(abspath "${OUT:-$BUILD/fuzz}")
CC=${CC:-clang}

if [ ! -f "$BUILD/include/libvae/vae_version.h" ]; then
    echo "fuzz/build.sh: $BUILD/include/libvae/vae_version.h is missing (run meson setup $BUILD first)" >&2
    exit 1
fi

BLAS_CFLAGS=$(pkg-config --cflags openblas zlib)
BLAS_LIBS=$(pkg-config --libs openblas zlib)
CFLAGS=(-std=c11 -g -O1 -fno-omit-frame-pointer -fno-math-errno
        -DVAE_BUILDING_LIBRARY=1 -DVAE_HAVE_OPENBLAS=1
        -I"$ROOT/include" -I"$ROOT/src" -I"$BUILD/include" $BLAS_CFLAGS)
SAN=address,undefined
# UBSan findings abort (libFuzzer then reports them) instead of printing and going on.
NORECOVER=-fno-sanitize-recover=undefined
LIBS=($BLAS_LIBS -lm -lpthread)

mkdir -p "$OUT/obj"
# The targets, one name each (fuzz_<name>.c, corpus/<name>/): fuzz/targets.
read -r -a TARGETS <"$ROOT/fuzz/targets"
# The core library only: src/mpi is the optional companion libvae_mpi.
mapfile -t SOURCES < <(find "$ROOT/src" -path "$ROOT/src/mpi" -prune -o -name '*.c' -print | sort)
OBJS=()
for src in "${SOURCES[@]}"; do
    rel=${src#"$ROOT/src/"}
    obj="$OUT/obj/${rel//\//_}.o"
    "$CC" "${CFLAGS[@]}" -fsanitize=fuzzer-no-link,$SAN $NORECOVER -c "$src" -o "$obj"
    OBJS+=("$obj")
done

for t in "${TARGETS[@]}"; do
    "$CC" "${CFLAGS[@]}" -fsanitize=fuzzer,$SAN $NORECOVER "$ROOT/fuzz/fuzz_$t.c" "${OBJS[@]}" \
        "${LIBS[@]}" -o "$OUT/fuzz-$t"
    echo "built $OUT/fuzz-$t"
done

if [ "$CORPUS" = 1 ]; then
    # The generator is an ordinary program: the same objects, no fuzzer main.
    "$CC" "${CFLAGS[@]}" -fsanitize=fuzzer-no-link,$SAN "$ROOT/fuzz/make_corpus.c" "${OBJS[@]}" \
        "${LIBS[@]}" -lz -o "$OUT/make-corpus"
    for t in "${TARGETS[@]}"; do
        rm -rf "$ROOT/fuzz/corpus/$t"
        mkdir -p "$ROOT/fuzz/corpus/$t"
    done
    "$OUT/make-corpus" "$ROOT/fuzz/corpus"
    echo "regenerated $ROOT/fuzz/corpus"
fi
