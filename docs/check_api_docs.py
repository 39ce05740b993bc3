#!/usr/bin/env python3
"""Check the doc comments of a public header beyond what Doxygen checks.

Doxygen (docs/build_reference.py) fails on undocumented symbols, parameters
and return values. This script needs no Doxygen and adds libvae's own rules
(docs/design.md, "Public API conventions"): every VAE_API function has a
/** ... */ comment right above it with
  - @param for every named parameter and @return unless it returns void;
  - for functions returning an int status, a @return that lists VAE_OK and
    the error codes (at least one VAE_ERR_... or "argument errors");
  - a thread rule: @thread_safe, @thread_handle, @thread_caller or @par Threads;
  - @since MAJOR.MINOR.PATCH.
Every enum value and struct member has a /**< ... */ comment, and every
function pointer typedef documents its parameters.

usage: check_api_docs.py HEADER...
"""
import re
import sys

THREAD_RE = re.compile(r"@(thread_safe|thread_handle|thread_caller)\b|@par Threads")


def strip_comments(s):
    return re.sub(r"/\*.*?\*/", " ", s, flags=re.S)


def param_names(params):
    params = params.strip()
    if params in ("", "void"):
        return []
    names = []
    for p in params.split(","):
        p = p.strip()
        m = re.search(r"(\w+)\s*(\[[^\]]*\])?$", p)
        if m:
            names.append(m.group(1))
    return names


def preceding_comment(text, pos):
    """The /** */ comment ending right before pos (only whitespace between)."""
    before = text[:pos].rstrip()
    if not before.endswith("*/"):
        return None
    start = before.rfind("/*")
    if start < 0 or not before.startswith("/**", start):
        return None
    return before[start:]


def check_header(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    errors = []

    def line_of(pos):
        return text.count("\n", 0, pos) + 1

    n_funcs = 0
    for m in re.finditer(r"^VAE_API\s+([^;]*?)\(([^;]*?)\)\s*;", text, re.M | re.S):
        n_funcs += 1
        head, params = m.group(1), m.group(2)
        name = re.search(r"(\w+)\s*$", head).group(1)
        rettype = head[: head.rfind(name)].strip()
        where = "%s:%d: %s" % (path, line_of(m.start()), name)
        doc = preceding_comment(text, m.start())
        if doc is None:
            errors.append(where + ": no /** ... */ doc comment right above it")
            continue
        for p in param_names(strip_comments(params)):
            if not re.search(r"@param(\[[a-z, ]+\])?\s+%s\b" % re.escape(p), doc):
                errors.append(where + ": parameter '%s' has no @param" % p)
        if rettype != "void":
            ret = re.search(r"@return\b(.*?)(?=\n\s*\*\s*@|\*/)", doc, re.S)
            if not ret:
                errors.append(where + ": no @return")
            elif rettype == "int" and not name.startswith("vae_dataset_has_"):
                r = ret.group(1)
                if "VAE_OK" not in r or not ("VAE_ERR_" in r or "argument errors" in r):
                    errors.append(where + ": @return must list VAE_OK and the error codes")
        if not THREAD_RE.search(doc):
            errors.append(where + ": no thread rule (@thread_safe, @thread_handle, "
                          "@thread_caller or @par Threads)")
        if not re.search(r"@since \d+\.\d+\.\d+\b", doc):
            errors.append(where + ": no @since MAJOR.MINOR.PATCH")

    # Function pointer typedefs: every parameter documented.
    for m in re.finditer(r"^typedef\s+[^;]*?\(\s*\*\s*(\w+)\s*\)\s*\(([^;]*?)\)\s*;", text,
                         re.M | re.S):
        where = "%s:%d: %s" % (path, line_of(m.start()), m.group(1))
        doc = preceding_comment(text, m.start())
        if doc is None:
            errors.append(where + ": no /** ... */ doc comment right above it")
            continue
        for p in param_names(m.group(2)):
            if not re.search(r"@param\s+%s\b" % re.escape(p), doc):
                errors.append(where + ": parameter '%s' has no @param" % p)

    # Enum values and struct members: a /**< */ comment on each.
    for m in re.finditer(r"^(?:typedef\s+)?(struct|enum)\s+(\w+)\s*\{(.*?)^\}", text,
                         re.M | re.S):
        kind, tag, body = m.group(1), m.group(2), m.group(3)
        body_start = m.start(3)
        for lm in re.finditer(r"^[ \t]*(?!/\*)(?!\*)(\S[^\n]*)$", body, re.M):
            line = lm.group(1)
            if not re.match(r"[A-Za-z_]", line):
                continue
            if "/**<" not in line:
                errors.append("%s:%d: %s %s: '%s' has no /**< ... */ comment"
                              % (path, line_of(body_start + lm.start()), kind, tag,
                                 line.strip()))
    return n_funcs, errors


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    total, errors = 0, []
    for path in sys.argv[1:]:
        n, e = check_header(path)
        total += n
        errors += e
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        print("FAIL: %d documentation problems in %d public functions" % (len(errors), total),
              file=sys.stderr)
        sys.exit(1)
    print("ok: %d public functions documented (params, return, errors, threads, since)" % total)


if __name__ == "__main__":
    main()
