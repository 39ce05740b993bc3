#!/usr/bin/python3
"""Check the layer rule of docs/design.md: a layer never includes a higher one.

The layer order is read from the table under "## Layers" in docs/design.md:
one row per layer, top (most basic) first; the first word of the first
column names the layer, and every `src/<dir>/` in the second column maps
that source directory to it. Each layer may include only its own headers
and those of the layers listed above it (rows with the same name, like the
two "models" rows, are one layer). That table is the single list: to add a
directory (src/core, src/families, ...), add or extend its row there.

Then every `#include "dir/file.h"` under src/ is compared with that order.
Includes of the public headers ("libvae/...") and of files in the same
directory ("mpi_internal.h") are always allowed. A directory under src/
that the table does not name is an error too, so a new layer cannot slip
in unchecked.

Usage: layers.py [--root DIR] [--order a,b,c] [--self-test]
  --root       the source tree (default: two levels above this script)
  --order      use this order instead of the table (to try a change)
  --self-test  also check that a deliberately wrong include is caught
Exit status 0 when the rule holds, 1 with one line per violation otherwise.
"""
import argparse
import os
import re
import shutil
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"/]+)/[^"]+"', re.M)
ALWAYS_ALLOWED = {"libvae"}  # the public headers


def read_order(design_path):
    """[(layer, [dirs...]), ...] from the Layers table, top first."""
    with open(design_path, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^## Layers\s*$(.*?)(?=^## )", text, re.M | re.S)
    if not m:
        raise SystemExit(f"{design_path}: no '## Layers' section")
    order = []
    for line in m.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not line.lstrip().startswith("|"):
            continue
        if cells[0] in ("layer", "") or set(cells[0]) <= set("-: "):
            continue
        name = cells[0].split()[0]
        dirs = re.findall(r"src/([A-Za-z0-9_]+)/", cells[1])
        order.append((name, dirs))
    if not order:
        raise SystemExit(f"{design_path}: the Layers table has no rows")
    return order


def rank_of_dirs(order):
    """dir -> rank (the row index of the layer's first row)."""
    first_row = {}
    ranks = {}
    for i, (name, dirs) in enumerate(order):
        r = first_row.setdefault(name, i)
        for d in dirs:
            ranks.setdefault(d, r)
    return ranks


def check(root, ranks):
    src = os.path.join(root, "src")
    problems = []
    for d in sorted(os.listdir(src)):
        if os.path.isdir(os.path.join(src, d)) and d not in ranks:
            problems.append(f"src/{d}/: not in the Layers table of docs/design.md "
                            f"(add a row, or add it to a layer's files)")
    for dirpath, _, files in os.walk(src):
        for fn in sorted(files):
            if not fn.endswith((".c", ".h")):
                continue
            path = os.path.join(dirpath, fn)
            rel = os.path.relpath(path, root)
            own = os.path.relpath(path, src).split(os.sep)[0]
            if own not in ranks:
                continue  # reported above
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            for m in INCLUDE.finditer(text):
                inc = m.group(1)
                if inc in ALWAYS_ALLOWED or inc == own:
                    continue
                lineno = text.count("\n", 0, m.start()) + 1
                if inc not in ranks:
                    problems.append(f"{rel}:{lineno}: includes {inc}/, "
                                    f"which the Layers table does not name")
                elif ranks[inc] > ranks[own]:
                    problems.append(f"{rel}:{lineno}: {own} includes {inc}/, a higher layer "
                                    f"(docs/design.md: a layer uses only the ones above it)")
    return problems


def self_test(root, ranks):
    """A copy of src/ with a wrong include (tensor including models) must fail."""
    lowest = min(ranks, key=lambda d: ranks[d])
    highest = max(ranks, key=lambda d: ranks[d])
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(os.path.join(root, "src"), os.path.join(tmp, "src"))
        bad = os.path.join(tmp, "src", lowest, "layers_selftest.c")
        with open(bad, "w", encoding="utf-8") as f:
            f.write(f'#include "{highest}/anything.h"\n')
        problems = check(tmp, ranks)
    return any("layers_selftest.c" in p for p in problems)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.path.normpath(os.path.join(here, "..", "..")))
    ap.add_argument("--order", help="comma-separated directories, top first")
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args()
    if a.order:
        ranks = {d: i for i, d in enumerate(a.order.split(","))}
    else:
        ranks = rank_of_dirs(read_order(os.path.join(a.root, "docs", "design.md")))
    problems = check(a.root, ranks)
    for p in problems:
        print(p)
    if a.self_test and not self_test(a.root, ranks):
        print("self-test: a deliberately wrong include was not caught")
        problems.append("self-test")
    if problems:
        return 1
    order = sorted(ranks, key=lambda d: (ranks[d], d))
    print("layer rule holds:", " < ".join(order))
    return 0


if __name__ == "__main__":
    sys.exit(main())
