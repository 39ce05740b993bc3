"""Every error path reachable from Python raises libvae.Error with the library's
message, and none crashes: bad shapes, dtypes, non-contiguous arrays (which
work), NaN data, damaged checkpoints, missing files, closed handles, bad
configuration values."""
import os
import unittest

from vaetest import np, tmpdir, unit_data

import libvae
from libvae import Error

D, H, K = 12, 8, 3


def small_model(**kw):
    args = dict(input_dim=D, hidden=(H,), latent=K, seed=7)
    args.update(kw)
    return libvae.Model(**args)


class ErrorCase(unittest.TestCase):

    def assertVaeError(self, status, fn, *args, contains=None, **kw):
        with self.assertRaises(Error) as cm:
            fn(*args, **kw)
        e = cm.exception
        self.assertEqual(e.status, status, "got %r" % (e,))
        self.assertEqual(e.name, libvae.capi.STATUS_NAMES[status])
        self.assertTrue(e.message)
        if contains is not None:
            self.assertIn(contains, e.message)
        return e


class TestErrorObject(ErrorCase):

    def test_attributes(self):
        e = Error(libvae.VAE_ERR_SHAPE, "x has 3 columns")
        self.assertEqual(e.status, -3)
        self.assertEqual(e.name, "VAE_ERR_SHAPE")
        self.assertEqual(e.message, "x has 3 columns")
        self.assertEqual(str(e), "VAE_ERR_SHAPE: x has 3 columns")
        self.assertIsInstance(e, Exception)
        # Without a message: the library's vae_status_str.
        self.assertEqual(Error(libvae.VAE_ERR_IO).message, libvae.status_str(libvae.VAE_ERR_IO))
        self.assertEqual(libvae.status_str(0), "ok")
        self.assertEqual(libvae.status_str(12345), "unknown status")


