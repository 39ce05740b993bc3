"""libvae/_capi_h.py is generated from <libvae/vae.h> and matches the C compiler.

1. python/gen_capi.py --check: the committed file is what the header gives
   (fails when vae.h changes without regenerating);
2. a header with a new function, struct field and enumerator: the generator
   picks them up, and --check on it fails against the committed file;
3. every struct's sizeof and every field's offsetof and size, and every
   constant's value, printed by a C program compiled against vae.h, equal the
   ctypes declarations; a deliberately wrong mirror is caught.
"""
import ctypes
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

import vaetest  # noqa: F401  (puts <repo>/python on sys.path)

REPO = vaetest.REPO
GEN = os.path.join(REPO, "python", "gen_capi.py")
HEADER = os.path.join(REPO, "include", "libvae", "vae.h")
GENERATED = os.path.join(REPO, "python", "libvae", "_capi_h.py")

sys.path.insert(0, os.path.join(REPO, "python"))
import gen_capi  # noqa: E402
from libvae import _capi_h  # noqa: E402


def run_gen(*args):
    return subprocess.run([sys.executable, GEN] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True)


def compiler():
    return shlex.split(os.environ.get("VAE_CC") or os.environ.get("CC") or "cc")


def include_dirs():
    src = os.environ.get("LIBVAE_SOURCE_INCLUDE") or os.path.join(REPO, "include")
    out = [src]
    bld = os.environ.get("LIBVAE_BUILD_INCLUDE")
    if bld:
        out.append(bld)
    else:
        lib = os.environ.get("LIBVAE_LIBRARY")
        if lib:
            out.append(os.path.join(os.path.dirname(os.path.dirname(lib)), "include"))
    return out


def c_layout(structs, constants):
    """{(struct, field|None): (offset, size)} and {constant: value} from the C compiler."""
    lines = ['#include <stdio.h>', '#include <stddef.h>', '#include <libvae/vae.h>',
             'int main(void) {']
    for cname, cls in structs.items():
        lines.append('printf("S %s - %%zu 0\\n", sizeof(%s));' % (cname, cname))
        for fname, _ in cls._fields_:
            lines.append('printf("S %s %s %%zu %%zu\\n", offsetof(%s, %s), sizeof(((%s *)0)->%s));'
                         % (cname, fname, cname, fname, cname, fname))
    for name in constants:
        lines.append('printf("C %s %%.17g\\n", (double)(%s));' % (name, name))
    lines += ['return 0;', '}']
    with tempfile.TemporaryDirectory(dir=os.environ.get("VAE_TEST_TMPDIR")) as d:
        src, exe = os.path.join(d, "layout.c"), os.path.join(d, "layout")
        with open(src, "w") as f:
            f.write("\n".join(lines) + "\n")
        cmd = compiler() + ["-std=c11", "-o", exe, src] + ["-I" + i for i in include_dirs()]
        try:
            subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True)
        except FileNotFoundError as e:
            raise unittest.SkipTest("no C compiler: %s" % e)
        out = subprocess.run([exe], check=True, stdout=subprocess.PIPE,
                             universal_newlines=True).stdout
    layout, values = {}, {}
    for line in out.splitlines():
        p = line.split()
        if p[0] == "S":
            layout[(p[1], None if p[2] == "-" else p[2])] = (int(p[3]), int(p[4]))
        else:
            values[p[1]] = float(p[2])
    return layout, values


def mismatches(structs, layout):
    bad = []
    for cname, cls in structs.items():
        if layout[(cname, None)][0] != ctypes.sizeof(cls):
            bad.append("sizeof %s: C %d, ctypes %d" % (cname, layout[(cname, None)][0],
                                                       ctypes.sizeof(cls)))
        for fname, _ in cls._fields_:
            f = getattr(cls, fname)
            if layout[(cname, fname)] != (f.offset, f.size):
                bad.append("%s.%s: C (offset, size) %s, ctypes %s"
                           % (cname, fname, layout[(cname, fname)], (f.offset, f.size)))
    return bad


class TestGenerated(unittest.TestCase):

    def test_committed_file_matches_the_header(self):
        r = run_gen("--check")
        self.assertEqual(r.returncode, 0, "\n" + r.stdout +
                         "\nregenerate with: python3 python/gen_capi.py")

    def test_new_declarations_are_picked_up(self):
        with open(HEADER, encoding="utf-8") as f:
            text = f.read()
        end = text.rindex("#ifdef __cplusplus")
        extra = ("/** A new call. @since 9.9.9 */\n"
                 "VAE_API int vae_model_export_test(const vae_model *model, const char *path,\n"
                 "                                  float *out, size_t n);\n")
        text2 = text[:end] + extra + text[end:]
        text2 = text2.replace("    float corruption_level;",
                              "    float corruption_level;\n    double new_field;", 1)
        text2 = text2.replace("VAE_ERR_UNSUPPORTED = -11",
                              "VAE_ERR_UNSUPPORTED = -11,\n    VAE_ERR_NEW = -12", 1)
        with tempfile.TemporaryDirectory(dir=os.environ.get("VAE_TEST_TMPDIR")) as d:
            h = os.path.join(d, "vae.h")
            with open(h, "w", encoding="utf-8") as f:
                f.write(text2)
            out = gen_capi.generate(h)
            self.assertIn("'vae_model_export_test': (c_int, [c_void_p, c_char_p, "
                          "POINTER(c_float), c_size_t], '9.9.9'),", out)
            self.assertIn("('corruption_level', c_float),\n        ('new_field', c_double),", out)
            self.assertIn("VAE_ERR_NEW = -12", out)
            self.assertIn("VAE_ERR_NEW: 'VAE_ERR_NEW',", out)
            # --check against the committed file fails for the changed header.
            r = run_gen("--check", "--header", h)
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertIn("out of date", r.stdout)
            # An unknown type fails loudly rather than guessing.
            with open(h, "w", encoding="utf-8") as f:
                f.write(text[:end] + "VAE_API int vae_x(long double v);\n" + text[end:])
            self.assertEqual(run_gen("--check", "--header", h).returncode, 2)

    def test_every_function_of_the_header(self):
        import re
        with open(HEADER, encoding="utf-8") as f:
            names = set(re.findall(r"\bVAE_API\s+[^;(]*?\b(vae_\w+)\s*\(", f.read()))
        self.assertEqual(names, set(_capi_h.PROTOTYPES))
        self.assertGreater(len(names), 100)

    def test_layout_matches_the_c_compiler(self):
        consts = [n for n in dir(_capi_h) if n.startswith("VAE_")]
        layout, values = c_layout(_capi_h.STRUCTS, consts)
        self.assertEqual(mismatches(_capi_h.STRUCTS, layout), [])
        for n in consts:
            self.assertEqual(values[n], float(getattr(_capi_h, n)), n)
        self.assertIn("vae_model_config", _capi_h.STRUCTS)

        # A deliberately wrong mirror (two fields swapped, one missing) is caught.
        class Wrong(ctypes.Structure):
            _fields_ = [("struct_size", ctypes.c_size_t), ("binarize", ctypes.c_int),
                        ("scale", ctypes.c_int), ("threshold", ctypes.c_float),
                        ("csv_header", ctypes.c_int), ("csv_label_column", ctypes.c_double)]
        bad = mismatches({"vae_dataset_options": Wrong}, layout)
        self.assertTrue(any("binarize" in b for b in bad), bad)
        self.assertTrue(any("csv_label_column" in b for b in bad), bad)


if __name__ == "__main__":
    unittest.main()
