"""libvae.plot: training curves and 2-D latent scatters as PNG files (matplotlib).

From Python::

    import libvae, libvae.plot
    libvae.plot.training_curves("train.csv", "curves.png")
    model = libvae.Model.load("mnist-2d.ckpt")
    ds = libvae.Dataset.from_idx("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    libvae.plot.latent_scatter(model, ds, None, "latent.png")

From the shell::

    python3 -m libvae.plot curves train.csv -o curves.png
    python3 -m libvae.plot latent mnist-2d.ckpt --data IMAGES --labels LABELS -o latent.png

matplotlib (Debian: python3-matplotlib) is optional: this module, and
``import libvae``, work without it; only drawing a plot then raises
:class:`MatplotlibMissing` (an ImportError). The CSV reader
:func:`read_training_log` needs numpy only. Plots are drawn with
matplotlib's Agg canvas directly, never through pyplot, so no display and
no global figure state are involved.
"""

import argparse
import csv
import sys

import numpy as np

#: The header of a ``vae-train --log FILE`` CSV (one row per epoch).
LOG_COLUMNS = ("epoch", "time_s", "samples_per_s", "train_elbo", "test_elbo", "rec", "kl",
               "beta")


class MatplotlibMissing(ImportError):
    """Raised when a plot is asked for and matplotlib cannot be imported."""