class TestShapesAndDtypes(ErrorCase):

    def setUp(self):
        self.m = small_model()
        self.x = unit_data(6, D)

    def tearDown(self):
        self.m.close()

    def test_bad_shapes(self):
        m = self.m
        for fn in (m.train_step, m.encode, m.reconstruct, m.elbo):
            self.assertVaeError(libvae.VAE_ERR_SHAPE, fn, self.x[:, :5], contains="columns")
            self.assertVaeError(libvae.VAE_ERR_SHAPE, fn, self.x[0], contains="2-D")
            self.assertVaeError(libvae.VAE_ERR_SHAPE, fn, self.x.reshape(2, 3, D))
            self.assertVaeError(libvae.VAE_ERR_SHAPE, fn, 0.5)
        self.assertVaeError(libvae.VAE_ERR_SHAPE, m.decode, np.zeros((2, K + 1), np.float32))
        self.assertVaeError(libvae.VAE_ERR_SHAPE, m.decode, np.zeros(K, np.float32))
        # Zero rows get to the library, which refuses them.
        self.assertVaeError(libvae.VAE_ERR_INVALID, m.encode, np.zeros((0, D), np.float32),
                            contains="n = 0")
        self.assertVaeError(libvae.VAE_ERR_INVALID, m.sample, 0, contains="n = 0")
        self.assertVaeError(libvae.VAE_ERR_INVALID, m.sample, -1)
        self.assertVaeError(libvae.VAE_ERR_INVALID, m.sample, "3")

    def test_dataset_width_mismatch(self):
        with libvae.Dataset.from_numpy(unit_data(10, D + 1)) as ds:
            self.assertVaeError(libvae.VAE_ERR_SHAPE, self.m.fit, ds,
                                contains="features per example")
            self.assertVaeError(libvae.VAE_ERR_SHAPE, self.m.evaluate, ds)
        self.assertVaeError(libvae.VAE_ERR_SHAPE, self.m.fit, unit_data(10, D + 1))

    def test_wrong_dtypes(self):
        m = self.m
        # int64 of the wrong width: the shape is what is wrong.
        self.assertVaeError(libvae.VAE_ERR_SHAPE, m.train_step, np.ones((4, D + 2), np.int64))
        # Strings, complex numbers, objects that are not numbers, ragged lists.
        self.assertVaeError(libvae.VAE_ERR_INVALID, m.encode, np.full((2, D), "a"),
                            contains="dtype")
        self.assertVaeError(libvae.VAE_ERR_INVALID, m.encode, [["0.5"] * D])
        self.assertVaeError(libvae.VAE_ERR_INVALID, m.encode, np.ones((2, D), np.complex64))
        self.assertVaeError(libvae.VAE_ERR_INVALID, m.encode,
                            np.array([["abc"] * D], dtype=object))
        # None in an object array becomes NaN, which the library refuses.
        self.assertVaeError(libvae.VAE_ERR_NONFINITE, m.encode,
                            np.array([[None] * D], dtype=object))
        self.assertVaeError(libvae.VAE_ERR_INVALID, m.encode, [[0.5] * D, [0.5]])
        self.assertVaeError(libvae.VAE_ERR_INVALID, libvae.Dataset.from_numpy,
                            np.full((2, D), "x"))

    def test_other_dtypes_are_converted(self):
        m = self.m
        xi = (self.x > 0.5).astype(np.int64)
        ref = m.reconstruct(xi.astype(np.float32))
        for arr in (xi, xi.astype(bool), xi.astype(np.uint8), xi.astype(np.float64),
                    xi.tolist(), xi.astype(object)):
            np.testing.assert_array_equal(m.reconstruct(arr), ref)
        mu, lv = m.encode(self.x.astype(np.float64))
        mu2, lv2 = m.encode(self.x)
        np.testing.assert_array_equal(mu, mu2)
        np.testing.assert_array_equal(lv, lv2)

    def test_non_contiguous_arrays_work(self):
        m = self.m
        wide = unit_data(12, 2 * D, seed=3)
        cases = [wide[:, ::2], wide[::2, :D], np.asfortranarray(wide[:, :D]),
                 wide[::-1, D:], wide[:, :D].T.copy().T]
        for arr in cases:
            c = np.ascontiguousarray(arr)
            np.testing.assert_array_equal(m.reconstruct(arr), m.reconstruct(c))
            for a, b in zip(m.encode(arr), m.encode(c)):
                np.testing.assert_array_equal(a, b)
            pa, sa = m.elbo(arr)
            pb, sb = m.elbo(c)
            np.testing.assert_array_equal(pa, pb)
            self.assertEqual(sa, sb)
            self.assertEqual(m.evaluate(arr), m.evaluate(c))
            z = np.asfortranarray(m.encode(c)[0])
            np.testing.assert_array_equal(m.decode(z), m.decode(np.ascontiguousarray(z)))
        # Training on a strided view == training on its contiguous copy.
        arr = wide[:, ::2]
        with small_model() as a, small_model() as b:
            sa = a.train_step(arr, libvae.Optimizer("adam"))
            sb = b.train_step(np.ascontiguousarray(arr), libvae.Optimizer("adam"))
            self.assertEqual(sa, sb)
            np.testing.assert_array_equal(a.reconstruct(arr), b.reconstruct(arr))
        # A borrowed dataset from a strided view borrows a contiguous copy.
        with libvae.Dataset.from_numpy(arr, copy=False) as ds:
            np.testing.assert_array_equal(ds.numpy(), arr)


