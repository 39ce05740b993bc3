"""The package's public surface (issue 18).

- bad argument values raise ArgumentValueError (a libvae.Error and a
  ValueError), wrong types ArgumentTypeError (a libvae.Error and a TypeError);
- the library's messages are given in Python terms (no C function names);
- Model accepts its attribute names as keywords (latent_dim=), keeping the
  old ones (latent=);
- VQVAE.fit has Model.fit's callback/on_epoch; progress batches are 0-based;
- docs/python.md names every public name of libvae.__all__ and every public
  method, property and field of its classes.
"""
import inspect
import os
import re
import unittest

import vaetest
import numpy as np

import libvae

DOC = os.path.join(vaetest.REPO, "docs", "python.md")


def bits(n, d, seed=0):
    return (np.random.default_rng(seed).random((n, d)) > 0.5).astype(np.float32)


class TestExceptions(unittest.TestCase):

    def test_hierarchy(self):
        for cls, base in ((libvae.ArgumentValueError, ValueError),
                          (libvae.ArgumentTypeError, TypeError)):
            self.assertTrue(issubclass(cls, libvae.Error))
            self.assertTrue(issubclass(cls, base))
        self.assertFalse(issubclass(libvae.Error, ValueError))
        for st in (libvae.VAE_ERR_INVALID, libvae.VAE_ERR_SHAPE, libvae.VAE_ERR_NONFINITE,
                   libvae.VAE_ERR_LIMIT):
            self.assertIs(type(libvae.Error(st, "m")), libvae.ArgumentValueError)
        for st in (libvae.VAE_ERR_IO, libvae.VAE_ERR_FORMAT, libvae.VAE_ERR_CANCELLED,
                   libvae.VAE_ERR_UNSUPPORTED, libvae.VAE_ERR_NULL):
            self.assertIs(type(libvae.Error(st, "m")), libvae.Error)

    def test_values(self):
        with libvae.Model(input_dim=6, hidden=(4,), latent=2) as m:
            with self.assertRaises(ValueError) as e:          # the binding's shape check
                m.encode(np.zeros((3, 5), np.float32))
            self.assertIsInstance(e.exception, libvae.Error)
            self.assertEqual(e.exception.status, libvae.VAE_ERR_SHAPE)
            with self.assertRaises(ValueError) as e:          # the library's value check
                m.train_step(np.full((4, 6), np.nan, np.float32))
            self.assertEqual(e.exception.status, libvae.VAE_ERR_NONFINITE)
            with self.assertRaises(ValueError):
                m.set_training(kl="sideways")                 # unknown enum name
        with self.assertRaises(ValueError) as e:              # C VAE_ERR_INVALID at creation
            libvae.Model(input_dim=6, hidden=(4,), latent=-1)
        self.assertEqual(e.exception.status, libvae.VAE_ERR_INVALID)
        with self.assertRaises(ValueError):
            libvae.Optimizer("adam", lr=-1.0)
        with self.assertRaises(ValueError):
            libvae.Dataset.from_numpy(np.zeros((0, 3), np.float32))

    def test_types(self):
        with libvae.Model(input_dim=6, hidden=(4,), latent=2) as m:
            with self.assertRaises(TypeError) as e:
                m.encode(np.array([["a"] * 6]))
            self.assertIsInstance(e.exception, libvae.Error)
            with self.assertRaises(TypeError):
                m.set_training(hidden=(3,))                   # not a training setting
            with self.assertRaises(libvae.ArgumentTypeError):
                m.train_epoch(bits(8, 6), batch_size="ten")
        with self.assertRaises(libvae.ArgumentTypeError):
            libvae.Model(input_dim=6, beta="heavy")
        with self.assertRaises(libvae.ArgumentTypeError):
            libvae.Model(input_dim=6, encoder=42)
        with self.assertRaises(libvae.ArgumentTypeError):
            libvae.Optimizer("adam", learning_speed=1.0)

    def test_io_is_not_a_value_error(self):
        with self.assertRaises(libvae.Error) as e:
            libvae.Model.load(os.path.join(os.path.dirname(DOC), "no-such-file.ckpt"))
        self.assertNotIsInstance(e.exception, ValueError)
        self.assertEqual(e.exception.status, libvae.VAE_ERR_IO)


