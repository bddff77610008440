"""Print timm's inception_resnet_v2 state_dict keys and shapes, from timm's own model code.

    pip install --no-deps --target DIR timm==1.0.31
    python tests/hpa/data/timm_keys.py DIR > tests/hpa/data/timm_inception_resnet_v2_keys.txt

timm was installed with ``pip install --no-deps --target DIR timm``; its package
__init__ imports torchvision (data transforms, FrozenBatchNorm2d), which cannot be
installed beside this torch. So the packages ``timm``, ``timm.models`` and
``timm.data`` are entered without running their __init__, torchvision.ops.misc is an
empty stand-in, and timm/models/inception_resnet_v2.py itself is imported and built.
"""
import importlib
import os
import sys
import types

import torch

root = os.path.join(sys.argv[1], "timm")
for name, path in (("timm", root), ("timm.models", os.path.join(root, "models"))):
    pkg = types.ModuleType(name)
    pkg.__path__ = [path]
    sys.modules[name] = pkg
sys.modules["timm"].__version__ = importlib.import_module("timm.version").__version__
data = types.ModuleType("timm.data")
data.__path__ = [os.path.join(root, "data")]
sys.modules["timm.data"] = data
constants = importlib.import_module("timm.data.constants")
data.__dict__.update({k: v for k, v in vars(constants).items() if k.isupper()})
for name in ("torchvision", "torchvision.ops", "torchvision.ops.misc"):
    sys.modules[name] = types.ModuleType(name)
sys.modules["torchvision.ops.misc"].FrozenBatchNorm2d = type("FrozenBatchNorm2d", (torch.nn.Module,), {})
irv2 = importlib.import_module("timm.models.inception_resnet_v2")
model = irv2.InceptionResnetV2(num_classes=1000)
print(f"# timm {sys.modules['timm'].__version__}: state_dict of InceptionResnetV2(num_classes=1000), key and shape")
print("# Written by tests/hpa/data/timm_keys.py from timm's own model code (timm/models/inception_resnet_v2.py,")
print("# installed with pip install --no-deps --target DIR timm):")
print("#   python tests/hpa/data/timm_keys.py DIR > tests/hpa/data/timm_inception_resnet_v2_keys.txt")
for key, value in model.state_dict().items():
    print(key, "x".join(map(str, value.shape)) or "scalar")
