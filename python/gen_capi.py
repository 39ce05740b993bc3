#!/usr/bin/python3
"""Generate python/libvae/_capi_h.py (the ctypes declarations) from <libvae/vae.h>.

usage: python3 python/gen_capi.py [--header include/libvae/vae.h]
                                  [--out python/libvae/_capi_h.py] [--check]

Reads the public header (which keeps to a regular form: ``VAE_API <ret>
name(args);``, ``typedef struct name { <type> field; ... } name;`` with one
field per line, ``enum name { NAME = value, ... };``, ``#define VAE_X <number>``
and ``typedef <ret> (*name)(args);``) and writes, in header order:

* the enum constants and numeric ``#define``s (``VAE_OK``, ``VAE_MAX_HIDDEN``, ...)
  and ``STATUS_NAMES`` (from ``enum vae_status``);
* a :class:`ctypes.Structure` per public struct, fields in order
  (``vae_model_config`` -> ``ModelConfig``; ``vae_error`` -> ``VaeError``);
* a ``CFUNCTYPE`` per function-pointer typedef (``vae_progress_fn`` -> ``PROGRESS_FN``);
* ``PROTOTYPES``: every ``VAE_API`` function -> (restype, argtypes, since), where
  ``since`` is the ``@since`` of its doc comment (``"0.1.0"``) or None.

Opaque handles (``typedef struct vae_x vae_x;``) are ``c_void_p``. A new function
or field in vae.h needs no change here; a type the generator does not know
makes it fail loudly. ``--check`` regenerates into memory and exits 1 if the
committed file differs (the ``python-capi-generated`` test runs it).

Regenerate after changing vae.h:  ``python3 python/gen_capi.py``
"""
import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

# Python names that differ from the rule (vae_ prefix dropped, CamelCase).
NAME_OVERRIDES = {"vae_error": "VaeError", "vae_progress_fn": "PROGRESS_FN"}

SCALARS = {
    "void": "None", "int": "c_int", "unsigned": "c_uint", "unsigned int": "c_uint",
    "size_t": "c_size_t", "uint64_t": "c_uint64", "int64_t": "c_int64",
    "uint32_t": "c_uint32", "int32_t": "c_int32", "uint8_t": "c_uint8",
    "float": "c_float", "double": "c_double", "char": "c_char",
}


class HeaderError(Exception):
    pass


def py_name(cname):
    if cname in NAME_OVERRIDES:
        return NAME_OVERRIDES[cname]
    base = cname[4:] if cname.startswith("vae_") else cname
    return "".join(p.capitalize() for p in base.split("_"))


