#!/bin/sh
# Run a program, or skip (exit 77, meson's "skipped") when its data file is
# missing: the example programs never exit 77 themselves (examples/cli.h).
# usage: skip_without.sh FILE PROGRAM [ARGS...]
f=$1
shift
[ -r "$f" ] || { echo "SKIP: no $f"; exit 77; }
exec "$@"