def _matplotlib():
    """(Figure, FigureCanvasAgg), or MatplotlibMissing with what to install."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.backends.backend_agg import FigureCanvasAgg
    except ImportError as e:
        raise MatplotlibMissing(
            "libvae.plot: drawing plots needs matplotlib, which %s cannot import (%s); "
            "install it (Debian: sudo apt-get install python3-matplotlib)"
            % (sys.executable, e)) from e
    return Figure, FigureCanvasAgg


def _save(fig, canvas_cls, out_png):
    canvas_cls(fig)
    fig.savefig(out_png, format="png", metadata={"Software": None})


# -- training curves ---------------------------------------------------------

def read_training_log(csv_path):
    """Read a ``vae-train --log`` CSV into a dict of float64 arrays, one per column.

    The header must be exactly ``epoch,time_s,samples_per_s,train_elbo,
    test_elbo,rec,kl,beta`` (:data:`LOG_COLUMNS`), else ValueError; so must
    every row have 8 numbers. An empty field or ``nan`` (e.g. test_elbo
    without held-out data) reads as NaN. Rows are kept in file order.
    """
    with open(csv_path, newline="", encoding="ascii") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError("%s: empty file, expected the header %s"
                         % (csv_path, ",".join(LOG_COLUMNS)))
    header = tuple(h.strip() for h in rows[0])
    if header != LOG_COLUMNS:
        raise ValueError("%s: header %r is not a vae-train --log header (%s)"
                         % (csv_path, ",".join(rows[0]), ",".join(LOG_COLUMNS)))
    values = []
    for i, row in enumerate(rows[1:], start=2):
        if not row or all(not v.strip() for v in row):
            continue
        if len(row) != len(LOG_COLUMNS):
            raise ValueError("%s:%d: %d fields, expected %d"
                             % (csv_path, i, len(row), len(LOG_COLUMNS)))
        try:
            values.append([float(v) if v.strip() else float("nan") for v in row])
        except ValueError:
            raise ValueError("%s:%d: not a number in %r" % (csv_path, i, ",".join(row))) \
                from None
    a = np.array(values, dtype=np.float64).reshape(-1, len(LOG_COLUMNS))
    return {name: a[:, j].copy() for j, name in enumerate(LOG_COLUMNS)}


def training_curves(csv_path, out_png, title=None, dpi=100):
    """Plot a ``vae-train --log`` CSV to a PNG: ELBOs and rec/KL per epoch.

    The top panel shows the train and test ELBO (nats per example) against
    the epoch, the bottom one the reconstruction term and KL (the log's
    ``rec`` and ``kl`` columns) on separate axes. Returns the log as read by
    :func:`read_training_log`. ValueError on a bad log, MatplotlibMissing
    without matplotlib.
    """
    log = read_training_log(csv_path)
    if log["epoch"].size == 0:
        raise ValueError("%s: no epochs to plot" % (csv_path,))
    Figure, Canvas = _matplotlib()
    ep = log["epoch"]
    fig = Figure(figsize=(7, 6), dpi=dpi)
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot(ep, log["train_elbo"], "o-", ms=3, label="train ELBO")
    if np.isfinite(log["test_elbo"]).any():
        top.plot(ep, log["test_elbo"], "s-", ms=3, label="test ELBO")
    top.set_ylabel("ELBO (nats per example)")
    top.grid(True, alpha=0.3)
    top.legend(loc="lower right")
    top.set_title(title if title is not None else "training curves: %s" % (csv_path,),
                  fontsize=10)
    bottom.plot(ep, log["rec"], "o-", ms=3, color="C2", label="rec: E[log p(x|z)]")
    bottom.set_ylabel("rec (nats)", color="C2")
    bottom.grid(True, alpha=0.3)
    kl_ax = bottom.twinx()
    kl_ax.plot(ep, log["kl"], "s-", ms=3, color="C3", label="KL(q(z|x) || p(z))")
    kl_ax.set_ylabel("KL (nats)", color="C3")
    h1, l1 = bottom.get_legend_handles_labels()
    h2, l2 = kl_ax.get_legend_handles_labels()
    bottom.legend(h1 + h2, l1 + l2, loc="lower right")
    bottom.set_xlabel("epoch")
    fig.tight_layout()
    _save(fig, Canvas, out_png)
    return log


# -- latent scatter ----------------------------------------------------------

def latent_scatter(model, x, labels, out_png, dims=None, c=None, title=None, dpi=100,
                   batch=1000):
    """Scatter the encoder means of x in two latent dimensions, coloured by label.

    model: a libvae.Model or the path of a checkpoint. x: an (n, input_dim)
    array of model inputs (scaled as in training, e.g. [0,1] pixels), or a
    libvae.Dataset (then labels=None takes the dataset's labels). labels: n
    integer labels (a legend entry per class, 10 or fewer classes, else a
    colour bar), or None for one colour. dims: the two latent dimensions
    (i, j) to show; required when the model's latent_dim is not 2 (the first
    two dimensions of a larger latent space are no more telling than any
    other two, so none is chosen for you). c: the conditions of a
    conditional model. Returns the (n, 2) float32 means plotted.
    """
    from .dataset import Dataset
    from .model import Model

    own = None
    if not isinstance(model, Model):
        model = own = Model.load(model)
    try:
        k = model.latent_dim
        if dims is None:
            if k != 2:
                raise ValueError("latent_scatter: the model has latent_dim %d; pass dims=(i, j) "
                                 "to choose two of its dimensions" % k)
            dims = (0, 1)
        dims = tuple(int(d) for d in dims)
        if len(dims) != 2 or not all(0 <= d < k for d in dims) or dims[0] == dims[1]:
            raise ValueError("latent_scatter: dims=%r: need two different dimensions in 0..%d"
                             % (dims, k - 1))
        if isinstance(x, Dataset):
            if labels is None:
                labels = x.labels()
            x = x.numpy()
        x = np.asarray(x)
        if labels is not None:
            labels = np.asarray(labels).reshape(-1)
            if labels.shape[0] != x.shape[0]:
                raise ValueError("latent_scatter: %d labels for %d examples"
                                 % (labels.shape[0], x.shape[0]))
        Figure, Canvas = _matplotlib()     # before the encoding work
        mus = []
        for s in range(0, x.shape[0], batch):
            cs = None if c is None else c[s:s + batch]
            mus.append(model.encode(x[s:s + batch], c=cs)[0][:, dims])
        z = np.concatenate(mus) if mus else np.empty((0, 2), np.float32)
    finally:
        if own is not None:
            own.close()

    fig = Figure(figsize=(7, 6), dpi=dpi)
    ax = fig.subplots()
    if labels is None:
        ax.scatter(z[:, 0], z[:, 1], s=4, alpha=0.7)
    else:
        classes = np.unique(labels)
        if classes.size <= 10:
            for i, cl in enumerate(classes):
                sel = labels == cl
                ax.scatter(z[sel, 0], z[sel, 1], s=6, alpha=0.7, color="C%d" % i,
                           label=str(cl))
            ax.legend(title="label", markerscale=3, loc="center left",
                      bbox_to_anchor=(1.0, 0.5), frameon=False)
        else:
            sc = ax.scatter(z[:, 0], z[:, 1], s=4, alpha=0.7, c=labels, cmap="viridis")
            fig.colorbar(sc, ax=ax, label="label")
    ax.set_xlabel("z[%d] (encoder mean)" % dims[0])
    ax.set_ylabel("z[%d] (encoder mean)" % dims[1])
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(True, alpha=0.3)
    ax.set_title(title if title is not None else "latent means of %d examples" % z.shape[0],
                 fontsize=10)
    fig.tight_layout()
    _save(fig, Canvas, out_png)
    return z


# -- command line --------------------------------------------------------------

def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python3 -m libvae.plot",
        description="Plots from libvae runs, written as PNG files (needs matplotlib).")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    pc = sub.add_parser("curves", help="training curves from a vae-train --log CSV",
                        description="Train and test ELBO per epoch (top) and the "
                        "reconstruction term and KL (bottom) from a vae-train --log CSV "
                        "(header: %s)." % ",".join(LOG_COLUMNS))
    pc.add_argument("log", metavar="LOG.csv")
    pc.add_argument("-o", "--out", required=True, metavar="PNG")
    pc.add_argument("--title")
    pc.add_argument("--dpi", type=int, default=100)
    pl = sub.add_parser("latent", help="2-D latent scatter of labelled images",
                        description="Encode images with a checkpoint and scatter the encoder "
                        "means coloured by label. A model with latent_dim 2 is plotted as it "
                        "is; for a larger latent space give the two dimensions with --dims "
                        "(the command refuses to choose).")
    pl.add_argument("checkpoint", metavar="CKPT")
    pl.add_argument("--data", required=True, metavar="IMAGES",
                    help="IDX images (raw or gzip; u8 pixels are divided by 255)")
    pl.add_argument("--labels", metavar="LABELS", help="IDX labels of the same images")
    pl.add_argument("--holdout", type=int, default=0, metavar="N",
                    help="plot only the last N images (vae-train --holdout's test set); "
                    "default all")
    pl.add_argument("--dims", type=int, nargs=2, metavar=("I", "J"),
                    help="latent dimensions to plot (needed when latent_dim != 2)")
    pl.add_argument("-o", "--out", required=True, metavar="PNG")
    pl.add_argument("--title")
    pl.add_argument("--dpi", type=int, default=100)
    a = p.parse_args(argv)

    from ._errors import Error
    try:
        if a.command == "curves":
            log = training_curves(a.log, a.out, title=a.title, dpi=a.dpi)
            print("%s: %d epochs" % (a.out, log["epoch"].size))
        else:
            from .dataset import Dataset
            from .model import Model
            with Dataset.from_idx(a.data, a.labels) as ds:
                if a.holdout < 0 or a.holdout > len(ds):
                    raise ValueError("--holdout %d: the data has %d images"
                                     % (a.holdout, len(ds)))
                x, y = ds.numpy(), ds.labels()
                if a.holdout:
                    x = x[len(ds) - a.holdout:]
                    y = None if y is None else y[len(y) - a.holdout:]
                with Model.load(a.checkpoint) as model:
                    z = latent_scatter(model, x, y, a.out, dims=a.dims, title=a.title,
                                       dpi=a.dpi)
            print("%s: %d points" % (a.out, z.shape[0]))
    except (ImportError, ValueError, OSError, Error) as e:
        print("libvae.plot: %s" % (e,), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
