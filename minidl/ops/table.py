"""``python -m minidl.ops``: the map of the engine, one row per op.

Where its reference is (``file:first-last``, the lines of its functions), how
many lines of code a learner reads there (no docstrings, comments, blank
lines, imports or check cases), which implementations are registered on the
CPU and the GPU, and which one this machine uses for its current device.
"""
import ast
import inspect
import io
import os
import tokenize

from minidl import backend
from minidl.ops import registry


def _code_lines(source, first, last):
    """Numbers of the lines in [first, last] that hold code (not comments, blank lines or docstrings)."""
    tree = ast.parse(source)
    docstrings = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            docstrings.update(range(body[0].lineno, body[0].end_lineno + 1))
    code = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                              tokenize.DEDENT, tokenize.ENDMARKER):
            code.update(range(token.start[0], token.end[0] + 1))
    return {n for n in code - docstrings if first <= n <= last}


def _is_math(node):
    """Module-level statements that are the op: functions, classes and constants, not the
    imports, the check cases or the registry calls."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return False
    if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "CASES" for t in node.targets):
        return False
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        return False  # registry.define(...) / register(...)
    return not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))  # docstring


def where(impl):
    """(path relative to the repository, first line, last line, lines of code) of an implementation."""
    impl = getattr(impl, "module", impl)  # registry.Functions
    function = getattr(impl, "forward", None) or getattr(impl, "update")
    module = impl if inspect.ismodule(impl) else inspect.getmodule(function)
    path = inspect.getsourcefile(module)
    source = open(path).read()
    nodes = [n for n in ast.parse(source).body if _is_math(n)]
    first, last = min(n.lineno for n in nodes), max(n.end_lineno for n in nodes)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.relpath(path, root), first, last, len(_code_lines(source, first, last))


def rows():
    device = backend.device()
    out = []
    for name, op in registry.ops().items():
        path, first, last, loc = where(op.reference)
        chosen = registry.choose(name, device)
        out.append(dict(op=name, kind=op.kind, reference=f"{path}:{first}-{last}", loc=loc,
                        cpu=", ".join(i.name for i in op.candidates("cpu")) or "-",
                        gpu=", ".join(i.name for i in op.candidates("gpu")) or "-",
                        used="reference" if chosen is None else chosen.name))
    return out


def render(table_rows):
    device = backend.device()
    header = dict(op="op", reference="reference (file:lines)", loc="loc", cpu="cpu", gpu="gpu",
                  used=f"used on {device}")
    widths = {k: max(len(str(r[k])) for r in [header, *table_rows]) for k in header}
    lines = ["  ".join(str(r[k]).ljust(widths[k]) for k in header).rstrip() for r in [header, *table_rows]]
    lines.insert(1, "  ".join("-" * widths[k] for k in header))
    return "\n".join(lines)
