#!/usr/bin/env bash
# ABI test: the symbols libvae.so exports must be exactly docs/abi.txt, the
# vae_* functions declared in include/libvae/vae.h must be exactly the same
# list, and the SONAME must be libvae.so.<major>.
#
# usage: abi_check.sh LIBVAE_SO ABI_TXT VAE_H MAJOR
# After an intended API change, regenerate the list with
#   nm -D --defined-only build/src/libvae.so | awk '{print $3}' | LC_ALL=C sort > docs/abi.txt
set -euo pipefail
export LC_ALL=C

lib=$1 abi=$2 header=$3 major=$4
tmp=$(mktemp -d "${VAE_TEST_TMPDIR:-${TMPDIR:-/tmp}}/abi-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0

# 1. exported symbols == docs/abi.txt
nm -D --defined-only "$lib" > "$tmp/nm.txt"
awk '{print $NF}' "$tmp/nm.txt" | sort > "$tmp/exported.txt"
grep -v '^[[:space:]]*$' "$abi" > "$tmp/abi.txt" || true
if ! sort -c "$tmp/abi.txt" 2>/dev/null; then
    echo "FAIL: $abi is not sorted (LC_ALL=C sort)" >&2
    fail=1
fi
if ! diff -u "$tmp/abi.txt" "$tmp/exported.txt" > "$tmp/abi.diff"; then
    echo "FAIL: the exported symbols differ from $abi (- documented, + exported):" >&2
    cat "$tmp/abi.diff" >&2
    fail=1
else
    echo "ok: $(wc -l < "$tmp/exported.txt") exported symbols match docs/abi.txt"
fi

# 2. only vae_* functions (type T) are exported
if awk '$(NF-1) != "T" || $NF !~ /^vae_[a-z0-9_]+$/' "$tmp/nm.txt" | grep .; then
    echo "FAIL: the lines above are exported symbols that are not vae_* functions" >&2
    fail=1
else
    echo "ok: every exported symbol is a vae_* function"
fi

# 3. declared in the header == docs/abi.txt
# Every public prototype starts a line with VAE_API; the name is the
# identifier just before the first '('.
grep -E '^VAE_API[[:space:]]' "$header" \
    | sed -E 's/^([^(]*[^A-Za-z0-9_])(vae_[A-Za-z0-9_]+)[[:space:]]*\(.*/\2/' \
    | sort -u > "$tmp/declared.txt"
if grep -v '^vae_' "$tmp/declared.txt"; then
    echo "FAIL: could not parse the VAE_API declarations above" >&2
    fail=1
fi
if ! diff -u "$tmp/abi.txt" "$tmp/declared.txt" > "$tmp/decl.diff"; then
    echo "FAIL: functions declared in vae.h differ from $abi (- documented, + declared):" >&2
    cat "$tmp/decl.diff" >&2
    fail=1
else
    echo "ok: $(wc -l < "$tmp/declared.txt") functions declared in vae.h match docs/abi.txt"
fi

# 4. SONAME
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
if [ "$soname" != "libvae.so.$major" ]; then
    echo "FAIL: SONAME is '$soname', expected libvae.so.$major" >&2
    fail=1
else
    echo "ok: SONAME $soname"
fi
exit $fail
