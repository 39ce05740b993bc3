"""The 0.3.0 additions of the Python binding: conditional models (cond_dim,
prior, c= on the array methods), Dataset conditions, the beta-VAE / capacity
/ free-bits / aggressive options, training_state, aggressive_update and
diagnostics.

Oracles: the C calls themselves through libvae.capi (bit-identical results
on twin models with the same seed), closed forms on models whose parameters
are set by hand (KL of two Gaussians, the affine learned prior, variances of
the encoder means, MI = 0 for a collapsed encoder and ~log n for a
perfectly separating one), and the schedule formulas of docs/beta-vae.md.
"""
import ctypes
import math
import unittest

from vaetest import np

import libvae
from libvae import Error, capi

lib = capi.lib
D, H, K, C = 16, 12, 2, 3


def fptr(a):
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


def synthetic(n, seed):
    """n binary rows of D features from C classes: each class is a random
    prototype with 10% of its bits flipped. Returns (x, labels, onehot)."""
    rng = np.random.default_rng(1234)              # the same prototypes for every call
    protos = (rng.random((C, D)) < 0.5).astype(np.float32)
    rng = np.random.default_rng(seed)
    lab = rng.integers(0, C, n)
    flip = rng.random((n, D)) < 0.1
    x = np.abs(protos[lab] - flip).astype(np.float32)
    return x, lab.astype(np.int32), np.eye(C, dtype=np.float32)[lab], protos


def cond_model(**kw):
    args = dict(input_dim=D, hidden=(H,), latent=K, cond_dim=C, seed=5)
    args.update(kw)
    return libvae.Model(**args)


class ErrorCase(unittest.TestCase):

    def assertVaeError(self, status, fn, *args, contains=None, **kw):
        with self.assertRaises(Error) as cm:
            fn(*args, **kw)
        e = cm.exception
        self.assertEqual(e.status, status, "got %r" % (e,))
        self.assertTrue(e.message)
        if contains is not None:
            self.assertIn(contains, e.message)
        return e


class TestConditionalTraining(unittest.TestCase):

    def test_conditions_are_learned_and_used(self):
        x, lab, c, protos = synthetic(600, seed=1)
        xt, labt, ct, _ = synthetic(300, seed=2)
        ds = libvae.Dataset.from_numpy(x, labels=lab)
        ds.set_onehot(C)
        with cond_model(prior="learned", prior_hidden=8) as m:
            before = m.elbo(xt, c=ct)[1].elbo
            m.fit(ds, epochs=15, batch_size=50,
                  optimizer=libvae.Optimizer("adam", lr=1e-2))
            after = m.elbo(xt, c=ct)[1].elbo
            # Random guessing costs D log 2 = 11.1 nats; the class alone leaves
            # the 10% flips, D * H(0.1) = 5.2 nats.
            self.assertLess(before, -10.0)
            self.assertGreater(after, -8.0)
            # The right conditions explain the data better than wrong ones.
            wrong = np.roll(ct, 1, axis=1)
            self.assertGreater(after, m.elbo(xt, c=wrong)[1].elbo + 2.0)
            # Samples of class k look like prototype k (mean probabilities
            # closest to it among the C prototypes).
            for k in range(C):
                s = m.sample(400, c=np.eye(C, dtype=np.float32)[k:k + 1])
                self.assertEqual(s.shape, (400, D))
                dist = np.abs(s.mean(axis=0)[None, :] - protos).sum(axis=1)
                self.assertEqual(int(np.argmin(dist)), k, dist)
            # log p(x|c) >= ELBO (in expectation; by far here) and finite.
            per, mean = m.log_likelihood(xt[:50], k=50, c=ct[:50])
            self.assertTrue(np.all(np.isfinite(per)))
            self.assertGreater(mean, m.elbo(xt[:50], c=ct[:50])[1].elbo - 0.5)
            self.assertEqual(m.evaluate(xt, c=ct).n, 300)

    def test_fit_with_array_and_c_equals_fit_with_dataset(self):
        x, lab, c, _ = synthetic(200, seed=3)
        ds = libvae.Dataset.from_numpy(x, conditions=c)
        np.testing.assert_array_equal(ds.conditions(), c)
        with cond_model() as a, cond_model() as b:
            sa = a.fit(ds, epochs=2, batch_size=40)
            sb = b.fit(x, epochs=2, batch_size=40, c=c)
            self.assertEqual(sa, sb)
            np.testing.assert_array_equal(a.get_params(), b.get_params())


