#!/usr/bin/env bash
# Smoke tests of examples/vae-train (run by meson test, suite infra).
#
# usage: smoke.sh MODE VAE_TRAIN
#   synthetic   no --data: 2 epochs on the built-in set, 2 well-formed lines
#   mnist       1 epoch on real MNIST ($VAE_MNIST_DIR), test_elbo > -200
#   help        --help exits 0 and prints the usage
#   badflags    invalid arguments exit nonzero with a message on stderr
#   saveload    --save, then --load with --epochs 0 and 1
#   acceptance  the 10-epoch MNIST run must reach test_elbo >= -122
#   ae          --model ae with --code-l2 and --corrupt: 2 well-formed lines,
#               save and resume exactly; --model ae --eval-ll is refused
#   conddiag    a conditional VAE (--labels, --conditional learned-prior) with
#               --diagnostics on MNIST: the diagnostics line is printed
# Exit 77 (skip) when the MNIST directory is missing (a directory without
# the images file is a failure).
set -euo pipefail

mode=$1 exe=$2
tmp=$(mktemp -d "${VAE_TEST_TMPDIR:-${TMPDIR:-/tmp}}/smoke-$mode.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The contract: one line per epoch, nothing else on stdout.
NUM='-?[0-9]+(\.[0-9]+)?'
LINE_RE="^epoch [0-9]+ time [0-9.]+ samples/s [0-9.]+ train_elbo $NUM test_elbo $NUM\$"
MNIST_LINE_RE='^epoch [0-9]+ time [0-9.]+ samples/s [0-9.]+ train_elbo -[0-9.]+ test_elbo -[0-9.]+$'

die() { echo "FAIL: $*" >&2; exit 1; }

run() {  # run ARGS...: stdout to $tmp/out, stderr to $tmp/err, status in $rc
    echo "+ vae-train $*"
    set +e
    "$exe" "$@" > "$tmp/out" 2> "$tmp/err"
    rc=$?
    set -e
    sed 's/^/  stdout: /' "$tmp/out"
    sed 's/^/  stderr: /' "$tmp/err"
}

check_lines() {  # check_lines N REGEX [FIRST]: exactly N lines, epochs FIRST.. (default 1), all matching
    local n=$1 re=$2
    [ "$rc" -eq 0 ] || die "exit status $rc"
    [ "$(wc -l < "$tmp/out")" -eq "$n" ] || die "expected $n lines on stdout"
    local i=${3:-1}
    while IFS= read -r line; do
        [[ $line =~ $re ]] || die "line does not match the output contract: '$line'"
        [[ $line == "epoch $i "* ]] || die "expected epoch $i: '$line'"
        i=$((i + 1))
    done < "$tmp/out"
}

field() {  # field NAME [LINE]: the value after NAME on the last (or given) line
    tail -n "${2:-1}" "$tmp/out" | head -n1 | awk -v k="$1" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}'
}

need_mnist() {
    mnist=${VAE_MNIST_DIR:-}
    images=$mnist/t10k-images-idx3-ubyte.gz
    if [ -z "$mnist" ] || [ ! -d "$mnist" ]; then
        echo "SKIP: no MNIST directory '${mnist}' (set VAE_MNIST_DIR or -Dmnist_dir)"
        exit 77
    fi
    [ -r "$images" ] || die "the MNIST directory exists but $images is missing"
}

case "$mode" in
synthetic)
    run --epochs 2 --seed 3
    check_lines 2 "$LINE_RE"
    [ ! -s "$tmp/err" ] || die "unexpected stderr output"
    ;;
mnist)
    need_mnist
    run --data "$images" --holdout 1000 --epochs 1 --threads 2
    check_lines 1 "$MNIST_LINE_RE"
    te=$(field test_elbo)
    awk -v v="$te" 'BEGIN { exit !(v > -200) }' || die "test_elbo $te is not > -200"
    echo "ok: test_elbo $te after 1 epoch"
    ;;
help)
    run --help
    [ "$rc" -eq 0 ] || die "--help exit status $rc"
    grep -q '^usage: vae-train' "$tmp/out" || die "--help printed no usage on stdout"
    for opt in --data --holdout --epochs --threads --save --load; do
        grep -q -- "$opt" "$tmp/out" || die "--help does not mention $opt"
    done
    ;;
badflags)
    bad_cases=(
        "--latent 0"
        "--latent=0"
        "--optimizer bogus"
        "--data /nonexistent/images.idx.gz"
        "--epochs -1"
        "--batch 0"
        "--threads 0"
        "--hidden 400,x"
        "--lr -1"
        "--no-such-flag"
        "--load /nonexistent/model.ckpt --epochs 0"
        "--epochs 1 stray-argument"
        "--model bogus"
        "--corrupt gaussian:-1"
        "--corrupt blur:0.5"
        "--code-l2 -1"
        "--model vae --code-l2 0.5"
    )
    for args in "${bad_cases[@]}"; do
        # shellcheck disable=SC2086  # each case is a word list
        run $args
        [ "$rc" -ne 0 ] || die "'$args' exited 0"
        [ "$rc" -lt 128 ] || die "'$args' died from a signal (status $rc)"
        [ -s "$tmp/err" ] || die "'$args' printed nothing on stderr"
        [ ! -s "$tmp/out" ] || die "'$args' printed epoch lines on stdout"
    done
    ;;