C_NAME = re.compile(r"\bvae_[a-z_]+\(|\buse vae_|\bvae_(model|vqvae|dataset|pca)_[a-z_]+")


class TestMessages(unittest.TestCase):

    def test_python_message(self):
        from libvae._errors import python_message as pm
        self.assertEqual(
            pm("sample: the model is conditional (cond_dim = 3): use vae_model_sample_cond "
               "with the conditions"),
            "sample: the model is conditional (cond_dim = 3): pass the conditions, "
            "model.sample(..., c=...)")
        self.assertEqual(pm("decode_cond: the model is unconditional (cond_dim = 0): use "
                            "vae_model_decode"),
                         "decode: the model is unconditional (cond_dim = 0): call "
                         "model.decode(...) without c")
        self.assertEqual(pm("vae_dataset_from_array: n = 0"), "Dataset.from_numpy: n = 0")
        self.assertEqual(pm("call vae_vqvae_fit_prior first"), "call VQVAE.fit_prior first")
        self.assertEqual(pm("compute_gradients_keyed: the model is conditional (cond_dim = 2): "
                            "use vae_model_compute_gradients_keyed_cond with the conditions"),
                         "compute_gradients: the model is conditional (cond_dim = 2): pass the "
                         "conditions, model.compute_gradients(..., key=..., c=...)")

    def test_conditional_messages_speak_python(self):
        with libvae.Model(input_dim=6, hidden=(4,), latent=2, cond_dim=3) as m:
            x = bits(4, 6)
            for call in (lambda: m.encode(x), lambda: m.reconstruct(x), lambda: m.elbo(x),
                         lambda: m.train_step(x)):
                with self.assertRaises(libvae.Error) as e:
                    call()
                msg = e.exception.message
                self.assertIsNone(C_NAME.search(msg), msg)
                self.assertIn("c=", msg)
        with libvae.Model(input_dim=6, hidden=(4,), latent=2) as m:
            with self.assertRaises(libvae.Error) as e:
                m.decode(np.zeros((2, 2), np.float32), c=np.zeros((2, 3), np.float32))
            self.assertIsNone(C_NAME.search(e.exception.message), e.exception.message)

    def test_dataset_messages_speak_python(self):
        with self.assertRaises(libvae.Error) as e:
            libvae.Dataset.from_numpy(np.zeros((0, 3), np.float32))
        self.assertIsNone(C_NAME.search(e.exception.message), e.exception.message)
        with self.assertRaises(libvae.Error) as e:
            libvae.Dataset.from_idx("/nonexistent/images.idx")
        self.assertIsNone(C_NAME.search(e.exception.message), e.exception.message)


#: Model properties that are not creation settings (so not keywords of Model()).
MODEL_PROPERTIES_NOT_SETTINGS = ("config", "param_count")


class TestKeywords(unittest.TestCase):

    def test_latent_dim(self):
        with libvae.Model(input_dim=6, hidden=(4,), latent_dim=4) as m:
            self.assertEqual(m.latent_dim, 4)
            self.assertEqual(m.config["latent"], 4)
        with libvae.Model(input_dim=6, hidden=(4,), latent=3) as m:     # the old keyword
            self.assertEqual(m.latent_dim, 3)
        with libvae.Model(input_dim=6, hidden=(4,), latent=3, latent_dim=3) as m:
            self.assertEqual(m.latent_dim, 3)
        with self.assertRaises(TypeError):
            libvae.Model(input_dim=6, latent=3, latent_dim=4)

    def test_kl_mode(self):
        with libvae.Model(input_dim=6, hidden=(4,), latent=2, kl_mode="mc") as m:
            self.assertEqual(m.config["kl"], "mc")
            m.set_training(kl_mode="analytic")
            self.assertEqual(m.config["kl"], "analytic")

    def test_properties_are_keywords(self):
        """Every settable-at-creation property of Model is a keyword with its value."""
        params = set(inspect.signature(libvae.Model.__init__).parameters)
        props = [n for n, v in vars(libvae.Model).items()
                 if isinstance(v, property) and not n.startswith("_")]
        with libvae.Model(input_dim=6, hidden=(4,), latent=2, threads=1) as m:
            for p in props:
                if p in MODEL_PROPERTIES_NOT_SETTINGS:
                    continue
                self.assertIn(p, params, "Model.%s is not a keyword of Model()" % p)
                kw = dict(input_dim=6, hidden=(4,), latent=2)
                kw[p] = getattr(m, p)
                with libvae.Model(**kw) as m2:
                    self.assertEqual(getattr(m2, p), getattr(m, p), p)
        for k in libvae.Model(input_dim=6, hidden=(4,), latent=2).config:
            self.assertIn(k, params)