class TestBitIdenticalToC(unittest.TestCase):
    """Each Python method against the C call it wraps, on a twin model."""

    def setUp(self):
        self.x, _, self.c, _ = synthetic(20, seed=4)
        self.z = np.random.default_rng(9).standard_normal((20, K)).astype(np.float32)
        self.py = cond_model(prior="learned", prior_hidden=0)
        self.cm = cond_model(prior="learned", prior_hidden=0)
        # Non-trivial prior weights (they start at zero).
        rng = np.random.default_rng(2)
        p = {t.name: rng.standard_normal(t.shape).astype(np.float32) * 0.3
             for t in self.py.param_tensors() if t.name.startswith("prior.")}
        self.py.set_params(p)
        self.cm.set_params(p)
        self.h = self.cm._ptr
        self.n = self.x.shape[0]

    def tearDown(self):
        self.py.close()
        self.cm.close()

    def test_array_calls(self):
        x, c, z, n, h = self.x, self.c, self.z, self.n, self.h
        mu, lv = self.py.encode(x, c=c)
        cmu, clv = np.empty((n, K), np.float32), np.empty((n, K), np.float32)
        self.assertEqual(lib.vae_model_encode_cond(h, fptr(x), fptr(c), n, fptr(cmu),
                                                   fptr(clv)), 0)
        np.testing.assert_array_equal(mu, cmu)
        np.testing.assert_array_equal(lv, clv)

        out = np.empty((n, D), np.float32)
        self.assertEqual(lib.vae_model_decode_cond(h, fptr(z), fptr(c), n, fptr(out)), 0)
        np.testing.assert_array_equal(self.py.decode(z, c=c), out)
        self.assertEqual(lib.vae_model_reconstruct_cond(h, fptr(x), fptr(c), n, fptr(out)), 0)
        np.testing.assert_array_equal(self.py.reconstruct(x, c=c), out)

        pmu, plv = self.py.prior(c)
        self.assertEqual(lib.vae_model_prior_cond(h, fptr(c), n, fptr(cmu), fptr(clv)), 0)
        np.testing.assert_array_equal(pmu, cmu)
        np.testing.assert_array_equal(plv, clv)
        self.assertGreater(np.abs(pmu).max(), 0.01)

        per = np.empty(n, np.float32)
        st = capi.ElboStats()
        self.assertEqual(lib.vae_model_elbo_cond(h, fptr(x), fptr(c), n, fptr(per),
                                                 ctypes.byref(st)), 0)
        pper, pst = self.py.elbo(x, c=c)
        np.testing.assert_array_equal(pper, per)
        self.assertEqual(pst, libvae.Stats(st.elbo, st.rec, st.kl, st.loss, st.n))

        mean = ctypes.c_double()
        self.assertEqual(lib.vae_model_log_likelihood_cond(h, fptr(x), fptr(c), n, 7,
                                                           fptr(per), ctypes.byref(mean)), 0)
        pper, pmean = self.py.log_likelihood(x, k=7, c=c)
        np.testing.assert_array_equal(pper, per)
        self.assertEqual(pmean, mean.value)

        # sample: the model's generator advances identically in both twins.
        self.assertEqual(lib.vae_model_sample_cond(h, fptr(c), n, fptr(out)), 0)
        np.testing.assert_array_equal(self.py.sample(c=c), out)
        # One row of c for all n samples is the same as n copies of it.
        rep = np.ascontiguousarray(np.repeat(c[:1], 5, axis=0))
        out5 = np.empty((5, D), np.float32)
        self.assertEqual(lib.vae_model_sample_cond(h, fptr(rep), 5, fptr(out5)), 0)
        np.testing.assert_array_equal(self.py.sample(5, c=c[:1]), out5)

    def test_train_step(self):
        x, c, n, h = self.x, self.c, self.n, self.h
        opy = libvae.Optimizer("adam", lr=1e-2)
        oc = libvae.Optimizer("adam", lr=1e-2)
        st = capi.ElboStats()
        for _ in range(3):
            pst = self.py.train_step(x, optimizer=opy, c=c)
            self.assertEqual(lib.vae_model_train_step_cond(h, oc._ptr, fptr(x), fptr(c), n,
                                                           ctypes.byref(st)), 0)
            self.assertEqual(pst, libvae.Stats(st.elbo, st.rec, st.kl, st.loss, st.n))
        np.testing.assert_array_equal(self.py.get_params(), self.cm.get_params())

    def test_state_and_diagnostics(self):
        u_py = libvae.Model(input_dim=D, hidden=(H,), latent=K, seed=3, aggressive=True,
                            kl_schedule="linear", kl_warmup_steps=7)
        u_c = libvae.Model(input_dim=D, hidden=(H,), latent=K, seed=3, aggressive=True,
                           kl_schedule="linear", kl_warmup_steps=7)
        x = self.x
        n = x.shape[0]
        d = capi.Diagnostics()
        d.struct_size = ctypes.sizeof(d)
        kl, var = np.empty(K, np.float32), np.empty(K, np.float32)
        self.assertEqual(lib.vae_model_diagnostics(u_c._ptr, fptr(x), n, ctypes.byref(d),
                                                   fptr(kl), fptr(var)), 0)
        pd = u_py.diagnostics(x)
        self.assertEqual((pd.active_units, pd.mi, pd.kl, pd.n),
                         (d.active_units, d.mi, d.kl, d.n))
        np.testing.assert_array_equal(pd.kl_per_dim, kl)
        np.testing.assert_array_equal(pd.mu_variance, var)

        mi, act = ctypes.c_double(), ctypes.c_int()
        self.assertEqual(lib.vae_model_aggressive_update(u_c._ptr, fptr(x), n,
                                                         ctypes.byref(mi), ctypes.byref(act)), 0)
        self.assertEqual(u_py.aggressive_update(x), (mi.value, bool(act.value)))

        ts = capi.TrainingState()
        ts.struct_size = ctypes.sizeof(ts)
        self.assertEqual(lib.vae_model_training_state(u_c._ptr, ctypes.byref(ts)), 0)
        pts = u_py.training_state()
        self.assertEqual(pts, libvae.TrainingState(
            ts.step, ts.beta, ts.beta_norm, ts.capacity, bool(ts.aggressive_active),
            ts.aggressive_mi, ts.encoder_steps))
        u_py.close()
        u_c.close()


