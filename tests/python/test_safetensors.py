"""Model/VQVAE.export_safetensors and import_safetensors (docs/format.md, "safetensors")."""
import os
import unittest

from vaetest import np, tmpdir

import libvae
from libvae.weights import read_safetensors, write_safetensors

CONV = dict(input_dim=64, input_shape=(1, 8, 8), latent=2,
            encoder="conv2d(3,3,2,1) relu flatten dense(10) layernorm tanh",
            decoder="dense(32) relu reshape(2,4,4) convT2d(1,4,2,1)")


class TestSafetensors(unittest.TestCase):

    def setUp(self):
        self._td = tmpdir()
        self.dir = self._td.name
        self.path = os.path.join(self.dir, "w.safetensors")

    def tearDown(self):
        self._td.cleanup()

    def test_round_trip(self):
        for kw in (dict(input_dim=12, hidden=(8,), latent=3), CONV):
            with libvae.Model(seed=1, **kw) as a, libvae.Model(seed=2, **kw) as b:
                a.export_safetensors(self.path)
                self.assertFalse(np.array_equal(a.get_params(), b.get_params()))
                b.import_safetensors(self.path)
                self.assertEqual(a.get_params().tobytes(), b.get_params().tobytes())
                x = np.random.default_rng(0).random((3, a.input_dim), dtype=np.float32)
                for u, v in zip(a.encode(x), b.encode(x)):
                    self.assertEqual(u.tobytes(), v.tobytes())

    def test_file_contents(self):
        with libvae.Model(seed=1, **CONV) as m:
            m.export_safetensors(self.path)
            tensors, meta = read_safetensors(self.path)
            self.assertEqual(meta["encoder"], m.encoder)
            self.assertEqual(meta["decoder"], m.decoder)
            self.assertEqual(meta["input_shape"], "1,8,8")
            self.assertEqual(meta["latent_dim"], "2")
            flat = m.get_params()
            names = [t.name for t in m.param_tensors()]
            self.assertEqual(list(tensors), names)
            for t in m.param_tensors():
                a = tensors[t.name]
                self.assertEqual(a.shape, tuple(t.shape))
                n = a.size
                self.assertEqual(a.tobytes(), flat[t.offset:t.offset + n].tobytes())

    def test_numpy_writer_and_errors(self):
        with libvae.Model(seed=1, input_dim=12, hidden=(8,), latent=3) as m:
            m.export_safetensors(self.path)
            tensors, meta = read_safetensors(self.path)
            before = m.get_params()
            # another writer's file: every value + 1
            write_safetensors(self.path, {k: v + 1 for k, v in tensors.items()}, meta)
            m.import_safetensors(self.path)
            self.assertTrue(np.array_equal(m.get_params(), before + 1))
            before = m.get_params()
            bad = [
                ("transposed", {k: (v.T if k == "enc.0.W" else v) for k, v in tensors.items()},
                 "transposed"),
                ("missing", {k: v for k, v in tensors.items() if k != "dec.out.b"},
                 "'dec.out.b' is missing"),
                ("extra", dict(tensors, extra=np.zeros((1, 1), np.float32)), "'extra'"),
                ("nan", {k: (np.full_like(v, np.nan) if k == "enc.mu.b" else v)
                         for k, v in tensors.items()}, "'enc.mu.b'"),
            ]
            for what, t, needle in bad:
                write_safetensors(self.path, t)
                with self.assertRaises(libvae.Error, msg=what) as cm:
                    m.import_safetensors(self.path)
                self.assertIn(needle, str(cm.exception), what)
                self.assertTrue(np.array_equal(m.get_params(), before), what)
            with open(self.path, "wb") as f:
                f.write((1 << 40).to_bytes(8, "little") + b"{}")
            with self.assertRaises(libvae.Error) as cm:
                m.import_safetensors(self.path)
            self.assertEqual(cm.exception.status, libvae.VAE_ERR_LIMIT)
            with self.assertRaises(libvae.Error) as cm:
                m.import_safetensors(self.dir)
            self.assertEqual(cm.exception.status, libvae.VAE_ERR_IO)
            self.assertTrue(np.array_equal(m.get_params(), before))

    def _write_typed(self, tensors, dtype):
        """A file of dtype tensors (F16, BF16 or F64) built here, not by libvae."""
        import json
        import struct
        header, blobs, off = {}, [], 0
        for name, a in tensors.items():
            if dtype == "F16":
                b = np.ascontiguousarray(a, dtype="<f2").tobytes()
            elif dtype == "BF16":  # the upper half of each float32 (values chosen exact)
                b = (np.ascontiguousarray(a, dtype="<f4").view("<u4") >> 16).astype("<u2").tobytes()
            else:
                b = np.ascontiguousarray(a, dtype="<f8").tobytes()
            header[name] = {"dtype": dtype, "shape": list(a.shape),
                            "data_offsets": [off, off + len(b)]}
            blobs.append(b)
            off += len(b)
        h = json.dumps(header).encode()
        with open(self.path, "wb") as f:
            f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))

    def test_half_and_double_files(self):
        """F16, BF16 and F64 files import as numpy converts them to float32."""
        with libvae.Model(seed=1, input_dim=12, hidden=(8,), latent=3) as m:
            m.export_safetensors(self.path)
            tensors, _ = read_safetensors(self.path)
            rng = np.random.default_rng(3)
            for dtype in ("F16", "BF16", "F64"):
                if dtype == "F64":
                    src = {k: rng.normal(0, 1, v.shape) for k, v in tensors.items()}
                    want = {k: v.astype(np.float32) for k, v in src.items()}
                elif dtype == "F16":
                    src = {k: rng.normal(0, 1, v.shape).astype(np.float16) for k, v in tensors.items()}
                    want = {k: v.astype(np.float32) for k, v in src.items()}
                else:  # values with 8 significant bits: exact in bfloat16
                    src = {k: np.round(rng.normal(0, 64, v.shape)).astype(np.float32) / 64
                           for k, v in tensors.items()}
                    want = src
                self._write_typed(src, dtype)
                m.import_safetensors(self.path)
                flat = m.get_params()
                got, _ = read_safetensors(self.path)
                for t in m.param_tensors():
                    w = want[t.name].astype(np.float32).reshape(-1)
                    self.assertEqual(flat[t.offset:t.offset + w.size].tobytes(), w.tobytes(),
                                     dtype + " " + t.name)
                    self.assertEqual(got[t.name].reshape(-1).tobytes(), w.tobytes(), dtype)
            before = m.get_params()
            self._write_typed({k: (np.full(v.shape, 1e39) if k == "enc.0.b" else v)
                               for k, v in tensors.items()}, "F64")
            with self.assertRaises(libvae.Error) as cm:
                m.import_safetensors(self.path)
            self.assertIn("beyond float32's range", str(cm.exception))
            self.assertTrue(np.array_equal(m.get_params(), before))
            with self.assertRaises(ValueError):
                read_safetensors(self.path)

    def test_vqvae(self):
        kw = dict(input_dim=16, hidden=(8,), latents=2, code_dim=3, codes=5)
        with libvae.VQVAE(seed=1, **kw) as a, libvae.VQVAE(seed=2, **kw) as b:
            a.export_safetensors(self.path)
            b.import_safetensors(self.path)
            x = np.random.default_rng(0).random((4, 16), dtype=np.float32)
            self.assertEqual(a.reconstruct(x).tobytes(), b.reconstruct(x).tobytes())
            tensors, meta = read_safetensors(self.path)
            self.assertEqual(meta["family"], "vqvae")
            self.assertEqual(tensors["vq.codebook"].shape, (5, 3))


if __name__ == "__main__":
    unittest.main()
