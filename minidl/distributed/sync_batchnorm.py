"""``SyncBatchNorm``: batch normalisation whose statistics cover the global batch.

With data parallelism each rank sees only its shard of the batch. Plain
BatchNorm would normalise each shard by its own mean and variance, so K ranks
compute something else than one process on the whole batch (and with small
shards, noisier statistics). SyncBatchNorm sums the per-channel reductions
over the ranks, so every rank normalises by the statistics of the global batch.

Notation as in :mod:`minidl.ops.batch_norm`: per channel, over the M values
of the global batch (M = sum over ranks of N_r * H * W),

    mu = (1/M) sum x_i       var = (1/M) sum (x_i - mu)^2       r = 1/sqrt(var + eps)

Forward, two all-reduces (mean first, then the centred sum of squares, the
same two passes as BatchNorm, which is more accurate than one pass over
sum(x) and sum(x^2)):

    [sum_local x_i, M_r]  --all-reduce-->  [sum x_i, M]        -> mu
    sum_local (x_i - mu)^2 --all-reduce--> sum (x_i - mu)^2    -> var

Backward. dL/dx_j = gamma r (g_j - (1/M) sum g_i - xhat_j (1/M) sum g_i xhat_i)
needs the two sums over the *global* batch: one all-reduce of both
[sum g_i, sum g_i xhat_i]. The parameter gradients dL/dbeta = sum g_i and
dL/dgamma = sum g_i xhat_i are left as this rank's share (the local sums):
the gradient all-reduce after backward adds the shares of all ranks, like
those of every other parameter.

The upstream gradient g on rank r is that of rank r's own loss; dividing by
the number of ranks happens once, in the gradient all-reduce. Every step above
is linear in g, so that gives the global-batch gradient.

In eval mode the running statistics are used and nothing is communicated.
The running variance uses the unbiased factor M/(M-1) of the global M, so
running statistics are identical on every rank.
"""
from minidl import backend
from minidl.distributed.group import get_process_group
from minidl.layers.batchnorm import _BatchNorm


class SyncBatchNorm(_BatchNorm):
    """Batch norm over (N, C, *) with statistics all-reduced over ``group``.

    group: a process group; None uses the default one when called (a single
    process when none was initialised, where this is plain BatchNorm).
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, group=None):
        super().__init__(num_features, eps=eps, momentum=momentum)
        self.group = group

    def _check(self, x):
        if x.ndim < 2 or x.shape[1] != self.num_features:
            raise ValueError(f"x must have shape (N, {self.num_features}, ...), got {x.shape}")

    def _group(self):
        return self.group or get_process_group()

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        self._check(x)
        xp = backend.get_array_module(x)
        n, c = x.shape[:2]
        x3 = x.reshape(n, c, -1)
        group = self._group()
        # Sums and counts in float64: a float32 count is inexact beyond 2**24
        # values, which a few ranks of 512 px images exceed.
        totals = xp.empty(c + 1, dtype="float64")
        totals[:c] = x3.sum(axis=(0, 2))
        totals[c] = x3.shape[0] * x3.shape[2]
        group.allreduce(totals, what="SyncBatchNorm all-reduce of the batch mean")
        m = float(totals[c])
        if m < 2:
            raise ValueError(f"SyncBatchNorm needs more than one value per channel over all ranks, got {m:g}")
        mean = (totals[:c] / m).astype(x.dtype)
        xc = x3 - mean[:, None]
        squares = xp.einsum("ncl,ncl->c", xc, xc).astype("float64")
        group.allreduce(squares, what="SyncBatchNorm all-reduce of the batch variance")
        var = (squares / m).astype(x.dtype)
        self._update_running(mean, var, m)
        inv_std = 1 / xp.sqrt(var + self.eps)
        gamma = self.weight.data.astype(x.dtype, copy=False)
        y = xc * (gamma * inv_std)[:, None]
        y += self.bias.data.astype(x.dtype, copy=False)[:, None]
        self.save_for_backward(None, (xc, inv_std, gamma, m), None)  # None: no op of the table
        return y.reshape(x.shape)

    def backward(self, dy):
        impl, saved, _ = self.saved()
        if impl is not None:  # eval mode: the batch_norm op's own backward
            return super().backward(dy)
        xc, inv_std, gamma, m = saved
        xp = backend.get_array_module(dy)
        g = dy.reshape(xc.shape)
        c = xc.shape[1]
        sums = xp.empty(2 * c, dtype="float64")
        sums[:c] = g.sum(axis=(0, 2))
        sums[c:] = xp.einsum("ncl,ncl->c", g, xc) * inv_std
        self.bias.grad += sums[:c].astype(dy.dtype)   # this rank's share of dL/dbeta
        self.weight.grad += sums[c:].astype(dy.dtype)  # and of dL/dgamma
        self._group().allreduce(sums, what="SyncBatchNorm all-reduce of the backward sums")
        dbeta, dgamma = sums[:c].astype(dy.dtype), sums[c:].astype(dy.dtype)
        self.free_saved()
        # gamma*r*(g - dbeta/M - xhat*dgamma/M) with xhat = xc*r, in xc's memory.
        dx = xc
        dx *= (-(inv_std * dgamma) / m)[:, None]
        dx += g
        dx -= (dbeta / m)[:, None]
        dx *= (gamma * inv_std)[:, None]
        return dx.reshape(dy.shape)

    @classmethod
    def convert_sync_batchnorm(cls, module, group=None):
        """Replace every BatchNorm1d/2d inside ``module`` by a SyncBatchNorm; returns the result.

        The new layers keep the old ones' Parameter objects (so an optimizer
        built before the conversion still updates them), buffers and mode.
        """
        if isinstance(module, _BatchNorm) and not isinstance(module, cls):
            sync = cls(module.num_features, eps=module.eps, momentum=module.momentum, group=group)
            sync.weight, sync.bias = module.weight, module.bias
            for name, buffer in module._buffers.items():
                sync._buffers[name] = buffer
            object.__setattr__(sync, "training", module.training)
            return sync
        for name, child in list(module._modules.items()):
            module._modules[name] = cls.convert_sync_batchnorm(child, group)
        return module
