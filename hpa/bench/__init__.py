"""hpa's benchmarks: whole networks, minidl next to PyTorch, and the GPU acceptance run.

    python -m hpa.bench.steps        training steps of ParallelLeNet and GapNet, minidl and PyTorch in workers
    python -m hpa.bench.data         image-cache and loader throughput, and the loader against the step
    python -m hpa.bench.backbones    ResNet and DenseNet forward + backward, minidl and PyTorch
    python -m hpa.bench.distributed  one training step on 1 process against K (MPI or NCCL)
    python -m hpa.bench.gpu_check    the GPU acceptance run: GPU tests, layer and network tables

Beside them: ``step`` (the timed training step), ``torch_twin`` (the PyTorch
network of any minidl model, from its module tree) and ``torchvision_twins``
(torchvision's ResNet, DenseNet and VGG written with torch.nn; the tests import
them too). Every benchmark measures NumPy as users run it (``minidl.bench.blas``).
"""
