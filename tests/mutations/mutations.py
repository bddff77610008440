"""The catalogue of planted bugs for ``run.py``: the bugs of issue 10, and weakened checkers.

Each mutation is a list of exact text edits ``(file, old, new)`` and the tests
that claim to catch it. Keep edits small and literal: when the code they edit
changes, ``run.py`` reports them STALE, and they must be updated by hand.
"""
from dataclasses import dataclass, field


@dataclass
class Mutation:
    name: str
    bug: str
    edits: list = field(default_factory=list)
    tests: list = field(default_factory=list)
    covered_by: str = ""  # caught elsewhere than this script can run


ENGINE = [
    Mutation(
        "ce_without_max_shift", "cross-entropy's log-softmax without subtracting the row maximum",
        [("minidl/losses/cross_entropy.py", "z = logits - xp.max(logits, axis=1, keepdims=True)", "z = logits")],
        ["tests/engine/test_losses.py"]),
    Mutation(
        "bce_log_of_plain_sigmoid", "BCE as log(σ(x)) and log(1 - σ(x)) of a plain sigmoid",
        [("minidl/losses/bce.py",
          "loss = -w * (pos * log_sigmoid(logits) + (1 - y) * log_sigmoid(-logits))",
          "p = 1 / (1 + xp.exp(-logits))\n        loss = -w * (pos * xp.log(p) + (1 - y) * xp.log(1 - p))")],
        ["tests/engine/test_losses.py"]),
    Mutation(
        "adamw_decay_after_step", "AdamW shrinks the weights after the Adam step instead of before",
        [("minidl/optim/adam.py", "        if wd and self.decoupled:\n            p.data *= 1 - lr * wd\n"
          "        elif wd:", "        if wd and not self.decoupled:"),
         ("minidl/optim/adam.py", "        p.data -= step\n",
          "        p.data -= step\n        if wd and self.decoupled:\n            p.data *= 1 - lr * wd\n")],
        ["tests/engine/test_optim.py"]),
    Mutation(
        "linear_weight_grad_over_batch", "Linear's weight gradient divided by the batch size",
        [("minidl/layers/linear.py", "self.weight.grad += dy.T @ x", "self.weight.grad += (dy.T @ x) / x.shape[0]")],
        ["tests/engine/test_linear.py", "tests/engine/test_containers.py"]),
    Mutation(
        "relu_dy_in_place", "ReLU's backward overwrites its upstream gradient in place (dy *= mask)",
        [("minidl/layers/activations.py", "        return dy * positive",
          "        dy *= positive\n        return dy")],
        ["tests/engine/test_activations.py"]),
    Mutation(
        "linear_dx_squeezed", "Linear returns dx of shape (in,) for an input of shape (1, in)",
        [("minidl/layers/linear.py", "        return dy @ self.weight.data.astype(dy.dtype, copy=False)",
          "        dx = dy @ self.weight.data.astype(dy.dtype, copy=False)\n"
          "        return dx[0] if dx.shape[0] == 1 else dx")],
        ["tests/engine/test_linear.py"]),
    Mutation(
        "gradcheck_unbounded_roundoff",
        "gradcheck's round-off allowance unbounded: a 1% error under a 1e9 output offset passes",
        [("minidl/gradcheck_report.py", "    _judge_resolution(report)\n", "")],
        ["tests/engine/test_gradcheck.py"]),
    Mutation(
        "gradcheck_shares_upstream", "gradcheck hands backward the array the numerical check uses",
        [("minidl/gradcheck.py", "upstream_seen = upstream.copy()", "upstream_seen = upstream")],
        ["tests/engine/test_gradcheck.py"]),
    Mutation(
        "gradcheck_no_accumulation", "gradcheck does not run backward twice (no accumulation check)",
        [("minidl/gradcheck.py", "        elif _max_abs(p.grad - 2 * once) > 1e-12 * _max_abs(2 * once):",
          "        elif False:")],
        ["tests/engine/test_gradcheck.py"]),
    Mutation(
        "relu_computes_on_host", "ReLU copies its input to the host and computes with NumPy",
        [("minidl/layers/activations.py", "        return backend.get_array_module(x).maximum(x, 0)",
          "        host = backend.to_numpy(x)\n        return backend.get_array_module(host).maximum(host, 0)")],
        ["tests/engine/test_engine_purity.py", "tests/engine/test_activations.py"]),
]

MUTATIONS = ENGINE
