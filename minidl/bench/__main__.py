"""``python -m minidl.bench``: the layer table (see ``minidl.bench.layers``)."""
import sys

from minidl.bench import blas, layers

sys.exit(blas.main_as_users_run("minidl.bench", layers.main))
