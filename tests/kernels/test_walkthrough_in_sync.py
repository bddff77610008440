"""The line-by-line walk through im2col (minidl/kernels/README.md) quotes the source as it is."""
import re

from minidl.kernels import catalog


def test_every_quoted_line_is_in_im2col_cu():
    readme = (catalog.FOLDER / "README.md").read_text()
    source = (catalog.FOLDER / "im2col.cu").read_text()
    quoted = [line.strip() for block in re.findall(r"```c\n(.*?)```", readme, re.S)
              for line in block.splitlines() if line.strip()]
    assert len(quoted) > 15
    missing = [line for line in quoted if line not in source]
    assert not missing, f"README quotes lines no longer in im2col.cu: {missing}"
