"""The package installs like a Python package (issue 18).

- python/pyproject.toml: ``pip install --no-build-isolation`` (offline, Debian's
  setuptools) into a --target directory; the installed copy, imported from a
  neutral directory with only that directory on PYTHONPATH, finds libvae.so
  through LIBVAE_LIBRARY or the dynamic loader's paths (LD_LIBRARY_PATH), and
  declares its numpy dependency; its version is meson.build's;
- without any way to find the library, the import fails with a message
  naming LIBVAE_LIBRARY (unless a libvae is installed system-wide).
The meson-installed package (prefix site-packages + _config.py) is checked
by tests/infra/install_test.sh.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import vaetest

REPO = vaetest.REPO
LIB = os.environ.get("LIBVAE_LIBRARY")

PROBE = r'''
import os, sys
import numpy as np
import libvae
assert os.path.realpath(libvae.__file__).startswith(os.path.realpath(sys.argv[1])), libvae.__file__
x = (np.random.default_rng(0).random((32, 6)) > 0.5).astype(np.float32)
with libvae.Model(input_dim=6, hidden=(4,), latent_dim=2, seed=1) as m:
    st = m.fit(x, epochs=1, batch_size=8)
    assert np.isfinite(st[0].elbo)
print("OK", libvae.library_path)
'''


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("LIBVAE_LIBRARY", "LIBVAE_BUILD_DIR", "LD_LIBRARY_PATH", "PYTHONPATH")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


@unittest.skipUnless(LIB and os.path.exists(LIB), "LIBVAE_LIBRARY (the built library) not set")
class TestPip(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if subprocess.run([sys.executable, "-c", "import setuptools"]).returncode != 0:
            raise unittest.SkipTest("no setuptools (Debian: python3-setuptools)")
        cls.tmp = tempfile.mkdtemp(dir=os.environ.get("VAE_TEST_TMPDIR"))
        src = os.path.join(cls.tmp, "src")
        # A copy: setuptools writes build/ and *.egg-info next to pyproject.toml.
        shutil.copytree(os.path.join(REPO, "python"), src,
                        ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
        cls.site = os.path.join(cls.tmp, "site")
        r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation",
                            "--no-deps", "--no-index", "--disable-pip-version-check",
                            "--target", cls.site, src],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, cwd=cls.tmp, env=clean_env())
        if r.returncode != 0:
            raise AssertionError("pip install failed:\n" + r.stdout)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def probe(self, **env):
        return subprocess.run([sys.executable, "-c", PROBE, self.site],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, cwd=self.tmp,
                              env=clean_env(PYTHONPATH=self.site, **env))

    def test_installed_files(self):
        pkg = os.path.join(self.site, "libvae")
        for f in ("__init__.py", "capi.py", "_capi_h.py", "model.py"):
            self.assertTrue(os.path.exists(os.path.join(pkg, f)), f)
        self.assertFalse(os.path.exists(os.path.join(pkg, "_config.py")))
        meta = glob.glob(os.path.join(self.site, "libvae-*.dist-info", "METADATA"))
        self.assertEqual(len(meta), 1, meta)
        with open(meta[0]) as f:
            text = f.read()
        self.assertRegex(text, r"(?m)^Requires-Dist: numpy\s*$")

    def test_finds_the_library_by_env(self):
        r = self.probe(LIBVAE_LIBRARY=LIB)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("OK " + LIB, r.stdout)

    def test_finds_the_library_by_loader_path(self):
        r = self.probe(LD_LIBRARY_PATH=os.path.dirname(os.path.abspath(LIB)))
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("OK", r.stdout)

    def test_no_library_says_how(self):
        found = subprocess.run([sys.executable, "-c", "import ctypes.util; "
                                "print(ctypes.util.find_library('vae') or '')"],
                               stdout=subprocess.PIPE, universal_newlines=True,
                               env=clean_env()).stdout.strip()
        if found:
            self.skipTest("a libvae is installed system-wide")
        r = self.probe()
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("LIBVAE_LIBRARY", r.stdout)


class TestVersion(unittest.TestCase):

    def test_pyproject_version_is_meson_version(self):
        with open(os.path.join(REPO, "meson.build")) as f:
            meson_v = re.search(r"version\s*:\s*'([^']+)'", f.read()).group(1)
        with open(os.path.join(REPO, "python", "pyproject.toml")) as f:
            py_v = re.search(r'(?m)^version\s*=\s*"([^"]+)"', f.read()).group(1)
        self.assertEqual(py_v, meson_v)


if __name__ == "__main__":
    unittest.main()