def strip_comments(text):
    """Remove /* */ and // comments, keeping newlines (line numbers)."""
    def repl(m):
        return "\n" * m.group(0).count("\n")
    text = re.sub(r"/\*.*?\*/", repl, text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


class Header:
    def __init__(self, text):
        self.raw = text
        self.text = strip_comments(text)
        self.opaque = set()      # typedef struct vae_x vae_x;
        self.structs = []        # (cname, [(field, ctype)])
        self.struct_names = set()
        self.fnptrs = []         # (cname, restype, [argtypes])
        self.fnptr_names = set()
        self.constants = []      # (name, value text)
        self.enums = []          # (enum name, [(name, value)])
        self.functions = []      # (name, restype, [argtypes], since)
        self.parse()

    # -- types ------------------------------------------------------------
    def ctype(self, decl, where):
        """ctypes expression for a C type (no name), e.g. 'const float *'."""
        t = re.sub(r"\bconst\b", "", decl)
        t = re.sub(r"\s+", " ", t).strip()
        stars = t.count("*")
        base = t.replace("*", "").strip()
        if base in ("struct",) or base.startswith("struct "):
            base = base.split()[-1]
        if base in self.opaque:
            inner, stars = "c_void_p", stars - 1
            if stars < 0:
                raise HeaderError("%s: opaque %s by value" % (where, base))
        elif base in self.struct_names:
            inner = py_name(base)
        elif base in self.fnptr_names:
            inner = py_name(base)
        elif base in SCALARS:
            inner = SCALARS[base]
            if base == "char" and stars >= 1:
                inner, stars = "c_char_p", stars - 1
            elif base == "void" and stars >= 1:
                inner, stars = "c_void_p", stars - 1
        else:
            raise HeaderError("%s: unknown type %r" % (where, decl))
        for _ in range(stars):
            inner = "POINTER(%s)" % inner
        return inner

    def split_decl(self, decl, where):
        """'const float *x' -> ('const float *', 'x', None); 'int s[3]' -> (.., 's', '3')."""
        decl = decl.strip()
        m = re.match(r"^(.*?)([A-Za-z_]\w*)\s*(?:\[\s*([^\]]*)\s*\])?$", decl, re.S)
        if not m:
            raise HeaderError("%s: cannot read declaration %r" % (where, decl))
        typ, name, dim = m.group(1), m.group(2), m.group(3)
        if not typ.strip() or typ.strip() in ("const",):
            # an unnamed parameter such as 'void' or 'size_t'
            return decl, None, None
        return typ, name, dim

    def args(self, text, where):
        text = " ".join(text.split())
        if text in ("", "void"):
            return []
        out = []
        for a in text.split(","):
            typ, name, dim = self.split_decl(a, where)
            ct = self.ctype(typ, where)
            if dim is not None:       # an array parameter is a pointer
                ct = "POINTER(%s)" % ct
            out.append(ct)
        return out

    # -- the header ---------------------------------------------------------
    def parse(self):
        t = self.text
        items = []
        for m in re.finditer(r"typedef\s+struct\s+(\w+)\s+(\w+)\s*;", t):
            if m.group(1) != m.group(2):
                raise HeaderError("typedef struct %s %s: names differ" % m.groups())
            self.opaque.add(m.group(1))
        for m in re.finditer(r"typedef\s+struct\s+(\w+)\s*\{(.*?)\}\s*(\w+)\s*;", t, re.S):
            items.append((m.start(), "struct", m))
            self.struct_names.add(m.group(1))
        for m in re.finditer(r"typedef\s+([\w\s\*]+?)\(\s*\*\s*(\w+)\s*\)\s*\(([^)]*)\)\s*;", t):
            items.append((m.start(), "fnptr", m))
            self.fnptr_names.add(m.group(2))
        for m in re.finditer(r"^\s*enum\s+(\w+)\s*\{(.*?)\}\s*;", t, re.S | re.M):
            items.append((m.start(), "enum", m))
        for m in re.finditer(r"^\s*#\s*define\s+(VAE_[A-Z0-9_]+)[ \t]+([-+0-9.eExXa-fA-FuUlL]+)[ \t]*$",
                             t, re.M):
            items.append((m.start(), "define", m))
        for m in re.finditer(r"\bVAE_API\s+([^;(]*?)\b(vae_\w+)\s*\(([^)]*)\)\s*;", t, re.S):
            items.append((m.start(), "func", m))
        items.sort(key=lambda i: i[0])
        for pos, kind, m in items:
            line = t.count("\n", 0, pos) + 1
            where = "vae.h:%d" % line
            if kind == "struct":
                cname, body, tname = m.group(1), m.group(2), m.group(3)
                if cname != tname:
                    raise HeaderError("%s: typedef struct %s ... %s" % (where, cname, tname))
                fields = []
                for decl in body.split(";"):
                    if not decl.strip():
                        continue
                    typ, name, dim = self.split_decl(decl, where)
                    if name is None:
                        raise HeaderError("%s: unnamed field %r" % (where, decl))
                    ct = self.ctype(typ, where)
                    if dim is not None:
                        dim = dim.strip()
                        if not re.match(r"^(\d+|VAE_[A-Z0-9_]+)$", dim):
                            raise HeaderError("%s: array size %r" % (where, dim))
                        ct = "%s * %s" % (ct, dim)
                    fields.append((name, ct))
                self.structs.append((cname, fields))
            elif kind == "fnptr":
                ret = self.ctype(m.group(1), where)
                self.fnptrs.append((m.group(2), ret, self.args(m.group(3), where)))
            elif kind == "enum":
                consts, value = [], -1
                for e in m.group(2).split(","):
                    e = e.strip()
                    if not e:
                        continue
                    em = re.match(r"^(\w+)\s*(?:=\s*(.+))?$", e, re.S)
                    if not em:
                        raise HeaderError("%s: enumerator %r" % (where, e))
                    if em.group(2) is not None:
                        value = int(em.group(2).strip(), 0)
                    else:
                        value += 1
                    consts.append((em.group(1), value))
                self.enums.append((m.group(1), consts))
            elif kind == "define":
                v = m.group(2).rstrip("uUlL") if not re.search(r"[.eE]", m.group(2)) \
                    or m.group(2).lower().startswith("0x") else m.group(2)
                self.constants.append((m.group(1), v))
            elif kind == "func":
                name = m.group(2)
                ret = self.ctype(m.group(1), where)
                args = self.args(m.group(3), where)
                self.functions.append((name, ret, args, self.since(name)))

    def since(self, name):
        """The @since of the doc comment right before `VAE_API ... name(`."""
        m = re.search(r"/\*\*((?:(?!\*/).)*)\*/\s*VAE_API\s+[^;(]*?\b%s\s*\(" % re.escape(name),
                      self.raw, re.S)
        if m:
            s = re.search(r"@since\s+(\d+\.\d+\.\d+)", m.group(1))
            if s:
                return s.group(1)
        return None


def generate(header_path):
    with open(header_path, encoding="utf-8") as f:
        h = Header(f.read())
    out = []
    w = out.append
    w('"""ctypes declarations of <libvae/vae.h>: GENERATED by python/gen_capi.py.')
    w("")
    w("Do not edit: run ``python3 python/gen_capi.py`` after changing vae.h (the")
    w("python-capi-generated test fails until this file matches the header).")
    w("libvae.capi loads the library and applies PROTOTYPES; import from there.")
    w('"""')
    w("# flake8: noqa")
    w("from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double, c_float,")
    w("                    c_int, c_int32, c_int64, c_size_t, c_uint, c_uint8, c_uint32,")
    w("                    c_uint64, c_void_p)")
    w("")
    w("# Constants: numeric #defines and enumerators, in header order.")
    consts = []
    for name, v in h.constants:
        consts.append((name, v))
    enum_block = []
    for ename, values in h.enums:
        enum_block.append((ename, values))
    # Keep header order between #defines and enums.
    order = []
    for name, v in h.constants:
        order.append((h.text.find("define " + name) if ("define " + name) in h.text
                      else h.text.find(name), "c", (name, v)))
    for ename, values in h.enums:
        order.append((h.text.find("enum " + ename + " {") if ("enum " + ename + " {") in h.text
                      else h.text.find("enum " + ename), "e", (ename, values)))
    order.sort(key=lambda o: o[0])
    for _, kind, item in order:
        if kind == "c":
            w("%s = %s" % item)
        else:
            ename, values = item
            w("# enum %s" % ename)
            for n, v in values:
                w("%s = %d" % (n, v))
    w("")
    status = dict(h.enums).get("vae_status")
    if status is None:
        raise HeaderError("vae.h has no enum vae_status")
    w("STATUS_NAMES = {")
    for n, _ in status:
        w("    %s: %r," % (n, n))
    w("}")
    w("")
    # Structs and function pointers in header order (a struct may use an earlier one).
    ordered = [(h.text.find("typedef struct %s {" % c) if ("typedef struct %s {" % c) in h.text
                else h.text.find("struct %s" % c), "s", (c, f)) for c, f in h.structs]
    ordered += [(h.text.find("(*%s)" % c), "f", (c, r, a)) for c, r, a in h.fnptrs]
    ordered.sort(key=lambda o: o[0])
    for _, kind, item in ordered:
        w("")
        if kind == "s":
            cname, fields = item
            w("class %s(Structure):" % py_name(cname))
            w('    """``%s``."""' % cname)
            w("    _fields_ = [")
            for fname, ct in fields:
                w("        (%r, %s)," % (fname, ct))
            w("    ]")
            w("")
        else:
            cname, ret, args = item
            w("#: ``%s``" % cname)
            w("%s = CFUNCTYPE(%s)" % (py_name(cname), ", ".join([ret] + args)))
            w("")
    w("")
    w("#: Every VAE_API function of vae.h: name -> (restype, argtypes, @since).")
    w("PROTOTYPES = {")
    for name, ret, args, since in h.functions:
        w("    %r: (%s, [%s], %r)," % (name, ret, ", ".join(args), since))
    w("}")
    w("")
    w("#: The public structs: C name -> ctypes class.")
    w("STRUCTS = {")
    for cname, _ in h.structs:
        w("    %r: %s," % (cname, py_name(cname)))
    w("}")
    w("")
    w("#: Opaque handle types of the header (c_void_p in PROTOTYPES).")
    w("OPAQUE = %r" % (sorted(h.opaque - h.struct_names),))
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--header", default=os.path.join(REPO, "include", "libvae", "vae.h"))
    ap.add_argument("--out", default=os.path.join(HERE, "libvae", "_capi_h.py"))
    ap.add_argument("--check", action="store_true",
                    help="compare with --out instead of writing; exit 1 if different")
    a = ap.parse_args(argv)
    try:
        text = generate(a.header)
    except HeaderError as e:
        print("gen_capi: %s: %s" % (a.header, e), file=sys.stderr)
        return 2
    if a.check:
        try:
            with open(a.out, encoding="utf-8") as f:
                old = f.read()
        except OSError as e:
            print("gen_capi: %s" % e, file=sys.stderr)
            return 1
        if old != text:
            import difflib
            sys.stdout.writelines(difflib.unified_diff(
                old.splitlines(True), text.splitlines(True), a.out, "generated from " + a.header))
            print("gen_capi: %s is out of date with %s; run: python3 python/gen_capi.py"
                  % (a.out, a.header), file=sys.stderr)
            return 1
        print("gen_capi: %s matches %s" % (a.out, a.header))
        return 0
    with open(a.out, "w", encoding="utf-8") as f:
        f.write(text)
    print("gen_capi: wrote %s (%s)" % (a.out, a.header))
    return 0


if __name__ == "__main__":
    sys.exit(main())
