"""The engine's benchmarks: minidl's layers against PyTorch's, ``python -m minidl.bench``.

    layers  forward + backward of each layer of a small HPA network, side by side with PyTorch
    blas    measuring as users run NumPy: the OpenBLAS overrides unset, the kernel named

They use only minidl and, when installed, torch and threadpoolctl; the engine's
core uses nothing from here. Whole training steps of networks are the
application's benchmarks (``python -m hpa.bench.steps``).
"""
