#!/usr/bin/python3
"""No merge-conflict markers in the source tree's text files.

A merge that is committed with its conflict unresolved leaves lines that
start with seven '<', '=' or '>' characters; in a Markdown file nothing
else fails on them (docs/python.md carried one for a session). Usage:
merge_markers.py SOURCE_ROOT. Build directories (any directory holding
meson-private) and .git are skipped."""
import os
import re
import sys

MARKER = re.compile(rb"^(<<<<<<< |=======$|>>>>>>> )", re.M)
TEXT = (".c", ".h", ".in", ".md", ".py", ".sh", ".build", ".txt", ".toml", ".1", ".json")


def main():
    root = sys.argv[1]
    bad, seen = [], 0
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if x != ".git" and not os.path.isdir(os.path.join(d, x, "meson-private"))]
        for f in files:
            if not f.endswith(TEXT) and f not in ("meson_options.txt", "LICENSE"):
                continue
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                data = fh.read()
            seen += 1
            if b"<<<<<<< " not in data and b">>>>>>> " not in data:
                continue  # a lone ======= is a Markdown heading underline
            for m in MARKER.finditer(data):
                line = data.count(b"\n", 0, m.start()) + 1
                bad.append("%s:%d: %s" % (os.path.relpath(p, root), line, m.group(0).decode().strip()))
    for b in bad:
        print("merge marker:", b)
    print("%d text files checked, %d merge markers" % (seen, len(bad)))
    if seen < 50:
        print("too few files found: wrong root?")
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
