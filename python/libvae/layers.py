"""Networks as data: layer objects whose text is libvae's network text form.

A network is a list of layers or the text itself; both give the same model::

    from libvae import Model, layers as L
    enc = [L.Conv2d(32, 4, 2, 1), L.ReLU(), L.Conv2d(64, 4, 2, 1), L.ReLU(),
           L.Flatten(), L.Dense(256), L.ReLU()]
    m = Model(input_dim=784, input_shape=(1, 28, 28), latent=20, encoder=enc,
              decoder="dense(256) relu dense(3136) relu reshape(64,7,7) "
                      "convT2d(32,4,2,1) relu convT2d(1,4,2,1)")

The grammar and the meaning of every layer are in docs/networks.md; the
library parses the text and reports errors naming the layer.
"""
from ._errors import type_error


__all__ = ["Layer", "Dense", "Conv2d", "ConvT2d", "Flatten", "Reshape", "LayerNorm", "ReLU",
           "LeakyReLU", "Tanh", "Sigmoid", "Softplus", "Identity", "network_text"]


def _int(v, name):
    if isinstance(v, bool) or not isinstance(v, int):
        try:
            import numpy as np
            if isinstance(v, np.integer):
                return int(v)
        except ImportError:  # pragma: no cover
            pass
        raise type_error("%s = %r: expected an int" % (name, v))
    return v


class Layer:
    """One layer; str(layer) is its token in the text form."""
    token = None
    _args = ()

    def __init__(self, *args):
        self.args = tuple(_int(a, "%s argument %d" % (self.token, i + 1))
                          for i, a in enumerate(args))

    def __str__(self):
        if not self.args:
            return self.token
        return "%s(%s)" % (self.token, ",".join(str(a) for a in self.args))

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join(repr(a) for a in self.args))

    def __eq__(self, other):
        return type(self) is type(other) and str(self) == str(other)

    def __hash__(self):
        return hash(str(self))


class Dense(Layer):
    """dense(out): y = x W + b on the flattened input."""
    token = "dense"

    def __init__(self, out):
        super().__init__(out)


class Conv2d(Layer):
    """conv2d(out, kernel, stride, padding), PyTorch's Conv2d (square kernel)."""
    token = "conv2d"

    def __init__(self, out, kernel, stride=1, padding=0):
        super().__init__(out, kernel, stride, padding)


class ConvT2d(Layer):
    """convT2d(out, kernel, stride, padding[, output_padding]), PyTorch's ConvTranspose2d."""
    token = "convT2d"

    def __init__(self, out, kernel, stride=1, padding=0, output_padding=0):
        args = (out, kernel, stride, padding) + ((output_padding,) if output_padding else ())
        super().__init__(*args)


class Flatten(Layer):
    """flatten: (C, H, W) -> (C*H*W,)."""
    token = "flatten"


class Reshape(Layer):
    """reshape(c, h, w)."""
    token = "reshape"

    def __init__(self, c, h, w):
        super().__init__(c, h, w)


class LayerNorm(Layer):
    """layernorm: per example over all features, gamma and beta per channel."""
    token = "layernorm"


class ReLU(Layer):
    token = "relu"


class LeakyReLU(Layer):
    """leaky_relu(slope), slope 0.01 by default."""
    token = "leaky_relu"

    def __init__(self, slope=0.01):
        super().__init__()
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise type_error("leaky_relu slope = %r: expected a number" % (slope,))
        self.slope = float(slope)

    def __str__(self):
        return "leaky_relu" if self.slope == 0.01 else "leaky_relu(%r)" % self.slope

    def __repr__(self):
        return "LeakyReLU(%r)" % self.slope


class Tanh(Layer):
    token = "tanh"


class Sigmoid(Layer):
    token = "sigmoid"


class Softplus(Layer):
    token = "softplus"


class Identity(Layer):
    token = "identity"


def network_text(net, name="network"):
    """The text form of a network given as text or as a sequence of layers."""
    if isinstance(net, bytes):
        net = net.decode("ascii")
    if isinstance(net, str):
        return net
    if isinstance(net, Layer):
        return str(net)
    try:
        items = list(net)
    except TypeError:
        raise type_error("%s = %r: expected the text form or a list of layers" % (name, net)) \
            from None
    for i, layer in enumerate(items):
        if not isinstance(layer, (Layer, str)):
            raise type_error("%s[%d] = %r: expected a libvae.layers layer or a token"
                            % (name, i, layer))
    return " ".join(str(layer) for layer in items)
