#!/usr/bin/python3
"""libvae weights <-> PyTorch, through .safetensors files (docs/format.md).

    to_pytorch.py MODEL.safetensors     rebuild the model in torch from the
                                        file's metadata, load its weights,
                                        and compare encoder mean/log-variance
                                        and decoder output with libvae's
    to_pytorch.py --demo [DIR]          the same for an MLP and a
                                        convolutional model made here, then
                                        the reverse: a module trained in
                                        torch, written with write_safetensors
                                        under libvae's names and layout,
                                        imported into libvae and compared

The file is read with numpy only (libvae.weights.read_safetensors);
torch builds nn.Sequential networks from the metadata's network texts
(dense, conv2d, convT2d, flatten, reshape, layernorm, relu, leaky_relu,
tanh, sigmoid, softplus, identity). Prints the largest absolute difference
per output; exits 0 when every one is below the tolerance (1e-5 relative to
the output's scale), 1 otherwise, 77 when torch is not importable.
"""
import argparse
import os
import re
import sys
import tempfile

import numpy as np

try:
    import torch
    from torch import nn
except ImportError:  # the interop test reports a skip
    print("skip: torch is not importable", file=sys.stderr)
    sys.exit(77)

TOL = 1e-5


# ---- the file format: libvae.weights' numpy reader and writer --------------------------

def read_safetensors(path):
    """(dict name -> float32 array, metadata dict) of a .safetensors file."""
    from libvae.weights import read_safetensors as read
    return read(path)


def write_safetensors(path, tensors, metadata=None):
    """Write name -> tensor (torch tensors or numpy arrays, float32) as .safetensors."""
    from libvae.weights import write_safetensors as write
    write(path, {name: t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t
                 for name, t in tensors.items()}, metadata)


# ---- networks from the text form ---------------------------------------------------------

TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\(([^)]*)\))?")


def parse_network(text):
    """[(kind, [args...]), ...] of a libvae network text."""
    layers, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            raise ValueError("cannot parse network %r at %d" % (text, pos))
        args = [a.strip() for a in m.group(2).split(",")] if m.group(2) else []
        layers.append((m.group(1).lower(), args))
        pos = m.end()
        while pos < len(text) and text[pos] == " ":
            pos += 1
    return layers


