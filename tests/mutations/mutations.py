"""The catalogue of planted bugs for ``run.py``: bugs the tests once let through, and weakened checkers.

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


def decay_after_step(path, last_line):
    """Edits moving AdamW's decoupled decay in ``path`` from before the step to after ``last_line``."""
    decay = "    if weight_decay and decoupled:\n        param *= 1 - lr * weight_decay\n"
    return [(path, decay + "    elif weight_decay:", "    if weight_decay and not decoupled:"),
            (path, last_line, last_line + decay)]


ENGINE = [
    Mutation(
        "ce_without_max_shift", "cross-entropy's log-softmax without subtracting the row maximum",
        [("minidl/ops/cross_entropy.py", "z = logits - xp.max(logits, axis=1, keepdims=True)", "z = logits")],
        ["tests/engine/test_cross_entropy.py"]),
    Mutation(
        "bce_log_of_plain_sigmoid", "BCE as log(σ(x)) and log(1 - σ(x)) of a plain sigmoid",
        [("minidl/ops/bce_with_logits.py",
          "loss = -w * (pos * log_sigmoid(logits) + (1 - y) * log_sigmoid(-logits))",
          "p = 1 / (1 + xp.exp(-logits))\n    loss = -w * (pos * xp.log(p) + (1 - y) * xp.log(1 - p))")],
        ["tests/engine/test_losses.py"]),
    Mutation(
        "bce_backward_drops_pos_weight", "BCE's backward (the reference) forgets pos_weight: y σ(-x), not p y σ(-x)",
        [("minidl/ops/bce_with_logits.py", "((1 - y) * sigmoid(logits) - pos * sigmoid(-logits))",
          "((1 - y) * sigmoid(logits) - y * sigmoid(-logits))")],
        ["tests/engine/test_losses.py", "tests/engine/test_loss_ops.py"]),
    Mutation(
        "loss_backward_before_forward", "the Loss base class lets backward run before any forward",
        [("minidl/losses/loss.py", "        if self._cache is None:\n", "        if False:\n")],
        ["tests/engine/test_losses.py", "tests/engine/test_loss_ops.py"]),
    Mutation(
        "fused_bce_ignores_pos_weight", "the GPU BCE launcher tells bce.cu there is no pos_weight",
        [("minidl/kernels/device_training.py", "int(pos_weight is not None)", "0")],
        ["tests/engine/test_loss_ops.py", "tests/kernels/test_kernels_on_cpu.py", "-k", "bce"]),
    Mutation(
        "adamw_decay_after_step", "AdamW (the reference) shrinks the weights after the Adam step instead of before",
        decay_after_step("minidl/ops/adam.py", "    param -= (m * rate) / (xp.sqrt(v) / correction2 + eps)\n"),
        ["tests/engine/test_optim.py", "tests/engine/test_optim_ops.py"]),
    Mutation(
        "adam_blocked_decay_after_step", "AdamW in blocks (the default host path) decays after the step",
        decay_after_step("minidl/fast_cpu/adam_blocked.py",
                         "        _adam_block(xp, *(a[part] for a in flat), step[:n], denom[:n], *scalars)\n"),
        ["tests/engine/test_optim.py", "tests/engine/test_optim_ops.py"]),
    Mutation(
        "adam_blocked_skips_short_block", "blocked Adam never updates the short last block of a parameter",
        [("minidl/fast_cpu/adam_blocked.py", "for start in range(0, size, block):",
          "for start in range(0, size - block + 1, block):")],
        ["tests/engine/test_optim.py", "tests/engine/test_optim_ops.py"]),
    Mutation(
        "fused_adam_without_bias_correction", "the GPU Adam launcher passes lr and 1 instead of the bias corrections",
        [("minidl/kernels/device_training.py", "               rate, correction2)", "               lr, 1.0)")],
        ["tests/engine/test_optim_ops.py", "tests/kernels/test_kernels_on_cpu.py", "-k", "adam"]),
    Mutation(
        "linear_weight_grad_over_batch", "Linear's weight gradient divided by the batch size",
        [("minidl/ops/linear.py", "dy.T @ x, dy.sum(axis=0)", "(dy.T @ x) / x.shape[0], dy.sum(axis=0)")],
        ["tests/engine/test_linear.py", "tests/engine/test_containers.py"]),
    Mutation(
        "relu_dy_in_place", "ReLU's backward overwrites its upstream gradient in place (dy *= mask)",
        [("minidl/ops/relu.py", "    return (dy * positive,)",
          "    dy *= positive\n    return (dy,)")],
        ["tests/engine/test_activations.py"]),
    Mutation(
        "linear_dx_squeezed", "Linear returns dx of shape (in,) for an input of shape (1, in)",
        [("minidl/ops/linear.py", "    return dy @ weight.astype(dy.dtype, copy=False), ",
          "    dx = dy @ weight.astype(dy.dtype, copy=False)\n"
          "    return dx[0] if dx.shape[0] == 1 else dx, ")],
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
        [("minidl/ops/relu.py", "    return backend.get_array_module(x).maximum(x, 0), positive",
          "    host = backend.to_numpy(x)\n    return backend.get_array_module(host).maximum(host, 0), positive")],
        ["tests/engine/test_engine_purity.py", "tests/engine/test_activations.py"]),
    Mutation(
        "pool2x2_ties_go_right", "the 2x2 halving path gives a tie within a row to the right column",
        [("minidl/fast_cpu/pool2x2.py", "xp.greater(right_col, left_col, out=", "xp.greater_equal(right_col, left_col, out=")],
        ["tests/engine/test_pooling.py", "tests/engine/test_ops_check.py"]),
    Mutation(
        "folded_conv_shift_off_by_one", "folded im2col adds kernel column j's share one column too far",
        [("minidl/fast_cpu/conv_folded.py", "prod[0, :, :t - j] += prod[j, :, j:]",
          "prod[0, :, :t - j - 1] += prod[j, :, j + 1:]")],
        ["tests/engine/test_conv.py", "tests/engine/test_ops_check.py"]),
    Mutation(
        "numba_col2im_drops_last_row", "the compiled col2im gather skips the last output row of a chunk",
        [("minidl/compiled/conv_passes.py", "            if r >= rows:", "            if r >= rows - 1:")],
        ["tests/engine/test_conv_compiled.py"]),
    Mutation(
        "direct_conv_dw_drops_last_row", "the direct convolution's weight gradient leaves out the last output row",
        [("minidl/compiled/conv_direct.py", "                    for r in range(ho):\n                        g, src",
          "                    for r in range(ho - 1):\n                        g, src")],
        ["tests/engine/test_conv_compiled.py", "tests/engine/test_conv.py"]),
    Mutation(
        "reference_col2im_ignores_stride", "the reference conv's col2im adds every window at stride 1",
        [("minidl/ops/conv2d.py", "dxpad[:, :, i:i + sh * ho:sh, j:j + sw * wo:sw]",
          "dxpad[:, :, i:i + ho, j:j + wo]")],
        ["tests/engine/test_ops_check.py"]),
    Mutation(
        "maxpool_kernel_last_maximum", "the CUDA max pooling kernel keeps the last maximum of a tie, not the first",
        [("minidl/kernels/maxpool.cu", "if (value > best) best_offset = i * kernel_w + j;",
          "if (value >= best) best_offset = i * kernel_w + j;")],
        ["tests/engine/test_ops_check.py", "tests/kernels/test_kernels_on_cpu.py"]),
    Mutation(
        "fused_pool_bn_gather_drops_dbeta", "the fused pooling + batch norm backward gather forgets the -dbeta/M term",
        [("minidl/kernels/fused.cu", "                    d -= offset_term;\n", "")],
        ["tests/kernels/test_kernels_on_cpu.py", "-k", "pool+bn+relu"]),
    Mutation(
        "fused_relu_zeroes_nan", "the fused kernels' ReLU part turns a NaN into 0",
        [("minidl/kernels/fused.cu", "return positive || z != z ? z : (real)0;", "return positive ? z : (real)0;")],
        ["tests/kernels/test_fused_kernels.py"]),
    Mutation(
        "bias_selu_fmin_drops_nan", "the fused conv bias + SELU kernel takes min(z, 0) with fmin, which drops a NaN",
        [("minidl/kernels/fused.cu", "const real negative = z < 0 || z != z ? z : (real)0;",
          "const real negative = fmin(z, (real)0);")],
        ["tests/kernels/test_fused_kernels.py", "-k", "selu"]),
    Mutation(
        "adam_many_swaps_moments", "Adam's one-launch group update swaps the two moment buffers",
        [("minidl/kernels/adam.cu", "(real*)exp_avgs[lo], (real*)exp_avg_sqs[lo],", "(real*)exp_avg_sqs[lo], (real*)exp_avgs[lo],")],
        ["tests/kernels/test_kernels_on_cpu.py", "-k", "adam-many"]),
    Mutation(
        "fused_chain_skips_running_stats", "a fused batch norm never moves its running statistics",
        [("minidl/layers/fused.py", "            owner._update_running(*stats[0])", "            pass")],
        ["tests/engine/test_fusion.py"]),
]

