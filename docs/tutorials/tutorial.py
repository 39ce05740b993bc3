#!/usr/bin/env python3
"""Tutorials (and guide snippets) that run as tests: the Markdown is the source.

A Markdown file marks its code with HTML comments, invisible when rendered:

  <!-- file: NAME -->        the next fenced code block belongs to file NAME;
                             several blocks of one NAME are concatenated in
                             order, so prose can walk through one program.
  <!-- run -->               the next fenced ```sh block holds the commands a
                             reader types to run the program(s); the test runs
                             each line that starts a program (see below).
  <!-- expect: REGEX -->     each REGEX must match a line of the output of the
                             run commands (Python re.search, per line).

extract MD OUTDIR NAME...
    Write the files of MD into OUTDIR. The NAMEs (what meson.build expects)
    must be exactly the files MD defines, so neither can drift.

run MD [--exe ./PROG=PATH]... [--file NAME=PATH]...
    Run the <!-- run --> commands of MD in a scratch directory and check the
    <!-- expect --> patterns. In a command, ./PROG becomes the built PATH, a
    NAME of an extracted file becomes its PATH, python3 or /usr/bin/python3
    becomes this interpreter, leading VAR=value words are dropped (the test
    environment sets PYTHONPATH and LIBVAE_LIBRARY), and arguments under
    ../shared/data/mnist/ are looked up in $VAE_MNIST_DIR (exit 77, skipped,
    when that directory is missing). Lines starting with cc (compiling, done
    by meson) and comments are skipped.

check MD...
    Only parse: every <!-- file --> and <!-- run --> is followed by a code
    block, every expect is a valid regex.
"""
import os
import re
import shlex
import subprocess
import sys
import tempfile

MARK_RE = re.compile(r"^<!--\s*(file|run|expect)\s*:?\s*(.*?)\s*-->\s*$")
FENCE_RE = re.compile(r"^(```+|~~~+)\s*([\w+-]*)")
MNIST_PREFIX = "../shared/data/mnist/"


class Doc:
    def __init__(self, path):
        self.path = path
        self.files = {}        # name -> text
        self.order = []
        self.run = []          # lines of the run blocks
        self.expect = []       # regexes
        self.parse()

    def fail(self, lineno, msg):
        sys.exit("%s:%d: %s" % (self.path, lineno, msg))

    def parse(self):
        with open(self.path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        pending = None          # ("file", name) or ("run", None)
        i = 0
        while i < len(lines):
            line = lines[i]
            m = MARK_RE.match(line)
            fm = FENCE_RE.match(line)
            if m:
                kind, arg = m.group(1), m.group(2)
                if kind == "expect":
                    try:
                        self.expect.append(re.compile(arg))
                    except re.error as e:
                        self.fail(i + 1, "bad expect regex %r: %s" % (arg, e))
                else:
                    if pending:
                        self.fail(i + 1, "<!-- %s --> not followed by a code block" % pending[0])
                    if kind == "file" and not re.fullmatch(r"[\w.-]+", arg):
                        self.fail(i + 1, "bad file name %r" % arg)
                    pending = (kind, arg, i + 1)
            elif fm:
                fence = fm.group(1)
                j = i + 1
                while j < len(lines) and not lines[j].startswith(fence):
                    j += 1
                if j == len(lines):
                    self.fail(i + 1, "unterminated code block")
                body = "\n".join(lines[i + 1:j]) + "\n"
                if pending and pending[0] == "file":
                    name = pending[1]
                    if name not in self.files:
                        self.order.append(name)
                        self.files[name] = ""
                    self.files[name] += body
                elif pending and pending[0] == "run":
                    if fm.group(2) not in ("sh", "bash", "console"):
                        self.fail(i + 1, "<!-- run --> needs a sh block")
                    self.run += lines[i + 1:j]
                pending = None
                i = j
            elif pending and line.strip():
                self.fail(i + 1, "<!-- %s --> (line %d) not followed by a code block"
                          % (pending[0], pending[2]))
            i += 1
        if pending:
            self.fail(pending[2], "<!-- %s --> not followed by a code block" % pending[0])


def cmd_extract(args):
    md, outdir, names = args[0], args[1], args[2:]
    doc = Doc(md)
    if sorted(names) != sorted(doc.order):
        sys.exit("%s defines files %s, meson.build expects %s"
                 % (md, ", ".join(doc.order) or "none", ", ".join(names) or "none"))
    os.makedirs(outdir, exist_ok=True)
    for name in doc.order:
        path = os.path.join(outdir, name)
        text = doc.files[name]
        old = None
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                old = f.read()
        if old != text:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)


def cmd_run(args):
    md, exes, files = args[0], {}, {}
    rest = args[1:]
    while rest:
        opt, val = rest[0], rest[1]
        k, v = val.split("=", 1)
        (exes if opt == "--exe" else files)[k] = v
        rest = rest[2:]
    doc = Doc(md)
    if not doc.run:
        sys.exit("%s has no <!-- run --> block" % md)
    mnist = os.environ.get("VAE_MNIST_DIR", "")
    # Join continuation lines.
    commands, cur = [], ""
    for line in doc.run:
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        cur += line
        if cur.strip() and not cur.strip().startswith("#"):
            commands.append(cur.strip())
        cur = ""
    base = os.environ.get("VAE_TEST_TMPDIR") or None
    output = []
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        for c in commands:
            words = shlex.split(c)
            while words and re.fullmatch(r"[A-Za-z_]\w*=.*", words[0]):
                words.pop(0)
            if not words or words[0] in ("cc", "gcc", "clang"):
                continue
            argv = []
            for w in words:
                if w in exes:
                    argv.append(exes[w])
                elif w in files:
                    argv.append(files[w])
                elif w in ("python3", "/usr/bin/python3"):
                    argv.append(sys.executable)
                elif w.startswith(MNIST_PREFIX):
                    if not mnist or not os.path.isdir(mnist):
                        print("SKIP: needs MNIST in $VAE_MNIST_DIR (%r)" % mnist)
                        sys.exit(77)
                    argv.append(os.path.join(mnist, w[len(MNIST_PREFIX):]))
                else:
                    argv.append(w)
            if argv[0] == words[0] and not os.path.isabs(argv[0]):
                sys.exit("%s: the run command %r starts no known program (pass --exe %s=PATH)"
                         % (md, c, words[0]))
            print("+ " + " ".join(shlex.quote(a) for a in argv), flush=True)
            r = subprocess.run(argv, cwd=tmp, capture_output=True, text=True, timeout=900)
            sys.stdout.write(r.stdout)
            sys.stderr.write(r.stderr)
            if r.returncode != 0:
                sys.exit("FAIL: %r exited with %d" % (c, r.returncode))
            output += r.stdout.splitlines()
    missing = [e.pattern for e in doc.expect if not any(e.search(line) for line in output)]
    if missing:
        sys.exit("FAIL: no output line matches:\n  " + "\n  ".join(missing))
    print("ok: %d commands, %d expected patterns found" % (len(commands), len(doc.expect)))


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("extract", "run", "check"):
        sys.exit(__doc__)
    if sys.argv[1] == "extract":
        cmd_extract(sys.argv[2:])
    elif sys.argv[1] == "run":
        cmd_run(sys.argv[2:])
    else:
        for md in sys.argv[2:]:
            Doc(md)


if __name__ == "__main__":
    main()