class TestCallbacks(unittest.TestCase):

    def test_model_batches_are_zero_based(self):
        seen = []
        with libvae.Model(input_dim=6, hidden=(4,), latent=2) as m:
            m.train_epoch(bits(40, 6), batch_size=10, callback=lambda b, n, r: seen.append((b, n)))
        self.assertEqual(seen, [(0, 4), (1, 4), (2, 4), (3, 4)])
        self.assertIn("0-based", libvae.Model.train_epoch.__doc__)
        self.assertIn("0-based", libvae.Model.fit.__doc__)

    def test_vqvae_fit_on_epoch(self):
        x = bits(40, 8)
        with libvae.VQVAE(input_dim=8, hidden=(8,), latents=2, code_dim=2, codes=4) as q:
            seen, epochs = [], []
            out = q.fit(x, epochs=5, batch_size=10,
                        callback=lambda e, b, n, r: seen.append((e, b, n)),
                        on_epoch=lambda e, st: epochs.append((e, st)) or e == 2)
            self.assertEqual(len(out), 2)
            self.assertEqual([e for e, _ in epochs], [1, 2])
            self.assertEqual(epochs[1][1], out[1])
            self.assertEqual(seen[:4], [(1, 0, 4), (1, 1, 4), (1, 2, 4), (1, 3, 4)])
            self.assertEqual(seen[-1], (2, 3, 4))
            # A callback's true value stops training after that batch's epoch is cut.
            out = q.fit(x, epochs=3, batch_size=10, callback=lambda e, b, n, r: b == 1)
            self.assertEqual(out, [])
            with self.assertRaises(ZeroDivisionError):
                q.fit(x, epochs=1, batch_size=10, callback=lambda e, b, n, r: 1 / 0)
            self.assertIn("0-based", libvae.VQVAE.train_epoch.__doc__)


def public_members(cls):
    out = []
    for name in dir(cls):
        if name.startswith("_") or (issubclass(cls, BaseException)
                                    and hasattr(BaseException, name)):
            continue
        if issubclass(cls, tuple) and name in ("count", "index"):
            continue
        out.append(name)
    return out


class TestDocs(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        with open(DOC, encoding="utf-8") as f:
            cls.doc = f.read()

    def missing(self, names_and_patterns):
        return [n for n, pat in names_and_patterns if not re.search(pat, self.doc)]

    def test_every_public_name_is_documented(self):
        self.maxDiff = None
        todo = []
        for name in libvae.__all__:
            todo.append((name, r"\b%s\b" % re.escape(name)))
            obj = getattr(libvae, name)
            if inspect.isclass(obj):
                for m in public_members(obj):
                    # as `.m`, `m(`, `m=` or in backquotes: a member, not a stray word
                    # (a named tuple's fields: in its (a, b, c) list)
                    todo.append(("%s.%s" % (name, m),
                                 r"(\.%s\b|\b%s\(|\b%s=|`%s`|`%s[ (,]|[(,] *%s *[,)])"
                                 % ((re.escape(m),) * 6)))
        self.assertEqual(self.missing(todo), [])

    def test_write_png_grid_is_documented(self):
        doc = libvae.write_png_grid.__doc__
        for word in ("path", "images", "cols", "shape", "Returns", "Example"):
            self.assertIn(word, doc)

    def test_the_check_can_fail(self):
        """With a documented name taken out of the text, the check reports it."""
        full = self.doc
        try:
            self.doc = full.replace("layer_stats", "l_s").replace("write_png_grid", "w")
            with self.assertRaises(AssertionError) as e:
                self.test_every_public_name_is_documented()
            self.assertIn("Model.layer_stats", str(e.exception))
            self.assertIn("write_png_grid", str(e.exception))
        finally:
            self.doc = full


if __name__ == "__main__":
    unittest.main()