# Gives a layer a backward that runs the real one, then zeroes its parameter
# gradients and returns a zero dx: the layer, and all before it, never learn.
DEAD_BACKWARD = ("    def extra_repr(self):\n",
                 "    def backward(self, dy):\n        dx = super().backward(dy)\n"
                 "        for p in self._parameters.values():\n"
                 "            if p is not None:\n                p.grad[...] = 0\n"
                 "        return None if dx is None else dx * 0\n\n    def extra_repr(self):\n")
TRAIN = "tests/hpa/test_train_commands.py"

HPA = [
    Mutation(
        "resume_does_nothing", "Trainer.resume returns at once: the run retrains from scratch",
        [("hpa/training/trainer.py", '''        checked = open_checkpoint(path)\n''',
          '''        return self.start_epoch\n        checked = open_checkpoint(path)\n''')],
        [TRAIN, "-k", "resumes_exactly"]),
    Mutation(
        "resume_forgets_schedule", "resume does not restore the learning-rate schedule's state",
        [("hpa/training/trainer.py", '''        if self.schedule and state["schedule"]:\n''',
          '''        if False:\n''')],
        [TRAIN, "-k", "resumes_exactly"]),
    Mutation(
        "resume_forgets_early_stopping", "resume does not restore the early-stopping counters",
        [("hpa/training/trainer.py", '''        self.stopper = EarlyStopping(**state["early_stopping"])\n''', "")],
        [TRAIN, "-k", "plateau"]),
    Mutation(
        "early_stopping_one_late", "early stopping waits one epoch more than its patience",
        [("hpa/training/trainer.py", "self.bad_epochs >= self.patience", "self.bad_epochs > self.patience")],
        [TRAIN, "-k", "early_stopping"]),
    Mutation(
        "best_checkpoint_every_epoch", "best.npz is overwritten every epoch, not only on improvement",
        [("hpa/training/trainer.py", '''            if improved:\n                self.save("best.npz", epoch)\n''',
          '''            self.save("best.npz", epoch)\n''')],
        [TRAIN, "-k", "early_stopping"]),
    Mutation(
        "conv_and_batchnorm_backward_dead",
        "Conv2d and batch-norm backward return zeros: only the dense head learns",
        [("minidl/layers/conv.py", *DEAD_BACKWARD), ("minidl/layers/batchnorm.py", *DEAD_BACKWARD)],
        ["tests/hpa/test_models_overfit.py", "-k", "parallel_lenet or mcnn"]),
    Mutation(
        "tta_ignores_the_views", "--tta predicts the unchanged image 8 times",
        [("hpa/evaluation/inference.py", "augment=(lambda x, rng, g=g: dihedral(x, g)) if g else None",
          "augment=None")],
        ["tests/hpa/test_inference.py"]),
    Mutation(
        "predict_uses_one_checkpoint", "several checkpoints: only the first one's probabilities are used",
        [("hpa/evaluation/inference.py", "    for model, meta in loaded:\n", "    for model, meta in loaded[:1]:\n")],
        ["tests/hpa/test_inference.py"]),
    Mutation(
        "model_computes_on_host", "a model (parallel LeNet's input pooling) copies to the host to compute",
        [("hpa/models/parallel_lenet.py", "        return super().forward(x if self.pool is None else self.pool(x))",
          "        from minidl import backend\n        x = backend.xp().asarray(backend.to_numpy(x))\n"
          "        return super().forward(x if self.pool is None else self.pool(x))")],
        ["tests/engine/test_engine_purity.py"]),
    Mutation(
        "out_holding_a_run_accepted", "--out naming a folder that holds a run is written over without a word",
        [("hpa/training/run_folder.py", "    if not config.overwrite:\n        check_free(config, out)\n", "")],
        ["tests/hpa/test_run_folders.py", "-k", "refused"]),
    Mutation(
        "default_run_folder_shared", "two runs started in the same second share one default folder",
        [("hpa/training/run_folder.py", "                os.mkdir(path)\n", "                os.makedirs(path, exist_ok=True)\n")],
        ["tests/hpa/test_run_folders.py", "-k", "same_second"]),
    Mutation(
        "stale_temps_of_live_writers_removed", "a starting run deletes the checkpoint another live run is writing",
        [("minidl/atomic.py", "return writer_host == host and not _process_exists(int(pid))", "return True")],
        ["tests/hpa/test_run_folders.py", "-k", "stale"]),
]

HPA.append(Mutation(
    "pending_losses_unwatched", "losses read after a GPU step are never shown to the NaN watch",
    [("hpa/training/loss_watch.py", "            self.watch.check(value, self.epoch, batch)\n", "")],
    ["tests/hpa/test_device_step.py"]))

MUTATIONS = ENGINE + HPA