class TestNonFinite(ErrorCase):

    def test_nan_and_inf(self):
        x = unit_data(5, D)
        x[3, 4] = np.nan
        with small_model() as m:
            e = self.assertVaeError(libvae.VAE_ERR_NONFINITE, m.train_step, x,
                                    contains="x[3][4] = nan is not finite")
            self.assertTrue(e.message.startswith("train_step:"))
            self.assertVaeError(libvae.VAE_ERR_NONFINITE, m.elbo, x)
            self.assertVaeError(libvae.VAE_ERR_NONFINITE, m.encode, x)
            self.assertVaeError(libvae.VAE_ERR_NONFINITE, m.reconstruct, x)
            self.assertVaeError(libvae.VAE_ERR_NONFINITE, m.fit, x)
            self.assertVaeError(libvae.VAE_ERR_NONFINITE, libvae.Dataset.from_numpy, x,
                                contains="row 3, column 4 (0-based) is NaN")
            z = np.zeros((2, K), np.float32)
            z[1, 2] = np.inf
            self.assertVaeError(libvae.VAE_ERR_NONFINITE, m.decode, z, contains="not finite")
            # The model is unharmed by the refused calls.
            st = m.train_step(unit_data(5, D))
            self.assertTrue(np.isfinite(st.elbo))

    def test_bernoulli_range_and_divergence(self):
        with small_model() as m:
            self.assertVaeError(libvae.VAE_ERR_INVALID, m.train_step, unit_data(2, D) + 1,
                                contains="Bernoulli")
            self.assertVaeError(libvae.VAE_ERR_INVALID, m.fit, unit_data(4, D) * 3,
                                contains="[0, 1]")
        with small_model(likelihood="gaussian") as m:
            before = m.reconstruct(unit_data(2, D))
            self.assertVaeError(libvae.VAE_ERR_DIVERGED, m.train_step,
                                np.full((2, D), 3e38, np.float32), contains="not applied")
            np.testing.assert_array_equal(m.reconstruct(unit_data(2, D)), before)


