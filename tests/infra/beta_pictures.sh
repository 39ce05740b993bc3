#!/bin/bash
# beta-VAE pictures and vae-train's beta/collapse flags (suite infra):
#   - vae-train --beta/--free-bits/--warmup/--capacity/--aggressive on the
#     synthetic set prints the epoch lines, 'beta ... beta_norm ...' and one
#     'diagnostics active_units <n> mi <nats> kl_per_dim <list>' line;
#   - --samples-png and, with --latent 2, --manifold-png write PNGs that
#     pngcheck (a PNG decoder from Debian) accepts, of the expected size;
#   - examples/beta-traverse writes a valid traversal PNG (skipped without MNIST);
#   - bad values of the new flags are refused with status 2.
# usage: beta_pictures.sh VAE_TRAIN BETA_TRAVERSE
set -euo pipefail
train=$1 traverse=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
die() { echo "FAIL: $*" >&2; exit 1; }
NUM='-?[0-9]+(\.[0-9]+)?'

"$train" --epochs 2 --latent 2 --beta 2 --free-bits 0.1 --warmup 5 \
    --samples-png "$tmp/s.png" --manifold-png "$tmp/m.png" > "$tmp/out"
cat "$tmp/out"
[ "$(grep -c '^epoch ' "$tmp/out")" -eq 2 ] || die "expected 2 epoch lines"
grep -Eq "^beta 2 beta_norm 0.00510204$" "$tmp/out" || die "beta_norm line missing or wrong (2*2/784)"
grep -Eq "^diagnostics active_units [0-2] mi $NUM kl_per_dim $NUM,$NUM\$" "$tmp/out" || die "diagnostics line"
pngcheck "$tmp/s.png" | grep -q "OK: .*(298x298, 8-bit grayscale" || die "samples PNG"
pngcheck "$tmp/m.png" | grep -q "OK: .*(598x598, 8-bit grayscale" || die "manifold PNG"

"$train" --epochs 1 --capacity 5:100:50 --latent 3 > "$tmp/out"
grep -Eq "^diagnostics active_units [0-3] mi $NUM kl_per_dim $NUM,$NUM,$NUM\$" "$tmp/out" || die "capacity run"
"$train" --epochs 2 --aggressive --latent 3 --cyclical 20:0.5:2 > "$tmp/out" 2> "$tmp/err"
grep -q "^diagnostics " "$tmp/out" || die "aggressive run"

for bad in "--beta -1" "--capacity 5:100" "--capacity 5:0:1" "--free-bits x" "--warmup 0" \
           "--cyclical 10:1.5" "--manifold-png $tmp/x.png --latent 3"; do
    set +e
    # shellcheck disable=SC2086
    "$train" --epochs 1 $bad > "$tmp/out" 2> "$tmp/err"
    rc=$?
    set -e
    [ "$rc" -ne 0 ] || die "'$bad' was accepted"
    [ -s "$tmp/err" ] || die "'$bad' gave no message"
done

if [ -n "${VAE_MNIST_DIR:-}" ] && [ -r "$VAE_MNIST_DIR/t10k-images-idx3-ubyte.gz" ]; then
    "$traverse" --mnist "$VAE_MNIST_DIR" --epochs 1 --latent 4 --out "$tmp/t.png" > "$tmp/out"
    cat "$tmp/out"
    [ "$(grep -c '^dimension ' "$tmp/out")" -eq 4 ] || die "traversal rows"
    pngcheck "$tmp/t.png" | grep -q "OK: .*(328x118, 8-bit grayscale" || die "traversal PNG"
else
    echo "no MNIST: beta-traverse not run"
fi
echo ok
