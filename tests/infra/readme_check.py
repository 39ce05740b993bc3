#!/usr/bin/env python3
"""README consistency test.

1. The C block of README.md ("```c" ... "```", the only one) must be
   byte-for-byte tests/infra/readme_example.c, which meson compiles and links
   against libvae; so the README example always builds. On a mismatch the
   diff is printed.
2. The README's quick-start commands must be run verbatim by .ci/run, and
   the package list they use (.ci/packages) must be well formed.
3. The compiled example runs for one epoch on MNIST (exit 77, skipped, when
   the $VAE_MNIST_DIR directory is missing) and must print a sensible ELBO.

usage: readme_check.py SOURCE_ROOT EXAMPLE_EXE
"""
import difflib
import os
import re
import subprocess
import sys
import tempfile


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def code_blocks(text, lang):
    return re.findall(r"^```" + lang + r"\n(.*?)^```\s*$", text, re.S | re.M)


def main():
    root, exe = sys.argv[1], sys.argv[2]
    with open(os.path.join(root, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    with open(os.path.join(root, "tests", "infra", "readme_example.c"), encoding="utf-8") as f:
        example = f.read()

    # 1. README C example == readme_example.c
    blocks = code_blocks(readme, "c")
    if len(blocks) != 1:
        fail("README.md should have exactly one ```c block, found %d" % len(blocks))
    if blocks[0] != example:
        diff = difflib.unified_diff(example.splitlines(True), blocks[0].splitlines(True),
                                    "tests/infra/readme_example.c", "README.md (```c block)")
        sys.stderr.writelines(diff)
        fail("the README example and tests/infra/readme_example.c differ")
    print("ok: README example == tests/infra/readme_example.c")

    # 2. quick start == what CI runs
    with open(os.path.join(root, ".ci", "run"), encoding="utf-8") as f:
        ci_lines = [line.strip() for line in f]
    sh = [b.strip() for b in code_blocks(readme, "sh")]
    quick = [b for b in sh if b.startswith("sudo apt-get") and "\n" not in b]
    if len(quick) != 1:
        fail("README.md should have one single-line quick-start block starting with 'sudo apt-get'")
    quick = quick[0]
    if "$(grep -v '^#' .ci/packages)" not in quick:
        fail("the quick start does not install $(grep -v '^#' .ci/packages)")
    build_part = quick[quick.index("meson setup build"):]
    if build_part not in ci_lines:
        fail(".ci/run does not run the README quick start verbatim:\n  " + build_part)
    test_cmd = "meson test -C build --print-errorlogs"
    if test_cmd not in sh:
        fail("README.md has no block with exactly '%s'" % test_cmd)
    if test_cmd not in ci_lines:
        fail(".ci/run does not run the README test command '%s'" % test_cmd)
    with open(os.path.join(root, ".ci", "packages"), encoding="utf-8") as f:
        pkgs = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    for p in pkgs:
        if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]*", p):
            fail(".ci/packages: bad package name or inline comment: %r" % p)
    print("ok: .ci/run runs the README commands; %d packages in .ci/packages" % len(pkgs))

    # 3. run the example
    mnist = os.environ.get("VAE_MNIST_DIR", "")
    images = os.path.join(mnist, "t10k-images-idx3-ubyte.gz")
    if not mnist or not os.path.isdir(mnist):
        print("SKIP: running the example needs MNIST in $VAE_MNIST_DIR (%r)" % mnist)
        sys.exit(77)
    if not os.path.exists(images):
        fail("the MNIST directory exists but %s is missing" % images)
    base = os.environ.get("VAE_TEST_TMPDIR") or None
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        ckpt = os.path.join(tmp, "vae.ckpt")
        r = subprocess.run([exe], capture_output=True, text=True)
        if r.returncode != 2 or "usage" not in r.stderr:
            fail("the example without arguments should print its usage and exit 2")
        r = subprocess.run([exe, images, ckpt, "1"], capture_output=True, text=True,
                           timeout=600)
        sys.stdout.write(r.stdout)
        sys.stderr.write(r.stderr)
        if r.returncode != 0:
            fail("the example exited with %d" % r.returncode)
        m = re.fullmatch(r"epoch 1 train_elbo (-[0-9.]+) test_elbo (-[0-9.]+) "
                         r"\(rec -[0-9.]+ kl [0-9.]+\) nats\n", r.stdout)
        if not m:
            fail("unexpected output %r" % r.stdout)
        if not float(m.group(2)) > -200:
            fail("test ELBO %s after one epoch is not > -200" % m.group(2))
        if not os.path.getsize(ckpt) > 0:
            fail("no checkpoint written")
        r = subprocess.run([exe, os.path.join(tmp, "missing.gz"), ckpt, "1"],
                           capture_output=True, text=True)
        if r.returncode == 0 or not r.stderr.strip():
            fail("the example should fail with a message on a missing file")
    print("ok: the example trains, evaluates and saves")


if __name__ == "__main__":
    main()