class Reshape(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.reshape((x.shape[0],) + self.shape)


class Dense(nn.Linear):
    """nn.Linear that flattens an image input first (libvae's dense reads a row)."""

    def forward(self, x):
        return super().forward(x.reshape(x.shape[0], -1))


class Norm(nn.GroupNorm):
    """libvae's layernorm: over all C*H*W features, a gain and bias per channel."""

    def __init__(self, c):
        super().__init__(1, c, eps=1e-5)


def build_network(text, in_shape, prefix, last_name=None):
    """(nn.Sequential, output shape, [(libvae prefix, module, kind)...])."""
    mods, named, shape = [], [], tuple(in_shape)
    layers = parse_network(text)
    param_layers = [i for i, (k, _) in enumerate(layers)
                    if k in ("dense", "linear", "conv2d", "convt2d", "conv_transpose2d", "layernorm")]
    count = 0
    for i, (kind, a) in enumerate(layers):
        size = int(np.prod(shape))
        if kind in ("dense", "linear"):
            m = Dense(size, int(a[0]))
            shape = (int(a[0]), 1, 1)
        elif kind == "conv2d":
            out, k = int(a[0]), int(a[1])
            s, p = (int(a[2]) if len(a) > 2 else 1), (int(a[3]) if len(a) > 3 else 0)
            m = nn.Conv2d(shape[0], out, k, s, p)
            shape = (out, (shape[1] + 2 * p - k) // s + 1, (shape[2] + 2 * p - k) // s + 1)
        elif kind in ("convt2d", "conv_transpose2d"):
            out, k = int(a[0]), int(a[1])
            s, p = (int(a[2]) if len(a) > 2 else 1), (int(a[3]) if len(a) > 3 else 0)
            op = int(a[4]) if len(a) > 4 else 0
            m = nn.ConvTranspose2d(shape[0], out, k, s, p, output_padding=op)
            shape = (out, (shape[1] - 1) * s - 2 * p + k + op, (shape[2] - 1) * s - 2 * p + k + op)
        elif kind == "flatten":
            m = Reshape((size,))
            shape = (size, 1, 1)
        elif kind == "reshape":
            shape = tuple(int(v) for v in a)
            m = Reshape(shape)
        elif kind == "layernorm":
            m = Norm(shape[0])
        elif kind == "relu":
            m = nn.ReLU()
        elif kind in ("leaky_relu", "leakyrelu"):
            m = nn.LeakyReLU(float(a[0]) if a else 0.01)
        elif kind == "tanh":
            m = nn.Tanh()
        elif kind == "sigmoid":
            m = nn.Sigmoid()
        elif kind == "softplus":
            m = nn.Softplus()
        elif kind == "identity":
            m = nn.Identity()
        else:
            raise ValueError("layer kind %r is not supported here" % kind)
        if i in param_layers:
            name = last_name if (last_name and i == param_layers[-1]) else str(count)
            named.append(("%s.%s" % (prefix, name), m, kind))
            count += 1
        mods.append(m)
    return nn.Sequential(*mods), shape, named


class TorchVAE(nn.Module):
    """The encoder body, the mean and log-variance heads and the decoder of a
    libvae model described by a file's metadata."""

    def __init__(self, meta):
        super().__init__()
        if meta.get("family", "vae") not in ("vae", "ae") or int(meta.get("cond_dim", "0")) \
                or int(meta.get("latent_layers", "1")) != 1:
            raise ValueError("only unconditional single-layer VAEs/AEs are converted here")
        self.meta = meta
        self.in_shape = tuple(int(v) for v in meta["input_shape"].split(","))
        self.latent = int(meta["latent_dim"])
        self.lv_min, self.lv_max = float(meta["logvar_min"]), float(meta["logvar_max"])
        self.ae = meta.get("family") == "ae"
        self.encoder, enc_out, enc_named = build_network(meta["encoder"], self.in_shape, "enc")
        feat = int(np.prod(enc_out))
        self.mu = Dense(feat, self.latent)
        self.logvar = None if self.ae else Dense(feat, self.latent)
        self.decoder, dec_out, dec_named = build_network(meta["decoder"], (self.latent, 1, 1),
                                                         "dec", last_name="out")
        self.logsigma = None
        if meta.get("likelihood") == "gaussian_learned":
            self.logsigma = nn.Parameter(torch.zeros(int(meta["input_dim"])))
        self.named = enc_named + [("enc.mu", self.mu, "dense")] + \
            ([] if self.ae else [("enc.logvar", self.logvar, "dense")]) + dec_named

    def encode(self, x):
        h = self.encoder(x.reshape((x.shape[0],) + self.in_shape))
        mu = self.mu(h)
        lv = torch.zeros_like(mu) if self.ae else \
            torch.clamp(self.logvar(h), self.lv_min, self.lv_max)
        return mu, lv

    def decode_logits(self, z):
        return self.decoder(z).reshape(z.shape[0], -1)

    def decode(self, z):
        """Bernoulli probabilities or Gaussian means, as vae_model_decode."""
        y = self.decode_logits(z)
        return torch.sigmoid(y) if self.meta.get("likelihood", "bernoulli") == "bernoulli" else y


# ---- the layout mapping (docs/format.md) -------------------------------------------------

def load_libvae(model, tensors):
    """Copy libvae-layout tensors into the torch module (checks every shape)."""
    used = set()
    with torch.no_grad():
        for prefix, m, kind in model.named:
            if kind == "layernorm":
                pairs = [(m.weight, prefix + ".gamma"), (m.bias, prefix + ".beta")]
            else:
                pairs = [(m.weight, prefix + ".W"), (m.bias, prefix + ".b")]
            for param, name in pairs:
                a = tensors[name]
                used.add(name)
                if kind in ("dense", "linear") and name.endswith(".W"):
                    a = a.T                                   # [in, out] -> [out, in]
                a = a.reshape(tuple(param.shape))             # conv kernels, [1, n] vectors
                param.copy_(torch.from_numpy(np.ascontiguousarray(a)))
        if model.logsigma is not None:
            model.logsigma.copy_(torch.from_numpy(tensors["dec.logsigma"].reshape(-1)))
            used.add("dec.logsigma")
    extra = set(tensors) - used
    if extra:
        raise ValueError("tensors not used: %s" % sorted(extra))


def to_libvae(model):
    """The module's parameters as libvae-named, libvae-layout numpy arrays."""
    out = {}
    for prefix, m, kind in model.named:
        w = m.weight.detach().cpu().numpy()
        b = m.bias.detach().cpu().numpy()
        if kind == "layernorm":
            out[prefix + ".gamma"], out[prefix + ".beta"] = w.reshape(1, -1), b.reshape(1, -1)
            continue
        if kind in ("dense", "linear"):
            w = w.T                                           # [out, in] -> [in, out]
        out[prefix + ".W"] = w.reshape(w.shape[0], -1)        # 4-D kernels -> [d0, rest]
        out[prefix + ".b"] = b.reshape(1, -1)
    if model.logsigma is not None:
        out["dec.logsigma"] = model.logsigma.detach().cpu().numpy().reshape(1, -1)
    return out


# ---- comparisons --------------------------------------------------------------------------

def libvae_model(meta):
    """A libvae.Model with the architecture of the metadata."""
    import libvae
    kw = dict(input_dim=int(meta["input_dim"]), latent=int(meta["latent_dim"]),
              encoder=meta["encoder"], decoder=meta["decoder"],
              input_shape=tuple(int(v) for v in meta["input_shape"].split(",")),
              likelihood=meta.get("likelihood", "bernoulli"),
              logvar_min=float(meta["logvar_min"]), logvar_max=float(meta["logvar_max"]))
    if meta.get("family") == "ae":
        kw["family"] = "ae"
    return libvae.Model(**kw)


def compare(tmodel, lmodel, n=5, seed=0):
    """Largest absolute differences (scaled) of mu, logvar and decode; True if all within TOL."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, lmodel.input_dim), dtype=np.float32)
    z = rng.standard_normal((n, lmodel.latent_dim)).astype(np.float32)
    mu_l, lv_l = lmodel.encode(x)
    dec_l = lmodel.decode(z)
    with torch.no_grad():
        mu_t, lv_t = tmodel.encode(torch.from_numpy(x))
        dec_t = tmodel.decode(torch.from_numpy(z))
    ok = True
    for what, a, b in (("mu", mu_l, mu_t), ("logvar", lv_l, lv_t), ("decode", dec_l, dec_t)):
        b = b.numpy()
        diff = float(np.max(np.abs(a - b)))
        scale = max(1.0, float(np.max(np.abs(a))))
        good = diff <= TOL * scale
        ok &= good
        print("%-7s max |libvae - torch| = %.3g%s" % (what, diff, "" if good else "  (too large)"))
    return ok


def check_file(path):
    """Rebuild the file's model in torch and in libvae; compare."""
    tensors, meta = read_safetensors(path)
    tmodel = TorchVAE(meta)
    load_libvae(tmodel, tensors)
    lmodel = libvae_model(meta)
    lmodel.import_safetensors(path)
    return compare(tmodel, lmodel)


def demo(directory):
    import libvae
    ok = True
    archs = [
        ("mlp", dict(input_dim=20, hidden=(16, 12), latent=3)),
        ("conv", dict(input_dim=64, input_shape=(1, 8, 8), latent=4,
                      encoder="conv2d(4,3,2,1) leaky_relu(0.2) conv2d(6,3,1,1) relu flatten "
                              "dense(24) layernorm tanh",
                      decoder="dense(32) relu reshape(2,4,4) convT2d(3,4,2,1) relu "
                              "conv2d(1,3,1,1)")),
        ("convt-gauss", dict(input_dim=49, input_shape=(1, 7, 7), latent=2,
                             likelihood="gaussian_learned",
                             encoder="conv2d(3,3,2,1) relu conv2d(4,3,1,1) softplus",
                             decoder="dense(48) relu reshape(3,4,4) convT2d(1,3,2,1) sigmoid")),
    ]
    for name, kw in archs:
        path = os.path.join(directory, name + ".safetensors")
        with libvae.Model(seed=7, **kw) as m:
            m.export_safetensors(path)
        print("libvae -> torch, %s:" % name)
        ok &= check_file(path)

    # the reverse: a module trained in torch, then run by libvae
    _, meta = read_safetensors(os.path.join(directory, "conv.safetensors"))
    torch.manual_seed(0)
    tmodel = TorchVAE(meta)
    opt = torch.optim.Adam(tmodel.parameters(), lr=1e-2)
    x = torch.rand(32, int(meta["input_dim"]))
    for _ in range(20):
        mu, lv = tmodel.encode(x)
        z = mu + torch.exp(0.5 * lv) * torch.randn_like(mu)
        rec = nn.functional.binary_cross_entropy_with_logits(tmodel.decode_logits(z), x,
                                                             reduction="sum")
        kl = -0.5 * torch.sum(1 + lv - mu * mu - torch.exp(lv))
        opt.zero_grad()
        (rec + kl).backward()
        opt.step()
    path = os.path.join(directory, "from-torch.safetensors")
    write_safetensors(path, to_libvae(tmodel), {"format": "libvae", "written_by": "to_pytorch.py"})
    lmodel = libvae_model(meta)
    lmodel.import_safetensors(path)
    print("torch -> libvae, conv trained 20 Adam steps in torch:")
    ok &= compare(tmodel, lmodel, seed=1)
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file", nargs="?", help="a .safetensors file written by libvae")
    ap.add_argument("--demo", nargs="?", const="", metavar="DIR",
                    help="make models, export, convert both ways (files in DIR or a temp dir)")
    args = ap.parse_args()
    if args.demo is not None:
        if args.demo:
            ok = demo(args.demo)
        else:
            with tempfile.TemporaryDirectory() as d:
                ok = demo(d)
    elif args.file:
        ok = check_file(args.file)
    else:
        ap.error("give a file or --demo")
    print("ok" if ok else "FAILED: outputs differ")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