saveload)
    ck=$tmp/model.ckpt
    run --epochs 1 --seed 5 --save "$ck"
    check_lines 1 "$LINE_RE"
    [ -s "$ck" ] || die "no checkpoint written"
    run --load "$ck" --epochs 0
    [ "$rc" -eq 0 ] || die "--load --epochs 0 exit status $rc"
    [ ! -s "$tmp/out" ] || die "--epochs 0 printed epoch lines"
    run --load "$ck" --epochs 1 --save "$tmp/model2.ckpt"
    check_lines 1 "$LINE_RE" 2  # the numbering goes on from the checkpoint's epoch
    [ -s "$tmp/model2.ckpt" ] || die "no second checkpoint written"
    # Resuming is exact: 1 + 1 epochs from a checkpoint == 2 epochs straight.
    run --epochs 2 --seed 5
    check_lines 2 "$LINE_RE"
    straight=$(tail -n1 "$tmp/out" | sed 's/ time [^ ]* samples\/s [^ ]*//; s/^epoch [0-9]* //')
    run --load "$ck" --epochs 1
    resumed=$(tail -n1 "$tmp/out" | sed 's/ time [^ ]* samples\/s [^ ]*//; s/^epoch [0-9]* //')
    echo "straight: $straight"
    echo "resumed:  $resumed"
    [ "$straight" = "$resumed" ] || die "resuming from the checkpoint does not continue the run exactly"
    ;;
ae)
    ck=$tmp/ae.ckpt
    flags=(--model ae --code-l2 0.01 --corrupt mask:0.3 --hidden 64 --latent 8 --seed 4)
    run "${flags[@]}" --epochs 2
    check_lines 2 "$LINE_RE"
    straight=$(tail -n1 "$tmp/out" | sed 's/ time [^ ]* samples\/s [^ ]*//; s/^epoch [0-9]* //')
    run "${flags[@]}" --epochs 1 --save "$ck"
    check_lines 1 "$LINE_RE"
    run --load "$ck" --epochs 1
    resumed=$(tail -n1 "$tmp/out" | sed 's/ time [^ ]* samples\/s [^ ]*//; s/^epoch [0-9]* //')
    [ "$straight" = "$resumed" ] || die "resumed AE '$resumed' differs from '$straight'"
    for c in gaussian:0.5 saltpepper:0.2; do
        run --model vae --corrupt "$c" --hidden 32 --latent 4 --epochs 1
        check_lines 1 "$LINE_RE"
    done
    run --model ae --epochs 1 --eval-ll 5 --hidden 32
    [ "$rc" -ne 0 ] || die "--model ae --eval-ll exited 0"
    grep -q "autoencoder" "$tmp/err" || die "no message naming the autoencoder"
    ;;
conddiag)
    need_mnist
    labels=$mnist/t10k-labels-idx1-ubyte.gz
    [ -r "$labels" ] || die "the MNIST directory exists but $labels is missing"
    run --data "$images" --labels "$labels" --conditional learned-prior --diagnostics \
        --holdout 500 --hidden 64 --latent 4 --epochs 1 --threads 2
    [ "$rc" -eq 0 ] || die "exit status $rc"
    [ "$(wc -l < "$tmp/out")" -eq 2 ] || die "expected an epoch line and the diagnostics line"
    head -n1 "$tmp/out" | grep -Eq "$MNIST_LINE_RE" || die "bad epoch line"
    DIAG_RE="^diagnostics active_units [0-4] mi $NUM kl_per_dim ($NUM,){3}$NUM\$"
    tail -n1 "$tmp/out" | grep -Eq "$DIAG_RE" || die "no well-formed diagnostics line"
    ! grep -q "no diagnostics line" "$tmp/err" || die "the diagnostics were refused"
    echo "ok: $(tail -n1 "$tmp/out")"
    ;;
acceptance)
    need_mnist
    run --data "$images" --holdout 1000 --hidden 400 --latent 20 --batch 100 \
        --optimizer adam --lr 1e-3 --epochs 10 --seed 1 --threads 2
    check_lines 10 "$MNIST_LINE_RE"
    te=$(field test_elbo)
    awk -v v="$te" 'BEGIN { exit !(v >= -122.0) }' || die "final test_elbo $te < -122.0"
    echo "ok: test_elbo $te after 10 epochs (>= -122.0)"
    ;;
conv-acceptance)
    # The convolutional VAE of docs/networks.md; PyTorch 1.13 with this
    # architecture reaches about -115.7 (two of three seeds).
    need_mnist
    run --data "$images" --holdout 1000 --latent 20 --batch 100 \
        --encoder 'conv2d(32,4,2,1) relu conv2d(64,4,2,1) relu flatten dense(256) relu' \
        --decoder 'dense(256) relu dense(3136) relu reshape(64,7,7) convT2d(32,4,2,1) relu convT2d(1,4,2,1)' \
        --optimizer adam --lr 1e-3 --epochs 10 --seed 1 --threads 2
    check_lines 10 "$MNIST_LINE_RE"
    te=$(field test_elbo)
    awk -v v="$te" 'BEGIN { exit !(v >= -118.0) }' || die "final test_elbo $te < -118.0"
    echo "ok: convolutional VAE test_elbo $te after 10 epochs (>= -118.0)"
    ;;
*)
    echo "unknown mode $mode" >&2
    exit 2
    ;;
esac
