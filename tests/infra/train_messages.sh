#!/bin/bash
# vae-train's messages name each thing once and point at flags, not C calls
# (issue 19): a failed --save names the path once; --load of a conditional
# checkpoint without --conditional says to add --conditional.
# Usage: train_messages.sh VAE_TRAIN
set -euo pipefail
exe=$1
tmp=$(mktemp -d "${VAE_TEST_TMPDIR:-${TMPDIR:-/tmp}}/train-messages.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
die() { echo "FAIL: $*" >&2; exit 1; }

# 40 images of 4 x 4 bytes and their labels 0..3, as IDX files.
/usr/bin/python3 - "$tmp" <<'PY'
import struct, sys
d = sys.argv[1]
n = 40
with open(d + "/img.idx", "wb") as f:
    f.write(struct.pack(">BBBBIII", 0, 0, 8, 3, n, 4, 4))
    f.write(bytes(((i * 37 + j * 11) % 256) for i in range(n) for j in range(16)))
with open(d + "/lab.idx", "wb") as f:
    f.write(struct.pack(">BBBBI", 0, 0, 8, 1, n))
    f.write(bytes(i % 4 for i in range(n)))
PY

# --save into a missing directory: the path appears once in the message.
bad="$tmp/missing-dir/model.ckpt"
set +e
"$exe" --data "$tmp/img.idx" --epochs 1 --hidden 8 --latent 2 --save "$bad" \
    > /dev/null 2> "$tmp/err"
rc=$?
set -e
cat "$tmp/err"
[ "$rc" -ne 0 ] || die "--save into a missing directory succeeded"
count=$(grep -o -F "$bad" "$tmp/err" | wc -l)
[ "$count" -eq 1 ] || die "the --save message names the path $count times"
grep -q -- "--save" "$tmp/err" || die "the --save message does not name the flag"

# A conditional checkpoint loaded without --conditional: the hint is the flag.
ck="$tmp/cond.ckpt"
"$exe" --data "$tmp/img.idx" --labels "$tmp/lab.idx" --conditional independent --epochs 1 \
    --hidden 8 --latent 2 --save "$ck" > /dev/null
set +e
"$exe" --data "$tmp/img.idx" --labels "$tmp/lab.idx" --load "$ck" --epochs 1 > /dev/null \
    2> "$tmp/err"
rc=$?
set -e
cat "$tmp/err"
[ "$rc" -ne 0 ] || die "a conditional checkpoint trained without --conditional"
grep -q -- "--conditional" "$tmp/err" || die "the message does not point at --conditional"
if grep -q "vae_[a-z_]*(" "$tmp/err" || grep -q "vae_dataset_set" "$tmp/err"; then
    die "the message names a C function instead of a flag"
fi
echo "ok"
