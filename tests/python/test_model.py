"""The Pythonic API: round trips, shapes, configuration, datasets, optimizers."""
import gc
import os
import threading
import unittest

from vaetest import HAVE_MNIST, MNIST_IMAGES, MNIST_LABELS, need_mnist, np, tmpdir, unit_data

import libvae

D, H, K = 20, 16, 4


def small_model(**kw):
    args = dict(input_dim=D, hidden=(H,), latent=K, seed=5)
    args.update(kw)
    return libvae.Model(**args)


class TestLibrary(unittest.TestCase):

    def test_version(self):
        v = libvae.version()
        self.assertRegex(v, r"^\d+\.\d+\.\d+$")
        self.assertEqual(".".join(map(str, libvae.version_info())), v)
        self.assertEqual(libvae.__version__, v)
        self.assertTrue(os.path.exists(libvae.library_path) or "/" not in libvae.library_path)

    def test_every_header_function_is_declared(self):
        import re
        here = os.path.dirname(os.path.abspath(__file__))
        header = os.path.join(here, "..", "..", "include", "libvae", "vae.h")
        names = set(re.findall(r"VAE_API\s+[^;(]*?\b(vae_\w+)\s*\(", open(header).read()))
        self.assertGreater(len(names), 30)
        for n in sorted(names):
            fn = getattr(libvae.capi.lib, n)
            self.assertIsNotNone(fn.argtypes, n)

    def test_struct_defaults_come_from_the_library(self):
        c = libvae.capi.new_model_config()
        self.assertEqual(c.struct_size, __import__("ctypes").sizeof(libvae.capi.ModelConfig))
        self.assertEqual((c.input_dim, c.latent_dim, c.n_hidden, c.hidden[0]), (784, 20, 1, 400))
        o = libvae.capi.new_optimizer_config(libvae.capi.VAE_OPT_SGD)
        self.assertAlmostEqual(o.lr, 1e-2)
        d = libvae.capi.new_dataset_options()
        self.assertEqual((d.scale, d.csv_label_column), (libvae.capi.VAE_SCALE_AUTO, -1))