class TestConstructedCases(ErrorCase):

    def test_conditional_kl_against_the_closed_form(self):
        """Hand-set encoder and affine learned prior: stats.kl is the mean
        KL(N(mu_q, e^lv_q) || N(mu_p, e^lv_p)) of the formula."""
        n = 8
        rng = np.random.default_rng(11)
        x = (rng.random((n, D)) < 0.5).astype(np.float32)
        c = rng.standard_normal((n, C)).astype(np.float32)
        with cond_model(hidden=(), prior="learned", prior_hidden=0) as m:
            p = {t.name: (rng.standard_normal(t.shape) * 0.2).astype(np.float32)
                 for t in m.param_tensors()}
            m.set_params(p)
            xc = np.hstack([x, c]).astype(np.float64)
            mq = xc @ p["enc.mu.W"] + p["enc.mu.b"]
            lq = xc @ p["enc.logvar.W"] + p["enc.logvar.b"]
            mp = c.astype(np.float64) @ p["prior.mu.W"] + p["prior.mu.b"]
            lp = c.astype(np.float64) @ p["prior.logvar.W"] + p["prior.logvar.b"]
            pmu, plv = m.prior(c)
            np.testing.assert_allclose(pmu, mp, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(plv, lp, rtol=1e-5, atol=1e-6)
            mu, lv = m.encode(x, c=c)
            np.testing.assert_allclose(mu, mq, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(lv, lq, rtol=1e-5, atol=1e-6)
            kl = 0.5 * (lp - lq + (np.exp(lq) + (mq - mp) ** 2) / np.exp(lp) - 1).sum(axis=1)
            st = m.elbo(x, c=c)[1]
            self.assertAlmostEqual(st.kl, kl.mean(), delta=1e-5 * max(1.0, kl.mean()))

    def _encoder(self, m, wmu, bmu, blv):
        p = {"enc.mu.W": wmu, "enc.mu.b": bmu.reshape(1, -1),
             "enc.logvar.W": np.zeros_like(wmu), "enc.logvar.b": blv.reshape(1, -1)}
        m.set_params({k: v.astype(np.float32) for k, v in p.items()})

    def test_diagnostics_closed_forms(self):
        """Encoder mu = x W + b with unit variance: kl_per_dim = mean mu^2 / 2,
        mu_variance = the sample variance of mu, active units = those above 0.01."""
        n, k = 50, 3
        x = np.random.default_rng(3).random((n, D), dtype=np.float32)
        w = np.zeros((D, k))
        w[0, 0] = 2.0       # Var = 4 Var(x_0) ~ 0.33: active
        w[1, 2] = 0.1       # Var = 0.01 Var(x_1) ~ 0.0008: inactive
        b = np.array([0.0, 0.5, 0.0])   # dimension 1 constant: inactive, KL 0.125
        with libvae.Model(input_dim=D, hidden=(), latent=k, seed=1) as m:
            self._encoder(m, w, b, np.zeros(k))
            mu = x.astype(np.float64) @ w + b
            d = m.diagnostics(x)
            self.assertEqual(d.n, n)
            self.assertEqual(d.active_units, 1)
            np.testing.assert_allclose(d.kl_per_dim, (mu ** 2).mean(axis=0) / 2, rtol=1e-5,
                                       atol=1e-7)
            np.testing.assert_allclose(d.mu_variance, mu.var(axis=0, ddof=1), rtol=1e-4,
                                       atol=1e-7)
            self.assertAlmostEqual(d.kl, float(d.kl_per_dim.sum()), places=5)

    def test_mutual_information_extremes(self):
        """MI term i is -H(q_i) - log (1/n) sum_j q_j(z_i), z_i = mu_i + s eps_i.
        Collapsed encoder (all q_j equal): term i = (|eps_i|^2 - K) / 2, mean
        0, standard deviation sqrt(K/2) (chi-square). Perfectly separating
        encoder (q_j(z_i) ~ 0 for j != i): term i = log n + the same. The
        evaluation stream is reset per call, so the eps_i are the same in
        both and the difference is log n up to rounding."""
        n, k = 16, 2
        x = np.eye(n, D, dtype=np.float32)            # n distinct one-hot rows
        se = math.sqrt(k / 2) / math.sqrt(n)
        with libvae.Model(input_dim=D, hidden=(), latent=k, seed=1) as m:
            self._encoder(m, np.zeros((D, k)), np.array([0.3, -0.2]), np.zeros(k))
            coll = m.diagnostics(x)
            self.assertLess(abs(coll.mi), 4 * se)
            self.assertEqual(coll.active_units, 0)
            # Means 20 apart on a circle, sigma = e^-3.
            ang = 2 * np.pi * np.arange(D) / n
            w = 20.0 * np.stack([np.cos(ang), np.sin(ang)], axis=1)
            self._encoder(m, w, np.zeros(k), np.full(k, -6.0))
            sep = m.diagnostics(x)
            self.assertAlmostEqual(sep.mi - coll.mi, math.log(n), delta=1e-4)
            self.assertEqual(sep.active_units, 2)
            # Aggressive check: a high MI, then a lower one switches it off.
            m.set_training(aggressive=True)
            self.assertTrue(m.training_state().aggressive_active)
            mi, active = m.aggressive_update(x)
            self.assertEqual(mi, sep.mi)
            self.assertTrue(active)
            # n copies of one row: all q_j equal again, as in the collapsed case.
            mi2, active = m.aggressive_update(np.repeat(x[:1], n, axis=0))
            self.assertAlmostEqual(mi2, coll.mi, delta=1e-4)
            self.assertFalse(active)
            st = m.training_state()
            self.assertFalse(st.aggressive_active)
            self.assertEqual(st.aggressive_mi, mi2)
            self.assertTrue(m.config["aggressive"])      # the setting stays as configured

    def test_collapsed_mi_is_zero_within_the_standard_error(self):
        n, k = 2000, 2
        x = np.random.default_rng(8).random((n, D), dtype=np.float32)
        with libvae.Model(input_dim=D, hidden=(), latent=k, seed=1) as m:
            self._encoder(m, np.zeros((D, k)), np.zeros(k), np.full(k, -1.0))
            d = m.diagnostics(x)
            self.assertLess(abs(d.mi), 4 * math.sqrt(k / 2) / math.sqrt(n))
            # KL = (e^lv + mu^2 - 1 - lv) / 2 with mu = 0, lv = -1
            np.testing.assert_allclose(d.kl_per_dim, 0.5 * math.exp(-1), rtol=1e-5)

    def test_schedules(self):
        """beta_t = beta min(1, t/N) (linear); C_t = C_max min(1, t/T);
        beta_norm = beta_t K / D; cyclical: beta min(1, ((t mod P)/P)/R)."""
        x = np.random.default_rng(0).random((10, D), dtype=np.float32)
        with libvae.Model(input_dim=D, hidden=(H,), latent=K, seed=2, capacity_gamma=1.0,
                          capacity_max=5.0, capacity_steps=8) as m:
            self.assertEqual(m.training_state().capacity, 0.0)
            for _ in range(3):
                m.train_step(x)
            st = m.training_state()
            self.assertEqual(st.step, 3)
            self.assertAlmostEqual(st.capacity, 5.0 * 3 / 8, places=5)
        with libvae.Model(input_dim=D, hidden=(H,), latent=K, seed=2, beta=2.0,
                          kl_schedule="linear", kl_warmup_steps=10) as m:
            st = m.training_state()
            self.assertEqual((st.step, st.beta, st.capacity), (0, 0.0, 0.0))
            self.assertTrue(math.isnan(st.aggressive_mi))
            for _ in range(3):
                m.train_step(x)
            st = m.training_state()
            self.assertEqual(st.step, 3)
            self.assertAlmostEqual(st.beta, 0.6, places=6)
            self.assertAlmostEqual(st.beta_norm, 0.6 * K / D, places=6)
            self.assertEqual(st.encoder_steps, 0)
            m.set_training(kl_schedule="cyclical", kl_cycle_steps=4, kl_cycle_ratio=0.5,
                           free_bits=0.1)
            c = m.config
            self.assertEqual((c["kl_schedule"], c["kl_cycle_steps"], c["kl_cycle_ratio"],
                              c["free_bits"]), ("cyclical", 4, 0.5, 0.1))
            # The capacity objective does not combine with a schedule.
            self.assertVaeError(libvae.VAE_ERR_INVALID, m.set_training, capacity_gamma=1.0)
            st = m.training_state()          # t = 3: tau = 3/4, min(1, 1.5) = 1
            self.assertAlmostEqual(st.beta, 2.0, places=6)
            self.assertEqual(st.capacity, 0.0)
            m.train_step(x)                  # t = 4: tau = 0
            self.assertAlmostEqual(m.training_state().beta, 0.0, places=6)
            m.train_step(x)                  # t = 5: tau = 1/4, beta = 2 * 0.5
            self.assertAlmostEqual(m.training_state().beta, 1.0, places=6)

    def test_aggressive_training_takes_encoder_steps(self):
        x, _, _, _ = synthetic(100, seed=6)
        with libvae.Model(input_dim=D, hidden=(H,), latent=K, seed=2, aggressive=True,
                          aggressive_max_inner=5) as m:
            m.fit(x, epochs=1, batch_size=50)
            st = m.training_state()
            self.assertTrue(st.aggressive_active)
            self.assertGreaterEqual(st.encoder_steps, 2)
            self.assertLessEqual(st.encoder_steps, 2 * 5)
            self.assertEqual(m.config["aggressive_max_inner"], 5)


class TestErrors(ErrorCase):

    def setUp(self):
        self.x, self.lab, self.c, _ = synthetic(10, seed=7)

    def test_c_on_the_wrong_model(self):
        x, c = self.x, self.c
        with libvae.Model(input_dim=D, hidden=(H,), latent=K) as u, cond_model() as m:
            U = libvae.VAE_ERR_UNSUPPORTED
            for fn, args in ((u.train_step, (x,)), (u.elbo, (x,)), (u.encode, (x,)),
                             (u.reconstruct, (x,)), (u.log_likelihood, (x,))):
                self.assertVaeError(U, fn, *args, c=c, contains="unconditional")
            self.assertVaeError(U, u.decode, np.zeros((10, K)), c=c)
            self.assertVaeError(U, u.sample, 10, c=c)
            self.assertVaeError(U, u.prior, c)
            for fn, args in ((m.train_step, (x,)), (m.elbo, (x,)), (m.encode, (x,)),
                             (m.reconstruct, (x,)), (m.log_likelihood, (x,)),
                             (m.decode, (np.zeros((10, K)),)), (m.sample, (10,))):
                self.assertVaeError(U, fn, *args, contains="conditional")
            self.assertVaeError(U, m.diagnostics, x)
            self.assertVaeError(U, m.aggressive_update, x)
            self.assertVaeError(U, m.gradient_stats, x, 2)
            # Without conditions a conditional model cannot train on a dataset.
            self.assertVaeError(libvae.VAE_ERR_INVALID, m.fit, x, epochs=1, batch_size=5,
                                contains="no conditions")
            before = m.get_params()
            self.assertVaeError(libvae.VAE_ERR_SHAPE, m.elbo, x, c=c[:, :2])
            self.assertVaeError(libvae.VAE_ERR_SHAPE, m.elbo, x, c=c[:5])
            self.assertVaeError(libvae.VAE_ERR_SHAPE, m.train_step, x, c=c[0])
            self.assertVaeError(libvae.VAE_ERR_SHAPE, m.sample, 4, c=c[:3])
            bad = c.copy()
            bad[2, 1] = np.nan
            self.assertVaeError(libvae.VAE_ERR_NONFINITE, m.train_step, x, c=bad)
            np.testing.assert_array_equal(m.get_params(), before)
            ds = libvae.Dataset.from_numpy(x, conditions=c)
            self.assertVaeError(libvae.VAE_ERR_INVALID, m.fit, ds, c=c)

    def test_bad_configuration(self):
        I = libvae.VAE_ERR_INVALID
        self.assertVaeError(I, libvae.Model, input_dim=D, prior="learned")
        self.assertVaeError(I, libvae.Model, input_dim=D, cond_dim=2, prior="bogus")
        self.assertVaeError(I, libvae.Model, input_dim=D, cond_dim=-1)
        self.assertVaeError(I, libvae.Model, input_dim=D, kl_schedule="sometimes")
        self.assertVaeError(I, libvae.Model, input_dim=D, aggressive="yes")
        self.assertVaeError(I, libvae.Model, input_dim=D, aggressive=2)
        self.assertVaeError(I, libvae.Model, input_dim=D, kl_cycle_ratio=0.0,
                            kl_schedule="cyclical")
        self.assertVaeError(I, libvae.Model, input_dim=D, free_bits=-1.0)
        with libvae.Model(input_dim=D, hidden=(H,), latent=K) as m:
            self.assertVaeError(I, m.set_training, kl_warmup_steps=0, kl_schedule="linear")
            self.assertEqual(m.config["kl_schedule"], "constant")
            with self.assertRaises(TypeError):
                m.set_training(cond_dim=3)
            self.assertVaeError(I, m.diagnostics, self.x[:1])
            self.assertVaeError(libvae.VAE_ERR_SHAPE, m.diagnostics, self.x[:, :3])
            self.assertVaeError(libvae.VAE_ERR_INVALID, m.sample)

    def test_dataset_conditions(self):
        x, lab, c = self.x, self.lab, self.c
        ds = libvae.Dataset.from_numpy(x)
        self.assertEqual(ds.cond_dim, 0)
        self.assertIsNone(ds.conditions())
        self.assertVaeError(libvae.VAE_ERR_INVALID, ds.set_onehot, C, contains="label")
        ds = libvae.Dataset.from_numpy(x, labels=lab)
        self.assertVaeError(libvae.VAE_ERR_INVALID, ds.set_onehot, 1)   # labels up to 2
        self.assertVaeError(libvae.VAE_ERR_INVALID, ds.set_onehot, 0)
        ds.set_onehot(C)
        np.testing.assert_array_equal(ds.conditions(), c)
        self.assertVaeError(libvae.VAE_ERR_SHAPE, ds.set_conditions, c[:4])
        bad = c.copy()
        bad[3, 0] = np.inf
        self.assertVaeError(libvae.VAE_ERR_NONFINITE, ds.set_conditions, bad)
        self.assertVaeError(libvae.VAE_ERR_SHAPE, ds.set_conditions, np.zeros((10, 2, 2)))
        np.testing.assert_array_equal(ds.conditions(), c)              # kept
        ds.set_conditions(np.arange(10, dtype=np.float64))             # (n,) -> (n, 1)
        self.assertEqual(ds.cond_dim, 1)
        np.testing.assert_array_equal(ds.conditions()[:, 0], np.arange(10))
        sub = ds.subset(3, 4)
        np.testing.assert_array_equal(sub.conditions()[:, 0], [3, 4, 5, 6])
        self.assertIn("1 conditions", repr(sub))
        self.assertVaeError(libvae.VAE_ERR_SHAPE, libvae.Dataset.from_numpy, x,
                            conditions=c[:3], contains="from_numpy")
        ds.close()
        self.assertVaeError(libvae.VAE_ERR_NULL, ds.set_onehot, C)
        self.assertVaeError(libvae.VAE_ERR_NULL, lambda: ds.cond_dim)


class TestConditionalGradientCalls(ErrorCase):
    """0.4.0: c= on compute_gradients, elbo_keyed, gradient_stats, diagnostics
    and aggressive_update, against the C calls and the training step."""

    def setUp(self):
        self.x, _, self.c, _ = synthetic(12, seed=8)

    def test_compute_then_apply_is_train_step(self):
        x, c = self.x, self.c
        with cond_model(prior="learned") as a, cond_model(prior="learned") as b:
            oa, ob = libvae.Optimizer("adam", lr=0.01), libvae.Optimizer("adam", lr=0.01)
            for _ in range(3):
                sa = a.train_step(x, oa, c=c)
                sb = b.compute_gradients(x, c=c)
                b.apply_gradients(ob)
                self.assertEqual(sa, sb)
            np.testing.assert_array_equal(a.get_params(), b.get_params())

    def test_keyed_against_c_and_split(self):
        x, c, n = self.x, self.c, self.x.shape[0]
        with cond_model(prior="learned") as m, cond_model(prior="learned") as t:
            st = m.compute_gradients(x, key=5, first=3, c=c)
            g = m.gradient()
            cs = capi.ElboStats()
            self.assertEqual(lib.vae_model_compute_gradients_keyed_cond(
                t._ptr, fptr(x), fptr(c), n, 5, 3, ctypes.byref(cs)), 0)
            np.testing.assert_array_equal(g, t.gradient())
            self.assertEqual(st.loss, cs.loss)
            per, _ = m.elbo_keyed(x, 9, first=100, c=c)
            p1, _ = m.elbo_keyed(x[:5], 9, first=100, c=c[:5])
            p2, _ = m.elbo_keyed(x[5:], 9, first=105, c=c[5:])
            np.testing.assert_array_equal(per, np.concatenate([p1, p2]))

    def test_statistics_and_diagnostics(self):
        x, c = self.x, self.c
        with cond_model(prior="learned") as m:
            rep = m.gradient_stats(x, 4, c=c, mean_grad=True)
            self.assertGreater(rep.overall.mean_norm, 0)
            self.assertEqual(rep.mean_grad.shape, (m.param_count,))
            self.assertTrue(any(k.startswith("prior.") for k in rep.tensors))
            d = m.diagnostics(x, c=c)
            self.assertEqual(d.n, x.shape[0])
            self.assertEqual(d.kl_per_dim.shape, (K,))
            # independent: KL(q(z|x,c) || p(z|c)) from encode and prior
            mu, lv = m.encode(x, c=c)
            mp, lp = m.prior(c)
            kl = 0.5 * (lp - lv + (np.exp(lv) + (mu - mp) ** 2) * np.exp(-lp) - 1)
            np.testing.assert_allclose(d.kl_per_dim, kl.mean(axis=0), rtol=1e-5, atol=1e-6)
            mi, active = m.aggressive_update(x, c=c)
            self.assertEqual(mi, d.mi)
            self.assertFalse(active)

    def test_refusals_name_the_call(self):
        x, c = self.x, self.c
        U = libvae.VAE_ERR_UNSUPPORTED
        with cond_model() as m, libvae.Model(input_dim=D, hidden=(H,), latent=K) as u:
            # The refusals name the Python call (issue 18), not the C function.
            self.assertVaeError(U, m.compute_gradients, x,
                                contains="model.compute_gradients(..., c=...)")
            self.assertVaeError(U, m.compute_gradients, x, key=1,
                                contains="model.compute_gradients(..., key=..., c=...)")
            self.assertVaeError(U, m.elbo_keyed, x, 1, contains="model.elbo_keyed(..., c=...)")
            self.assertVaeError(U, m.diagnostics, x, contains="model.diagnostics(..., c=...)")
            self.assertVaeError(U, m.gradient_stats, x, 2,
                                contains="model.gradient_stats(..., c=...)")
            for fn, args in ((u.compute_gradients, (x,)), (u.diagnostics, (x,)),
                             (u.gradient_stats, (x, 2)), (u.aggressive_update, (x,)),
                             (u.elbo_keyed, (x, 1))):
                self.assertVaeError(U, fn, *args, c=c, contains="unconditional")

    def test_dataset_gather_cond(self):
        x, c = self.x, self.c
        ds = libvae.Dataset.from_numpy(x, conditions=c)
        np.testing.assert_array_equal(ds.gather_cond([3, 0, 7]), c[[3, 0, 7]])
        self.assertVaeError(libvae.VAE_ERR_INVALID, ds.gather_cond, [12])


if __name__ == "__main__":
    unittest.main()
