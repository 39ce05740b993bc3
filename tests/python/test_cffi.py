"""cffi ABI mode over the public header: <libvae/vae.h> must stay cffi-friendly.

The header is run through the C preprocessor (`cc -E -P -DVAE_API=`) and the
result goes to ffi.cdef unchanged. Only the C library's own headers are
replaced: <stddef.h> and <stdint.h> expand to compiler-specific typedefs
(__attribute__, __extension__) that no cdef parser reads, so they are
stubbed with empty files under -nostdinc, like pycparser's fake libc; cffi
knows size_t and uint64_t itself. vae.h itself is fed as the preprocessor
leaves it.

Include directories: $LIBVAE_INCLUDE_DIR (an installed include dir, holding
libvae/vae.h and libvae/vae_version.h), else $LIBVAE_SOURCE_INCLUDE and
$LIBVAE_BUILD_INCLUDE (meson sets them), else <repo>/include and the include
dir of the build tree the library is in. The compiler: $VAE_CC, $CC or cc.
"""
import glob
import math
import os
import re
import shlex
import subprocess
import tempfile
import unittest

import cffi

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def library_path():
    p = os.environ.get("LIBVAE_LIBRARY")
    if p:
        return p
    build = os.environ.get("LIBVAE_BUILD_DIR")
    cands = [os.path.join(build, "src", "libvae.so")] if build else []
    cands += sorted(glob.glob(os.path.join(REPO, "build*", "src", "libvae.so")),
                    key=os.path.getmtime, reverse=True)
    for c in cands:
        if os.path.exists(c):
            return c
    import ctypes.util
    return ctypes.util.find_library("vae")


def include_dirs():
    inst = os.environ.get("LIBVAE_INCLUDE_DIR")
    if inst:
        return [inst]
    src = os.environ.get("LIBVAE_SOURCE_INCLUDE") or os.path.join(REPO, "include")
    bld = os.environ.get("LIBVAE_BUILD_INCLUDE")
    if not bld:
        lib = library_path()
        if lib and os.path.isabs(lib):
            bld = os.path.join(os.path.dirname(os.path.dirname(lib)), "include")
    return [src] + ([bld] if bld else [])


def compiler():
    return shlex.split(os.environ.get("VAE_CC") or os.environ.get("CC") or "cc")


def find_header(name):
    for d in include_dirs():
        p = os.path.join(d, "libvae", name)
        if os.path.exists(p):
            return p
    raise unittest.SkipTest("libvae/%s not found in %s" % (name, include_dirs()))


def preprocess():
    """The header after `cc -E -P -DVAE_API=`, with the libc headers stubbed."""
    header = find_header("vae.h")
    with tempfile.TemporaryDirectory() as stub:
        for h in ("stddef.h", "stdint.h"):
            open(os.path.join(stub, h), "w").close()
        cmd = compiler() + ["-E", "-P", "-nostdinc", "-I" + stub, "-DVAE_API="]
        cmd += ["-I" + d for d in include_dirs()] + [header]
        return subprocess.run(cmd, check=True, stdout=subprocess.PIPE,
                              universal_newlines=True).stdout


