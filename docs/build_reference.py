#!/usr/bin/env python3
"""Build the API reference with Doxygen and fail on any warning.

Fills in docs/Doxyfile.in, runs doxygen, prints its warnings and exits 1
if there were any (or doxygen failed), so an undocumented public function,
parameter, return value, struct member or enum value breaks the build.
Then runs check_api_docs.py on vae.h and vae_mpi.h (the rules Doxygen cannot check).

usage: build_reference.py DOXYGEN SOURCE_ROOT BUILD_ROOT OUTPUT_DIR
  OUTPUT_DIR receives html/ (the reference) and doxygen-warnings.log.
"""
import os
import re
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    doxygen, src_root, build_root, out = sys.argv[1:]
    src_root, build_root = os.path.abspath(src_root), os.path.abspath(build_root)
    out = os.path.abspath(out)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(src_root, "meson.build"), encoding="utf-8") as f:
        head = f.read(400)
    version = head.split("version : '", 1)[1].split("'", 1)[0]
    values = {
        "VERSION": version,
        "OUTPUT_DIR": out,
        "SRC_INCLUDE": os.path.join(src_root, "include"),
        "BUILD_INCLUDE": os.path.join(build_root, "include"),
        "MAINPAGE": os.path.join(src_root, "docs", "reference", "mainpage.md"),
        "WARN_LOG": os.path.join(out, "doxygen-warnings.log"),
    }
    with open(os.path.join(src_root, "docs", "Doxyfile.in"), encoding="utf-8") as f:
        text = f.read()
    for k, v in values.items():
        text = text.replace("@" + k + "@", v)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        sys.exit("Doxyfile.in: %s left unreplaced" % ", ".join(sorted(set(left))))
    doxyfile = os.path.join(out, "Doxyfile")
    with open(doxyfile, "w", encoding="utf-8") as f:
        f.write(text)
    version_h = os.path.join(build_root, "include", "libvae", "vae_version.h")
    if not os.path.exists(version_h):
        sys.exit("missing %s: configure the build first" % version_h)

    r = subprocess.run([doxygen, doxyfile], cwd=out, capture_output=True, text=True)
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    with open(values["WARN_LOG"], encoding="utf-8") as f:
        warnings = f.read().strip()
    status = 0
    if warnings:
        print("FAIL: doxygen warnings (%s):\n%s" % (values["WARN_LOG"], warnings), file=sys.stderr)
        status = 1
    if r.returncode != 0:
        print("FAIL: doxygen exited with %d" % r.returncode, file=sys.stderr)
        status = 1
    index = os.path.join(out, "html", "index.html")
    if status == 0 and not os.path.exists(index):
        print("FAIL: doxygen wrote no %s" % index, file=sys.stderr)
        status = 1
    r = subprocess.run([sys.executable, os.path.join(here, "check_api_docs.py")] +
                       [os.path.join(src_root, "include", "libvae", h)
                        for h in ("vae.h", "vae_mpi.h")])
    if r.returncode != 0:
        status = 1
    if status == 0:
        print("ok: reference in %s, no warnings" % os.path.join(out, "html"))
    sys.exit(status)


if __name__ == "__main__":
    main()