class TestModel(unittest.TestCase):

    def test_defaults_and_config(self):
        with libvae.Model() as m:
            c = m.config
            self.assertEqual(c["input_dim"], 784)
            self.assertEqual(c["hidden"], (400,))
            self.assertEqual(c["latent"], 20)
            self.assertEqual(c["likelihood"], "bernoulli")
            self.assertEqual(c["activation"], "relu")
            self.assertEqual(c["kl"], "analytic")
            self.assertEqual(c["leaky_slope"], 0.01)
            self.assertEqual((c["seed"], c["threads"], c["samples"]), (1, 1, 1))
            self.assertEqual(m.param_count, 652824)
            # Model(**config) rebuilds the same model: same parameters, same outputs.
            x = unit_data(3, 784)
            with libvae.Model(**c) as m2:
                self.assertEqual(m2.config, c)
                np.testing.assert_array_equal(m.reconstruct(x), m2.reconstruct(x))

    def test_options(self):
        with libvae.Model(input_dim=D, hidden=[12, 8], latent=3, likelihood="gaussian-learned",
                          activation="leaky_relu", leaky_slope=0.2, gaussian_sigma=0.5,
                          samples=3, kl="mc", logvar_min=-10, logvar_max=5, seed=2**40,
                          threads=2) as m:
            c = m.config
            self.assertEqual(c["hidden"], (12, 8))
            self.assertEqual(c["likelihood"], "gaussian-learned")
            self.assertEqual(c["activation"], "leaky-relu")
            self.assertEqual(c["kl"], "mc")
            self.assertEqual((c["leaky_slope"], c["gaussian_sigma"]), (0.2, 0.5))
            self.assertEqual((c["samples"], c["logvar_min"], c["logvar_max"]), (3, -10.0, 5.0))
            self.assertEqual((c["seed"], c["threads"]), (2**40, 2))
            m.threads = 1
            self.assertEqual(m.threads, 1)
            # per layer W and b: encoder 20-12-8, heads 8->3 twice, decoder 3-8-12-20, log sigma
            expect = (20 * 12 + 12) + (12 * 8 + 8) + 2 * (8 * 3 + 3) + (3 * 8 + 8) + \
                (8 * 12 + 12) + (12 * 20 + 20) + 20
            self.assertEqual(m.param_count, expect)
            st = m.train_step(unit_data(8, D) * 4 - 2)      # Gaussian: any real data
            self.assertTrue(np.isfinite(st.elbo))
        for act in ("relu", "leaky-relu", "tanh", "sigmoid", "softplus"):
            with small_model(activation=act, hidden=()) as m:
                self.assertEqual(m.config["activation"], act)
                self.assertEqual(m.config["hidden"], ())
        with small_model(hidden=7) as m:
            self.assertEqual(m.config["hidden"], (7,))

    def test_shapes_and_ranges(self):
        x = unit_data(9, D)
        with small_model() as m:
            mu, lv = m.encode(x)
            self.assertEqual((mu.shape, lv.shape), ((9, K), (9, K)))
            self.assertEqual((mu.dtype, lv.dtype), (np.float32, np.float32))
            self.assertTrue(mu.flags.c_contiguous and mu.flags.writeable)
            out = m.decode(mu)
            self.assertEqual(out.shape, (9, D))
            self.assertTrue(np.all((out >= 0) & (out <= 1)))
            np.testing.assert_array_equal(out, m.reconstruct(x))
            s = m.sample(13)
            self.assertEqual((s.shape, s.dtype), ((13, D), np.float32))
            self.assertTrue(np.all((s >= 0) & (s <= 1)))
            self.assertFalse(np.array_equal(m.sample(13), s))   # the generator moves on
            per, st = m.elbo(x)
            self.assertEqual(per.shape, (9,))
            self.assertEqual(st.n, 9)
            self.assertAlmostEqual(st.elbo, st.rec - st.kl, places=6)
            self.assertAlmostEqual(st.loss, -st.elbo, places=4)
            self.assertTrue(np.all(per < 0))
            # evaluate is reproducible: its stream is reset at every call.
            self.assertEqual(m.evaluate(x), m.evaluate(x))
        with small_model(likelihood="gaussian") as m:
            s = m.sample(5)
            self.assertEqual(s.shape, (5, D))
            self.assertTrue(np.all(np.isfinite(s)))

    def test_training_improves_and_fit_stats(self):
        rng = np.random.default_rng(1)
        proto = (rng.random((4, D)) > 0.5).astype(np.float32)
        x = proto[rng.integers(0, 4, 400)]
        with small_model() as m:
            first = m.evaluate(x).elbo
            hist = m.fit(x, epochs=15, batch_size=20)
            self.assertEqual(len(hist), 15)
            self.assertTrue(all(isinstance(s, libvae.Stats) and s.n == 400 for s in hist))
            self.assertGreater(m.evaluate(x).elbo, first + 3)
            self.assertGreater(hist[-1].elbo, hist[0].elbo)
            self.assertEqual(m.optimizer.type, "adam")
            self.assertEqual(m.optimizer.steps, 15 * 20)
            # fit() continues with the same default optimizer.
            m.fit(x, epochs=1, batch_size=20)
            self.assertEqual(m.optimizer.steps, 16 * 20)
            self.assertEqual(m.fit(x, epochs=0), [])

    def test_dataset_and_array_training_agree(self):
        x = unit_data(50, D)
        with small_model() as a, small_model() as b, libvae.Dataset.from_numpy(x) as ds:
            sa = a.fit(ds, epochs=2, batch_size=16, optimizer=libvae.Optimizer("adam"))
            sb = b.fit(x, epochs=2, batch_size=16, optimizer=libvae.Optimizer("adam"))
            self.assertEqual(sa, sb)
            sa = a.train_epoch(ds, batch_size=7)
            sb = b.train_epoch(x, batch_size=7)
            self.assertEqual(sa, sb)

    def test_save_load_round_trip(self):
        x = unit_data(30, D)
        with tmpdir() as d:
            path = os.path.join(d, "m.ckpt")
            with small_model(likelihood="gaussian-learned") as m, libvae.Optimizer("adam") as opt:
                m.fit(x, epochs=2, batch_size=10, optimizer=opt)
                m.save(path, opt)
                ref_rec = m.reconstruct(x)
                ref_enc = m.encode(x)
                ref_eval = m.evaluate(x)
                ref_cfg = m.config
                # Continuing here and continuing from the file give the same numbers.
                cont = m.fit(x, epochs=2, batch_size=10, optimizer=opt)
                cont_sample = m.sample(4)
            m2 = libvae.Model.load(path)
            self.assertEqual(m2.config, ref_cfg)
            np.testing.assert_array_equal(m2.reconstruct(x), ref_rec)
            for a, b in zip(m2.encode(x), ref_enc):
                np.testing.assert_array_equal(a, b)
            self.assertEqual(m2.evaluate(x), ref_eval)
            self.assertIsNotNone(m2.optimizer)      # loaded with the file's Adam state
            self.assertEqual(m2.fit(x, epochs=2, batch_size=10), cont)
            np.testing.assert_array_equal(m2.sample(4), cont_sample)
            m2.close()
            m3, opt3 = libvae.Model.load(path, with_optimizer=True)
            self.assertEqual(opt3.type, "adam")
            self.assertEqual(opt3.steps, 6)
            m3.close()
            opt3.close()
            # Without optimizer state in the file.
            p2 = os.path.join(d, "model-only.ckpt")
            with small_model() as m:
                m.save(p2)
                m4, opt4 = libvae.Model.load(p2, with_optimizer=True)
                self.assertIsNone(opt4)
                np.testing.assert_array_equal(m4.reconstruct(x), m.reconstruct(x))
                m4.close()
            # pathlib paths work.
            import pathlib
            with libvae.Model.load(pathlib.Path(p2)) as m5:
                self.assertEqual(m5.input_dim, D)

    def test_log_likelihood(self):
        x = unit_data(4, D)
        with small_model() as m:
            if not libvae.capi.has("vae_model_log_likelihood"):
                with self.assertRaises(NotImplementedError) as cm:
                    m.log_likelihood(x, k=10)
                self.assertIn("vae_model_log_likelihood", str(cm.exception))
            else:
                per, mean = m.log_likelihood(x, k=50)
                self.assertEqual(per.shape, (4,))
                self.assertAlmostEqual(mean, float(np.mean(per)), places=3)
                # The importance-weighted bound is at least the ELBO on average.
                self.assertGreater(mean, m.evaluate(x).elbo - 1.0)

    def test_concurrent_models_in_threads(self):
        """Different handles in different threads give the same numbers as in sequence."""
        x = unit_data(64, D)

        def run(seed):
            with small_model(seed=seed) as m:
                return m.fit(x, epochs=3, batch_size=16, optimizer=libvae.Optimizer("adam"))
        expected = [run(s) for s in range(4)]
        got = [None] * 4

        def worker(i):
            got[i] = run(i)
        ts = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual(got, expected)

    def test_shared_model_across_threads_is_serialised(self):
        x = unit_data(32, D)
        with small_model() as m:
            errors = []

            def worker():
                try:
                    for _ in range(20):
                        m.reconstruct(x)
                        m.train_step(x)
                except Exception as e:   # pragma: no cover
                    errors.append(e)
            ts = [threading.Thread(target=worker) for _ in range(3)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            self.assertEqual(errors, [])
            self.assertEqual(m.optimizer.steps, 60)


class TestTrainingSettings(unittest.TestCase):
    """Estimators, objectives, posteriors, parameter access (libvae 0.2 API)."""

    def setUp(self):
        if not libvae.capi.has("vae_model_set_training"):
            self.skipTest("this libvae has no vae_model_set_training")

    def test_options_reach_the_config(self):
        with small_model(posterior="laplace", estimator="score-ema", ema_decay=0.5,
                         samples=3, beta=0.25) as m:
            c = m.config
            self.assertEqual((c["posterior"], c["kl"]), ("laplace", "mc"))   # vae-train's rule
            self.assertEqual((c["estimator"], c["baseline"]), ("score", "ema"))
            self.assertEqual((c["ema_decay"], c["samples"], c["beta"]), (0.5, 3, 0.25))
            self.assertTrue(np.isfinite(m.train_step(unit_data(8, D)).elbo))
        with small_model(objective="iwae", samples=4, score_reward="rec") as m:
            self.assertEqual((m.config["objective"], m.config["score_reward"]), ("iwae", "rec"))
        for post in ("gaussian", "laplace", "logistic"):
            with small_model(posterior=post) as m:
                self.assertEqual(m.config["posterior"], post)
                m.fit(unit_data(20, D), epochs=1, batch_size=10)

    def test_set_training(self):
        x = unit_data(16, D)
        with small_model() as a, small_model() as b:
            a.set_training(objective="iwae", samples=5, beta=0.5, threads=2)
            c = a.config
            self.assertEqual((c["objective"], c["samples"], c["beta"], c["threads"]),
                             ("iwae", 5, 0.5, 2))
            # Parameters are kept: outputs agree with an untouched twin.
            np.testing.assert_array_equal(a.reconstruct(x), b.reconstruct(x))
            self.assertNotEqual(a.train_step(x, libvae.Optimizer()),
                                b.train_step(x, libvae.Optimizer()))
            with self.assertRaises(TypeError):
                a.set_training(latent=3)

    def test_log_likelihood(self):
        x = unit_data(6, D)
        with small_model() as m:
            m.fit(unit_data(60, D), epochs=3, batch_size=10)
            per, mean = m.log_likelihood(x, k=64)
            self.assertEqual((per.shape, per.dtype), ((6,), np.float32))
            self.assertAlmostEqual(mean, float(np.mean(per.astype(np.float64))), places=4)
            # A function of parameters, x and k; the IWAE bound tops the ELBO on average.
            per2, mean2 = m.log_likelihood(x, k=64)
            np.testing.assert_array_equal(per, per2)
            self.assertGreater(mean, m.evaluate(x).elbo - 0.5)

    def test_gradient_stats(self):
        x = unit_data(12, D)
        with small_model() as m:
            before = m.get_params()
            r = m.gradient_stats(x, draws=8, mean_grad=True)
            names = [t.name for t in m.param_tensors()]
            self.assertEqual(list(r.tensors), names)
            self.assertEqual(r.mean_grad.shape, (m.param_count,))
            self.assertGreater(r.overall.mean_norm, 0)
            self.assertAlmostEqual(r.overall.snr,
                                   r.overall.mean_norm / np.sqrt(r.overall.total_variance))
            np.testing.assert_array_equal(m.get_params(), before)      # unchanged
            s = m.gradient_stats(x, draws=8, training=dict(estimator="score-loo", samples=4))
            self.assertIsNone(s.mean_grad)
            # The score-function estimator is noisier for the encoder.
            self.assertLess(s.encoder.snr, r.encoder.snr)
            self.assertEqual(m.config["estimator"], "pathwise")        # not changed

    def test_params(self):
        x = unit_data(5, D)
        with small_model() as a, small_model(seed=99) as b:
            tensors = a.param_tensors()
            self.assertEqual(tensors[0].name, "enc.0.W")
            self.assertEqual(tensors[0].shape, (D, H))
            self.assertEqual(sum(t.shape[0] * t.shape[1] for t in tensors), a.param_count)
            self.assertEqual([t.offset for t in tensors],
                             sorted(t.offset for t in tensors))
            flat = a.get_params()
            self.assertEqual((flat.shape, flat.dtype), ((a.param_count,), np.float32))
            self.assertFalse(np.array_equal(flat, b.get_params()))
            b.set_params(flat)
            np.testing.assert_array_equal(b.get_params(), flat)
            np.testing.assert_array_equal(a.reconstruct(x), b.reconstruct(x))
            p = a.params()
            np.testing.assert_array_equal(p["enc.0.W"], flat[:D * H].reshape(D, H))
            b.set_params({"dec.out.b": np.zeros(D)})
            np.testing.assert_array_equal(b.params()["dec.out.b"], np.zeros((1, D)))
            np.testing.assert_array_equal(b.params()["enc.0.W"], p["enc.0.W"])


class TestOptimizer(unittest.TestCase):

    def test_types_and_properties(self):
        for t, lr in (("sgd", 1e-2), ("momentum", 1e-2), ("adagrad", 1e-2), ("adam", 1e-3)):
            with libvae.Optimizer(t) as o:
                self.assertEqual(o.type, t)
                self.assertEqual(o.lr, lr)
                self.assertEqual(o.steps, 0)
        with libvae.Optimizer("momentum", lr=0.05, momentum=0.5, weight_decay=1e-4,
                              clip_norm=5) as o:
            c = o.config
            self.assertEqual((c["lr"], c["momentum"], c["weight_decay"], c["clip_norm"]),
                             (0.05, 0.5, 1e-4, 5.0))
            o.lr = 0.02
            o.momentum = 0.8
            self.assertEqual((o.lr, o.momentum), (0.02, 0.8))
            o.set_config(weight_decay=0, clip_norm=1)
            self.assertEqual((o.weight_decay, o.clip_norm), (0.0, 1.0))
        with libvae.Optimizer("adam", beta1=0.5, beta2=0.9, eps=1e-6) as o:
            self.assertEqual((o.beta1, o.beta2, o.eps), (0.5, 0.9, 1e-6))
            self.assertIn("adam", repr(o))
        with libvae.Optimizer(libvae.capi.VAE_OPT_SGD) as o:
            self.assertEqual(o.type, "sgd")

    def test_every_optimizer_trains(self):
        x = unit_data(40, D)
        for t in ("sgd", "momentum", "adagrad", "adam"):
            with small_model() as m, libvae.Optimizer(t) as o:
                hist = m.fit(x, epochs=2, batch_size=10, optimizer=o)
                self.assertEqual(o.steps, 8)
                self.assertTrue(all(np.isfinite(s.elbo) for s in hist))

    def test_learning_rate_change_matters(self):
        x = unit_data(20, D)
        with small_model() as a, small_model() as b, \
                libvae.Optimizer("sgd") as oa, libvae.Optimizer("sgd") as ob:
            ob.lr = 0.5
            a.train_step(x, oa)
            b.train_step(x, ob)
            self.assertFalse(np.array_equal(a.reconstruct(x), b.reconstruct(x)))


class TestDataset(unittest.TestCase):

    def test_from_numpy(self):
        x = unit_data(10, D)
        labels = np.arange(10) % 3
        with libvae.Dataset.from_numpy(x, labels=labels) as ds:
            self.assertEqual((len(ds), ds.dim, ds.shape, ds.count), (10, D, (10, D), 10))
            self.assertTrue(ds.has_labels)
            v = ds.numpy()
            np.testing.assert_array_equal(v, x)
            self.assertFalse(v.flags.writeable)
            with self.assertRaises(ValueError):
                v[0, 0] = 1
            np.testing.assert_array_equal(ds.labels(), labels)
            self.assertIn("10 x %d" % D, repr(ds))
        # The copy is independent of the caller's array.
        y = x.copy()
        with libvae.Dataset.from_numpy(y) as ds:
            y[:] = 0
            np.testing.assert_array_equal(ds.numpy(), x)
            self.assertFalse(ds.has_labels)
            self.assertIsNone(ds.labels())
        # Images (n, h, w) are flattened per example.
        with libvae.Dataset.from_numpy(x.reshape(10, 4, 5)) as ds:
            self.assertEqual(ds.shape, (10, D))

    def test_borrow_is_zero_copy_and_keeps_the_array(self):
        x = unit_data(10, D)
        ds = libvae.Dataset.from_numpy(x, copy=False)
        v = ds.numpy()
        self.assertEqual(v.__array_interface__["data"][0], x.__array_interface__["data"][0])
        addr = x.__array_interface__["data"][0]
        ref = x.copy()
        del x
        gc.collect()
        _ = [np.ones(1000) for _ in range(100)]      # churn the allocator
        np.testing.assert_array_equal(ds.numpy(), ref)
        self.assertEqual(ds.numpy().__array_interface__["data"][0], addr)
        with small_model() as m:
            m.fit(ds, epochs=1, batch_size=5)

    def test_views_outlive_close(self):
        x = unit_data(6, D)
        ds = libvae.Dataset.from_numpy(x, labels=np.arange(6))
        v, lab = ds.numpy(), ds.labels()
        ds.close()
        del ds
        gc.collect()
        _ = [np.ones(1000) for _ in range(100)]
        np.testing.assert_array_equal(v, x)
        np.testing.assert_array_equal(lab, np.arange(6))

    def test_scaling_and_binarisation(self):
        raw = np.array([[0, 51, 255], [255, 102, 0]], dtype=np.uint8)
        with libvae.Dataset.from_numpy(raw, scale="255") as ds:
            np.testing.assert_array_equal(ds.numpy(), raw.astype(np.float32) / np.float32(255))
        with libvae.Dataset.from_numpy(raw, scale=255) as ds:
            np.testing.assert_array_equal(ds.numpy(), raw.astype(np.float32) / np.float32(255))
        with libvae.Dataset.from_numpy(raw * 2.0 - 3, scale="minmax") as ds:
            v = ds.numpy()
            self.assertEqual((v.min(), v.max()), (0.0, 1.0))
        with libvae.Dataset.from_numpy(raw, scale="none") as ds:
            self.assertEqual(ds.numpy().max(), 255.0)
        # Threshold binarisation in the dataset == binarised data in numpy.
        x = unit_data(40, D)
        with small_model() as a, small_model() as b, \
                libvae.Dataset.from_numpy(x, binarize="threshold", threshold=0.3) as da, \
                libvae.Dataset.from_numpy((x > 0.3).astype(np.float32)) as db:
            np.testing.assert_array_equal(da.numpy(), x)     # stored values unbinarised
            self.assertEqual(a.fit(da, epochs=2, batch_size=8, optimizer=libvae.Optimizer()),
                             b.fit(db, epochs=2, batch_size=8, optimizer=libvae.Optimizer()))
        with small_model() as a, small_model() as b, libvae.Dataset.from_numpy(x) as da, \
                libvae.Dataset.from_numpy((x > 0.6).astype(np.float32)) as db:
            da.set_binarize("threshold", 0.6)
            self.assertEqual(a.train_epoch(da, batch_size=8), b.train_epoch(db, batch_size=8))
            da.set_binarize("dynamic")
            a.train_epoch(da, batch_size=8)
            da.set_binarize("none")

    def test_subset(self):
        x = unit_data(10, D)
        with libvae.Dataset.from_numpy(x, labels=np.arange(10)) as ds:
            with ds.subset(7, 3) as s:
                np.testing.assert_array_equal(s.numpy(), x[7:])
                np.testing.assert_array_equal(s.labels(), [7, 8, 9])
            s = ds.subset(0, 10)
        np.testing.assert_array_equal(s.numpy(), x)       # independent of its source

    def test_csv(self):
        with tmpdir() as d:
            p = os.path.join(d, "data.csv")
            with open(p, "w") as f:
                f.write("a,b,label,c\n0.5,0.25,1,1\n0,1,2,0.75\n\n0.125,0.5,0,0\n")
            with libvae.Dataset.from_csv(p, header=True, label_column=2) as ds:
                self.assertEqual(ds.shape, (3, 3))
                np.testing.assert_array_equal(ds.numpy(), [[0.5, 0.25, 1], [0, 1, 0.75],
                                                           [0.125, 0.5, 0]])
                np.testing.assert_array_equal(ds.labels(), [1, 2, 0])
            with libvae.Dataset.from_csv(p, header=True) as ds:
                self.assertEqual(ds.shape, (3, 4))
                self.assertFalse(ds.has_labels)

    @need_mnist
    def test_idx_with_labels(self):
        from vaetest import read_idx_numpy
        with libvae.Dataset.from_idx(MNIST_IMAGES, MNIST_LABELS) as ds:
            self.assertEqual(ds.shape, (10000, 784))
            np.testing.assert_array_equal(ds.labels(), read_idx_numpy(MNIST_LABELS))
            v = ds.numpy()
            self.assertEqual((v.min(), v.max()), (0.0, 1.0))
        with libvae.Dataset.from_idx(MNIST_IMAGES, scale="none") as ds:
            self.assertEqual(ds.numpy().max(), 255.0)


if __name__ == "__main__":
    unittest.main()
