"""Hand-written CUDA kernels for minidl's hot layers, and the ways to run them.

One ``.cu`` file per layer family (``im2col.cu``, ``maxpool.cu``, ``adam.cu``,
``bce.cu``, ``batchnorm.cu``, ``relu.cu``, ``fused.cu`` (layer pairs and triples in one pass), and ``philox.cu`` for dropout's random numbers), each readable next to the NumPy
layer it mirrors; the comment block of every kernel says which thread computes
what. ``README.md`` walks through ``im2col`` line by line.

- ``launch.launch(name, total, *args)`` runs a kernel: on CuPy arrays through
  ``cupy.RawModule`` (``cupy_loader``), on NumPy arrays through the serial CPU
  shim (``cpu_shim.h`` + g++, ``cpu_shim``), which is how the tests check the
  kernels' logic on machines without a GPU.
- ``device_layers`` registers the "gpu" implementations of conv2d, max_pool2d,
  relu and batch_norm in the ops table (``minidl.ops``), which picks them for
  device arrays; ``device_training`` those of adam and bce_with_logits;
  ``device_fused`` those of the fused ops (batch_norm_relu, max_pool2d_batch_norm_relu, conv2d_relu,
  conv2d_selu).
- ``python -m minidl.kernels`` lists the kernels; ``--compile`` compiles every
  source with nvcc for sm_90; ``--run-on-cpu`` checks every kernel against NumPy.

Importing this package never imports CuPy.
"""
