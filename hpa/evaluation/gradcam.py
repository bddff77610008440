"""Grad-CAM (Selvaraju et al. 2017) for every network, through minidl's own backward pass.

For a feature map A (N, K, h, w) inside the network and the logit y_c of class c,

    alpha_k  = mean over (x, y) of dy_c / dA_k(x, y)        (how much channel k matters for c)
    GradCAM  = ReLU( sum_k alpha_k * A_k )                   (N, h, w)

The gradient is what the hand-written backward already computes: a forward
pass of the batch (in eval mode, with the layers keeping their inputs), then
``model.backward(dy)`` with dy = one-hot of each sample's class. Every layer's
``backward`` receives the gradient of the loss with respect to its output, so
the layer that *produces* A hears dy_c/dA as its ``dy``; :func:`recording`
listens there. Samples are independent in eval mode (batch norm uses its
running statistics), so one backward pass serves a whole batch with a
different class per sample.

Which feature maps: ``model.cam_layers()`` -> [(name, layer)], the layer whose
output is the map (the last convolutional map, before any flattening or
global pooling). The parallel LeNet has three, one per branch (red, blue and
yellow reference stains, each paired with green).

With a head of global average pooling and one Linear layer (DenseNet,
ResNet), y_c = b_c + sum_k W[c, k] * mean A_k, so dy_c/dA_k(x, y) = W[c, k]/(h w)
and GradCAM = ReLU(CAM_c) / (h w), the classic class activation map
(:mod:`hpa.evaluation.cam`) up to the ReLU and the constant: a check of both.
"""
import contextlib

import numpy as np

import minidl as md


@contextlib.contextmanager
def recording(layer, store):
    """While active, ``store["A"]`` gets ``layer``'s output and ``store["dA"]`` the gradient it receives."""
    forward, backward = layer.forward, layer.backward
    before = {k: layer.__dict__[k] for k in ("forward", "backward") if k in layer.__dict__}

    def record_forward(x):
        store["A"] = forward(x)
        return store["A"]

    def record_backward(dy):
        store["dA"] = dy
        return backward(dy)

    object.__setattr__(layer, "forward", record_forward)
    object.__setattr__(layer, "backward", record_backward)
    try:
        yield store
    finally:
        for key in ("forward", "backward"):  # back to the class's methods (or an outer recording's)
            layer.__dict__.pop(key, None)
        layer.__dict__.update(before)


def grad_cam(model, x, classes, relu=True):
    """Grad-CAM maps of a normalised float32 batch.

    x (N, 4, S, S); classes (N,) ints, the class explained for each sample.
    Returns [(name, maps (N, h, w) float64 host array)], one per entry of
    ``model.cam_layers()``. ``relu=False`` keeps negative evidence (for tests).
    """
    model.eval()
    layers = model.cam_layers()
    stores = [{} for _ in layers]
    with contextlib.ExitStack() as stack:
        for (_, layer), store in zip(layers, stores):
            stack.enter_context(recording(layer, store))
        logits = model(md.to_device(np.ascontiguousarray(x, np.float32)))
        dy = np.zeros(logits.shape, np.float32)
        dy[np.arange(len(dy)), np.asarray(classes)] = 1.0
        model.backward(md.to_device(dy))
    out = []
    for (name, _), store in zip(layers, stores):
        a = md.to_numpy(store["A"]).astype(np.float64)
        da = md.to_numpy(store["dA"]).astype(np.float64)
        alpha = da.mean(axis=(2, 3), keepdims=True)        # (N, K, 1, 1)
        maps = (alpha * a).sum(axis=1)                     # (N, h, w)
        out.append((name, np.maximum(maps, 0) if relu else maps))
    return out