class TestFiles(ErrorCase):

    def setUp(self):
        self.tmp = tmpdir()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)

    def test_missing_files(self):
        self.assertVaeError(libvae.VAE_ERR_IO, libvae.Model.load, self.path("none.ckpt"),
                            contains="none.ckpt")
        self.assertVaeError(libvae.VAE_ERR_IO, libvae.Dataset.from_idx, self.path("none.idx"))
        self.assertVaeError(libvae.VAE_ERR_IO, libvae.Dataset.from_csv, self.path("none.csv"))
        with small_model() as m:
            self.assertVaeError(libvae.VAE_ERR_IO, m.save, self.path("no/such/dir.ckpt"))
        self.assertVaeError(libvae.VAE_ERR_INVALID, libvae.Model.load, 42)

    def test_corrupt_checkpoint(self):
        good = self.path("good.ckpt")
        with small_model() as m, libvae.Optimizer("adam") as opt:
            m.train_step(unit_data(4, D), opt)
            m.save(good, opt)
        data = open(good, "rb").read()
        self.assertGreater(len(data), 64)
        variants = {
            "flipped": data[:len(data) // 2] + bytes([data[len(data) // 2] ^ 0x40]) +
                       data[len(data) // 2 + 1:],
            "truncated": data[:len(data) - 7],
            "half": data[:len(data) // 2],
            "garbage": b"not a checkpoint at all" * 10,
            "empty": b"",
            "magic-only": data[:8],
        }
        for name, content in variants.items():
            p = self.path(name + ".ckpt")
            with open(p, "wb") as f:
                f.write(content)
            with self.subTest(name):
                self.assertVaeError(libvae.VAE_ERR_FORMAT, libvae.Model.load, p)
                self.assertVaeError(libvae.VAE_ERR_FORMAT, libvae.Model.load, p,
                                    with_optimizer=True)
        # The good file still loads.
        m2, opt2 = libvae.Model.load(good, with_optimizer=True)
        self.assertEqual(opt2.steps, 1)
        m2.close()
        opt2.close()

    def test_foreign_data_files(self):
        p = self.path("x.idx")
        with open(p, "wb") as f:
            f.write(b"hello world, not IDX")
        self.assertVaeError(libvae.VAE_ERR_FORMAT, libvae.Dataset.from_idx, p,
                            contains="not an IDX file")
        c = self.path("x.csv")
        with open(c, "w") as f:
            f.write("0.5,0.25\n0.1,nan\n")
        self.assertVaeError(libvae.VAE_ERR_NONFINITE, libvae.Dataset.from_csv, c)
        with open(c, "w") as f:
            f.write("0.5,0.25\n0.1\n")
        e = self.assertVaeError(libvae.VAE_ERR_SHAPE, libvae.Dataset.from_csv, c)
        self.assertIn("x.csv", e.message)


class TestClosedHandles(ErrorCase):

    def test_model(self):
        m = small_model()
        x = unit_data(3, D)
        with libvae.Optimizer("adam") as opt, libvae.Dataset.from_numpy(x) as ds:
            m.close()
            m.close()                      # idempotent
            self.assertTrue(m.closed)
            calls = [
                lambda: m.train_step(x, opt), lambda: m.fit(ds, optimizer=opt),
                lambda: m.train_epoch(ds, opt), lambda: m.evaluate(ds),
                lambda: m.elbo(x), lambda: m.encode(x),
                lambda: m.decode(np.zeros((1, K), np.float32)), lambda: m.reconstruct(x),
                lambda: m.sample(2), lambda: m.save(os.devnull), lambda: m.config,
                lambda: m.param_count, lambda: m.threads, lambda: setattr(m, "threads", 2),
            ]
            for fn in calls:
                self.assertVaeError(libvae.VAE_ERR_NULL, fn, contains="model is closed")
            self.assertEqual(repr(m), "<libvae.Model closed>")

    def test_optimizer_and_dataset(self):
        x = unit_data(3, D)
        opt = libvae.Optimizer("sgd")
        opt.close()
        for fn in (lambda: opt.lr, lambda: setattr(opt, "lr", 0.1), lambda: opt.steps,
                   lambda: opt.config, lambda: opt.momentum, lambda: opt.set_config(lr=1)):
            self.assertVaeError(libvae.VAE_ERR_NULL, fn, contains="optimizer is closed")
        with small_model() as m:
            self.assertVaeError(libvae.VAE_ERR_NULL, m.train_step, x, opt,
                                contains="optimizer is closed")
            self.assertVaeError(libvae.VAE_ERR_NULL, m.save, os.devnull, opt)
            ds = libvae.Dataset.from_numpy(x)
            with ds:
                pass
            self.assertTrue(ds.closed)
            for fn in (lambda: len(ds), lambda: ds.dim, lambda: ds.numpy(), lambda: ds.labels(),
                       lambda: ds.subset(0, 1), lambda: ds.set_binarize("threshold"),
                       lambda: m.evaluate(ds), lambda: m.fit(ds)):
                self.assertVaeError(libvae.VAE_ERR_NULL, fn, contains="dataset is closed")

    def test_context_manager_closes_on_error(self):
        with self.assertRaises(Error):
            with small_model() as m:
                m.encode(np.zeros((1, D + 1)))
        self.assertTrue(m.closed)


class TestInvalidValues(ErrorCase):

    def test_model_config(self):
        bad = [
            dict(latent=0), dict(input_dim=-5), dict(hidden=(0,)), dict(hidden=(8, -1)),
            dict(likelihood="poisson"), dict(activation="gelu"), dict(kl="exact"),
            dict(threads=0), dict(threads=1000), dict(gaussian_sigma=-1.0),
            dict(gaussian_sigma=float("nan")), dict(samples=0), dict(seed=-1),
            dict(input_dim=1 << 40), dict(hidden=(4,) * 9), dict(hidden="big"),
            dict(likelihood=17), dict(activation=-3), dict(latent=2.5), dict(latent="20"),
        ]
        for kw in bad:
            with self.subTest(kw):
                self.assertVaeError(libvae.VAE_ERR_INVALID, small_model, **kw)
        with self.assertRaises(TypeError):
            small_model(no_such_option=1)

    def test_model_setters_and_calls(self):
        with small_model() as m:
            self.assertVaeError(libvae.VAE_ERR_INVALID, setattr, m, "threads", 0,
                                contains="threads = 0")
            self.assertVaeError(libvae.VAE_ERR_INVALID, setattr, m, "threads", 257)
            self.assertEqual(m.threads, 1)
            with libvae.Dataset.from_numpy(unit_data(10, D)) as ds:
                self.assertVaeError(libvae.VAE_ERR_INVALID, m.fit, ds, batch_size=0,
                                    contains="batch_size = 0")
                self.assertVaeError(libvae.VAE_ERR_INVALID, m.evaluate, ds, batch_size=-1)
                self.assertVaeError(libvae.VAE_ERR_INVALID, m.fit, ds, epochs=-1)
            self.assertVaeError(libvae.VAE_ERR_INVALID, m.train_step, unit_data(2, D),
                                optimizer="adam")
            # An optimizer bound to another model's parameters.
            with libvae.Optimizer("adam") as opt, small_model(hidden=(H + 1,)) as other:
                m.train_step(unit_data(2, D), opt)
                self.assertVaeError(libvae.VAE_ERR_SHAPE, other.train_step, unit_data(2, D),
                                    opt, contains="optimizer")

    def test_training_settings_and_params(self):
        if not libvae.capi.has("vae_model_set_training"):
            self.skipTest("this libvae has no vae_model_set_training")
        x = unit_data(4, D)
        for kw in (dict(estimator="magic"), dict(baseline="avg"), dict(objective="kl"),
                   dict(posterior="cauchy"), dict(beta=-1), dict(ema_decay=1.0),
                   dict(estimator="score", baseline="loo", samples=1),
                   dict(objective="iwae", estimator="score"),
                   dict(estimator="score-ema", baseline="loo")):
            with self.subTest(kw):
                self.assertVaeError(libvae.VAE_ERR_INVALID, small_model, **kw)
        with small_model() as m:
            self.assertVaeError(libvae.VAE_ERR_INVALID, m.set_training, objective="iwae",
                                estimator="score", contains="pathwise")
            self.assertVaeError(libvae.VAE_ERR_INVALID, m.set_training, samples=0)
            self.assertEqual(m.config["objective"], "elbo")     # nothing changed
            self.assertVaeError(libvae.VAE_ERR_INVALID, m.log_likelihood, x, k=0,
                                contains="k = 0")
            self.assertVaeError(libvae.VAE_ERR_SHAPE, m.log_likelihood, x[:, 1:])
            self.assertVaeError(libvae.VAE_ERR_INVALID, m.gradient_stats, x, draws=1,
                                contains="draws")
            self.assertVaeError(libvae.VAE_ERR_INVALID, m.gradient_stats, x, draws=4,
                                training=dict(beta=float("nan")))
            flat = m.get_params()
            self.assertVaeError(libvae.VAE_ERR_SHAPE, m.set_params, flat[:-1],
                                contains="parameters")
            self.assertVaeError(libvae.VAE_ERR_SHAPE, m.set_params, flat.reshape(1, -1))
            bad = flat.copy()
            bad[5] = np.inf
            self.assertVaeError(libvae.VAE_ERR_NONFINITE, m.set_params, bad,
                                contains="in[5]")
            self.assertVaeError(libvae.VAE_ERR_INVALID, m.set_params, {"enc.9.W": 0})
            self.assertVaeError(libvae.VAE_ERR_SHAPE, m.set_params, {"enc.0.W": np.zeros(3)})
            np.testing.assert_array_equal(m.get_params(), flat)    # unchanged
        m.close()
        for fn in (lambda: m.set_training(beta=2), lambda: m.log_likelihood(x),
                   lambda: m.gradient_stats(x, 3), lambda: m.get_params(),
                   lambda: m.set_params(flat), lambda: m.param_tensors(), lambda: m.params()):
            self.assertVaeError(libvae.VAE_ERR_NULL, fn, contains="model is closed")

    def test_optimizer_config(self):
        bad = [("nadam", {}), ("adam", dict(lr=0)), ("adam", dict(lr=-1)),
               ("adam", dict(lr=float("nan"))), ("adam", dict(beta1=1.0)),
               ("adam", dict(beta2=-0.1)), ("adagrad", dict(eps=0)),
               ("momentum", dict(momentum=1.5)), ("sgd", dict(weight_decay=-1)),
               ("sgd", dict(clip_norm=-1)), (99, {}), ("adam", dict(lr="fast"))]
        for t, kw in bad:
            with self.subTest((t, kw)):
                self.assertVaeError(libvae.VAE_ERR_INVALID, libvae.Optimizer, t, **kw)
        with self.assertRaises(TypeError):
            libvae.Optimizer("adam", learning_rate=1)
        with libvae.Optimizer("adam") as opt:
            self.assertVaeError(libvae.VAE_ERR_INVALID, setattr, opt, "lr", -1,
                                contains="lr = -1")
            self.assertVaeError(libvae.VAE_ERR_INVALID, setattr, opt, "beta1", 2,
                                contains="beta1")
            self.assertEqual(opt.lr, 1e-3)      # unchanged by the refused calls
            self.assertEqual(opt.beta1, 0.9)

    def test_dataset_values(self):
        x = unit_data(5, D)
        self.assertVaeError(libvae.VAE_ERR_INVALID, libvae.Dataset.from_numpy, x, copy=False,
                            scale="255", contains="borrowed")
        self.assertVaeError(libvae.VAE_ERR_INVALID, libvae.Dataset.from_numpy, x,
                            scale="log")
        self.assertVaeError(libvae.VAE_ERR_INVALID, libvae.Dataset.from_numpy, x,
                            binarize="sometimes")
        self.assertVaeError(libvae.VAE_ERR_INVALID, libvae.Dataset.from_numpy, x,
                            binarize="threshold", threshold=float("nan"))
        self.assertVaeError(libvae.VAE_ERR_INVALID, libvae.Dataset.from_numpy, x * 5,
                            binarize="dynamic", contains="dynamic binarisation")
        self.assertVaeError(libvae.VAE_ERR_SHAPE, libvae.Dataset.from_numpy, x,
                            labels=np.arange(4))
        self.assertVaeError(libvae.VAE_ERR_SHAPE, libvae.Dataset.from_numpy, x[0])
        self.assertVaeError(libvae.VAE_ERR_INVALID, libvae.Dataset.from_numpy,
                            np.zeros((0, D), np.float32))
        self.assertVaeError(libvae.VAE_ERR_INVALID, libvae.Dataset.from_numpy, x,
                            labels=np.full(5, 0.5))
        # Conditions (0.3.0): one row per example, finite.
        self.assertVaeError(libvae.VAE_ERR_SHAPE, libvae.Dataset.from_numpy, x,
                            conditions=np.zeros((4, 2)))
        self.assertVaeError(libvae.VAE_ERR_NONFINITE, libvae.Dataset.from_numpy, x,
                            conditions=np.full((5, 2), np.nan))
        with libvae.Dataset.from_numpy(x, conditions=np.zeros((5, 2))) as ds:
            self.assertEqual(ds.cond_dim, 2)
        with libvae.Dataset.from_numpy(x * 5) as ds:
            self.assertVaeError(libvae.VAE_ERR_INVALID, ds.subset, 3, 3,
                                contains="do not fit")
            self.assertVaeError(libvae.VAE_ERR_INVALID, ds.subset, 0, 0)
            self.assertVaeError(libvae.VAE_ERR_INVALID, ds.subset, -1, 2)
            self.assertVaeError(libvae.VAE_ERR_INVALID, ds.set_binarize, "dynamic",
                                contains="dynamic binarisation")
            self.assertVaeError(libvae.VAE_ERR_INVALID, ds.set_binarize, 7)
        with self.assertRaises(TypeError):
            libvae.Dataset()


class TestCallbacks(ErrorCase):

    def test_exceptions_cross_back_into_python(self):
        x = unit_data(40, D)
        with small_model() as m:
            class Boom(Exception):
                pass

            def boom(epoch, batch, n_batches, running):
                if batch == 1:
                    raise Boom("from the callback")
            with self.assertRaises(Boom):
                m.fit(x, epochs=2, batch_size=10, callback=boom)
            with self.assertRaises(Boom):
                m.train_epoch(x, batch_size=10, callback=lambda *a: boom(1, *a))
            # A callback may not use the handles of the running call.
            with self.assertRaises(Error) as cm:
                m.fit(x, batch_size=10, callback=lambda *a: m.sample(1))
            self.assertIn("in use", cm.exception.message)
            with self.assertRaises(Error):
                m.fit(x, batch_size=10, callback=lambda *a: m.close())
            self.assertFalse(m.closed)
            # Still usable.
            self.assertEqual(m.fit(x, epochs=1, batch_size=10)[0].n, 40)

    def test_stop_requests(self):
        x = unit_data(40, D)
        with small_model() as m:
            seen = []
            out = m.fit(x, epochs=5, batch_size=10,
                        callback=lambda e, b, nb, r: seen.append((e, b, nb)) or (e, b) == (2, 1))
            self.assertEqual(len(out), 1)          # epoch 2 was cut short
            self.assertEqual(seen[-1], (2, 1, 4))
            self.assertEqual(seen[:4], [(1, 0, 4), (1, 1, 4), (1, 2, 4), (1, 3, 4)])
            e = self.assertVaeError(libvae.VAE_ERR_CANCELLED, m.train_epoch, x, batch_size=10,
                                    callback=lambda b, nb, r: True)
            self.assertIn("callback", e.message)
            out = m.fit(x, epochs=5, batch_size=10, on_epoch=lambda e, st: e == 3)
            self.assertEqual(len(out), 3)


if __name__ == "__main__":
    unittest.main()


class TestPngErrors(ErrorCase):

    def test_png_bad_input(self):
        tmp = tmpdir()
        self.addCleanup(tmp.cleanup)
        path = os.path.join(tmp.name, "png-errors.png")
        self.assertVaeError(libvae.VAE_ERR_SHAPE, libvae.write_png_grid, path, np.zeros((2, 5)))
        self.assertVaeError(libvae.VAE_ERR_SHAPE, libvae.write_png_grid, path, np.zeros((2, 5)),
                            shape=(2, 3))
        self.assertVaeError(libvae.VAE_ERR_NONFINITE, libvae.write_png_grid, path,
                            np.full((1, 2, 2), np.nan), contains="not finite")
        self.assertVaeError(libvae.VAE_ERR_INVALID, libvae.write_png_grid, path,
                            np.zeros((1, 2, 2)), cols=0)
        self.assertVaeError(libvae.VAE_ERR_IO, libvae.write_png_grid,
                            "/nonexistent-dir/x.png", np.zeros((1, 2, 2)))
        self.assertFalse(os.path.exists(path))

    def test_png_written(self):
        tmp = tmpdir()
        self.addCleanup(tmp.cleanup)
        path = os.path.join(tmp.name, "png-ok.png")
        libvae.write_png_grid(path, np.linspace(0, 1, 4 * 6).reshape(4, 6), cols=2,
                              shape=(2, 3))
        with open(path, "rb") as f:
            head = f.read(24)
        self.assertEqual(head[:8], b"\x89PNG\r\n\x1a\n")
        self.assertEqual(int.from_bytes(head[16:20], "big"), 2 * 3 + 2)  # width
        self.assertEqual(int.from_bytes(head[20:24], "big"), 2 * 2 + 2)  # height
        os.remove(path)