class TestCffi(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.cdef = preprocess()
        cls.ffi = cffi.FFI()
        cls.ffi.cdef(cls.cdef)          # raises CDefError if vae.h is not cffi-friendly
        path = library_path()
        if not path:
            raise unittest.SkipTest("libvae.so not found (set LIBVAE_LIBRARY)")
        cls.lib = cls.ffi.dlopen(path)

    def test_header_is_plain_declarations(self):
        self.assertNotIn("__attribute__", self.cdef)
        self.assertIn("vae_model_train_step", self.cdef)

    def test_version_matches_header(self):
        text = open(find_header("vae_version.h")).read()
        want = re.search(r'#define\s+VAE_VERSION_STRING\s+"([^"]+)"', text).group(1)
        got = self.ffi.string(self.lib.vae_version_string()).decode()
        self.assertEqual(got, want)
        self.assertEqual(self.ffi.string(self.lib.vae_status_str(self.lib.VAE_ERR_SHAPE)),
                         b"shape mismatch")

    def test_train_step(self):
        ffi, lib = self.ffi, self.lib
        d, n = 16, 4
        # The *_init names of vae.h are macros passing sizeof; cdef has no
        # macros, so the sized initialisers are called with the cdef's size.
        cfg = ffi.new("vae_model_config *")
        lib.vae_model_config_init_size(cfg, ffi.sizeof("vae_model_config"))
        self.assertEqual(cfg.struct_size, ffi.sizeof("vae_model_config"))
        cfg.input_dim, cfg.latent_dim, cfg.n_hidden, cfg.hidden[0] = d, 3, 1, 8
        cfg.seed = 11
        model = ffi.new("vae_model **")
        err = ffi.new("vae_error *")
        self.assertEqual(lib.vae_model_create(cfg, model, err), lib.VAE_OK)
        self.assertEqual(ffi.string(err.message), b"")
        m = ffi.gc(model[0], lib.vae_model_free)

        ocfg = ffi.new("vae_optimizer_config *")
        lib.vae_optimizer_config_init_size(ocfg, lib.VAE_OPT_ADAM,
                                           ffi.sizeof("vae_optimizer_config"))
        opt_out = ffi.new("vae_optimizer **")
        self.assertEqual(lib.vae_optimizer_create(ocfg, opt_out, err), lib.VAE_OK)
        opt = ffi.gc(opt_out[0], lib.vae_optimizer_free)

        x = ffi.new("float[]", [((i * 7) % 10) / 10.0 for i in range(n * d)])
        st = ffi.new("vae_elbo_stats *")
        rc = lib.vae_model_train_step(m, opt, x, n, st)
        self.assertEqual(rc, lib.VAE_OK, ffi.string(lib.vae_model_errmsg(m)))
        self.assertEqual(st.n, n)
        self.assertTrue(math.isfinite(st.elbo) and st.elbo < 0)
        self.assertAlmostEqual(st.elbo, st.rec - st.kl, places=6)
        self.assertAlmostEqual(st.loss, -st.elbo, places=4)
        self.assertEqual(lib.vae_optimizer_steps(opt), 1)

        # An epoch over a dataset with a progress callback (the vae_progress_fn typedef).
        dopt = ffi.new("vae_dataset_options *")
        lib.vae_dataset_options_init_size(dopt, ffi.sizeof("vae_dataset_options"))
        ds_out = ffi.new("vae_dataset **")
        self.assertEqual(lib.vae_dataset_from_array(x, n, d, ffi.NULL, lib.VAE_ARRAY_COPY,
                                                    dopt, ds_out, err), lib.VAE_OK)
        ds = ffi.gc(ds_out[0], lib.vae_dataset_free)
        seen = []

        @ffi.callback("vae_progress_fn")
        def progress(user, batch, n_batches, running):
            seen.append((batch, n_batches))
            return 0
        self.assertEqual(lib.vae_model_train_epoch(m, opt, ds, 2, progress, ffi.NULL, st),
                         lib.VAE_OK)
        self.assertEqual(seen, [(0, 2), (1, 2)])
        self.assertEqual(lib.vae_model_evaluate(m, ds, 2, st), lib.VAE_OK)
        self.assertEqual(st.n, n)

        # Outputs into caller buffers.
        mu = ffi.new("float[]", n * 3)
        self.assertEqual(lib.vae_model_encode(m, x, n, mu, ffi.NULL), lib.VAE_OK)
        self.assertTrue(all(math.isfinite(mu[i]) for i in range(n * 3)))

        # Error paths: a status and the handle's message.
        self.assertEqual(lib.vae_model_train_step(m, opt, x, 0, st), lib.VAE_ERR_INVALID)
        self.assertIn(b"n = 0", ffi.string(lib.vae_model_errmsg(m)))
        cfg.latent_dim = 0
        self.assertEqual(lib.vae_model_create(cfg, model, err), lib.VAE_ERR_INVALID)
        self.assertEqual(err.status, lib.VAE_ERR_INVALID)
        self.assertIn(b"latent_dim", ffi.string(err.message))
        self.assertEqual(model[0], ffi.NULL)

    def test_sized_initialisers(self):
        """A sized initialiser writes exactly the size it is given; a getter
        refuses an unset struct_size and writes nothing."""
        ffi, lib = self.ffi, self.lib
        full = ffi.sizeof("vae_model_config")
        buf = ffi.new("unsigned char[]", full + 64)
        ffi.memmove(buf, b"\xa5" * (full + 64), full + 64)
        small = ffi.offsetof("vae_model_config", "posterior")   # a 0.1.0-sized struct
        lib.vae_model_config_init_size(ffi.cast("vae_model_config *", buf), small)
        self.assertEqual(bytes(ffi.buffer(buf, full + 64))[small:], b"\xa5" * (full + 64 - small))
        self.assertEqual(ffi.cast("vae_model_config *", buf).struct_size, small)
        ocfg = ffi.new("vae_optimizer_config *")
        lib.vae_optimizer_config_init_size(ocfg, lib.VAE_OPT_ADAM,
                                           ffi.sizeof("vae_optimizer_config"))
        err = ffi.new("vae_error *")
        opt_out = ffi.new("vae_optimizer **")
        self.assertEqual(lib.vae_optimizer_create(ocfg, opt_out, err), lib.VAE_OK)
        opt = ffi.gc(opt_out[0], lib.vae_optimizer_free)
        got = ffi.new("vae_optimizer_config *")
        got.lr = 123.0
        self.assertEqual(lib.vae_optimizer_get_config(opt, got), lib.VAE_ERR_INVALID)
        self.assertEqual(got.lr, 123.0)

    def test_structs_match_the_ctypes_binding(self):
        """libvae.capi's ctypes mirrors have the header's sizes and offsets."""
        try:
            import ctypes
            from libvae import capi
        except ImportError as e:
            self.skipTest("the libvae package is not importable: %s" % e)
        ffi = self.ffi
        pairs = {"vae_error": capi.VaeError, "vae_dataset_options": capi.DatasetOptions,
                 "vae_optimizer_config": capi.OptimizerConfig,
                 "vae_model_config": capi.ModelConfig, "vae_elbo_stats": capi.ElboStats}
        if "vae_grad_stats" in self.cdef:
            pairs["vae_grad_stats"] = capi.GradStats
        if "vae_vqvae_config" in self.cdef:
            pairs["vae_vqvae_config"] = capi.VqvaeConfig
            pairs["vae_vqvae_stats"] = capi.VqvaeStats
        if "vae_training_state" in self.cdef:
            pairs["vae_training_state"] = capi.TrainingState
            pairs["vae_diagnostics"] = capi.Diagnostics
        for cname, cls in pairs.items():
            with self.subTest(cname):
                self.assertEqual(ffi.sizeof(cname), ctypes.sizeof(cls))
                cfields = [f for f, _ in ffi.typeof(cname).fields]
                self.assertEqual(cfields, [f[0] for f in cls._fields_])
                for f in cfields:
                    self.assertEqual(ffi.offsetof(cname, f), getattr(cls, f).offset, f)
        # Enum values.
        for name in dir(capi):
            if name.startswith("VAE_") and isinstance(getattr(capi, name), int) \
                    and hasattr(self.lib, name) and name not in ("VAE_ERRMSG_LEN",
                                                                 "VAE_MAX_HIDDEN"):
                self.assertEqual(getattr(self.lib, name), getattr(capi, name), name)
        # Every function of the header is declared in the binding.
        funcs = set(re.findall(r"\b(vae_\w+)\s*\(", self.cdef))
        declared = set(capi._PROTOTYPES) | set(capi._OPTIONAL_PROTOTYPES)
        self.assertEqual(funcs - declared, set())


if __name__ == "__main__":
    unittest.main()
