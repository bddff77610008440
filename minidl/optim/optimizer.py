"""The optimizer base class: parameter groups, frozen parameters and state dicts.

An optimizer holds ``param_groups``, a list of dicts each with its own
``params`` and hyper-parameters (``lr``, ...), so a pretrained backbone and a
new classifier head can train at different rates::

    Adam([{"params": backbone.parameters(), "lr": 1e-4},
          {"params": head.parameters()}], lr=1e-3)

A flat list of parameters is one group. Parameters with ``requires_grad =
False`` stay in their group but are skipped by ``step()``; their per-parameter
state (momentum, moments) is created at their first update, so unfreezing
them later just works.

``state_dict()`` is a nested dict of plain Python values and host NumPy arrays
(copies), with parameters numbered across groups in order like PyTorch's;
``load_state_dict`` into an optimizer built over the same parameter list
resumes training bit for bit.
"""
from minidl import backend, ops
from minidl.module import Parameter


class Optimizer:
    """Subclasses set their defaults, validate a group in ``_check_group`` and name
    the op of their update (``op``, in ``minidl/ops``): ``step()`` runs it on every
    trainable parameter with the group's hyper-parameters (``hyper``)."""

    op = None

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.param_groups = []
        self.state = {}  # Parameter -> dict of its buffers and counters
        params = [params] if isinstance(params, Parameter) else list(params)
        if not params:
            raise ValueError("params is empty: pass model.parameters() or a list of param groups")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add ``{"params": [...], "lr": ..., ...}``; missing hyper-parameters take the defaults."""
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError("a param group must be a dict with a 'params' entry")
        unknown = sorted(set(group) - set(self.defaults) - {"params"})
        if unknown:
            raise ValueError(f"param group has unknown hyper-parameters {unknown}; "
                             f"{type(self).__name__} takes {sorted(self.defaults)}")
        params = group["params"]
        params = [params] if isinstance(params, Parameter) else list(params)
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(f"params must be minidl Parameters (model.parameters()), got {type(p).__name__}")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids) or seen.intersection(ids):
            raise ValueError("a parameter appears twice in the optimizer's param groups")
        full = {**self.defaults, **group, "params": params}
        self._check_group(full)
        self.param_groups.append(full)

    def _check_group(self, group):
        if not group["lr"] >= 0:
            raise ValueError(f"lr must be >= 0, got {group['lr']}")

    def hyper(self, group):
        """The update op's hyper-parameters for ``group``: its entries but the parameters."""
        return {k: v for k, v in group.items() if k != "params"}

    def _update(self, p, group, state):
        """One parameter's update, in place, by the op's implementation for ``p``'s device."""
        if self.op is None:
            raise NotImplementedError(f"{type(self).__name__} names no update op")
        hyper = self.hyper(group)
        ops.implementation(self.op, p.data, **hyper).update(p.data, p.grad, state, **hyper)

    def step(self):
        """Update every trainable parameter in place from its ``.grad``: a group at once where the
        implementation has ``update_many`` (one GPU launch for all its tensors), else one by one."""
        for group in self.param_groups:
            params = [p for p in group["params"] if p.requires_grad]
            states = [self.state.setdefault(p, {}) for p in params]
            hyper = self.hyper(group)
            many = params and self.op and getattr(ops.implementation(self.op, params[0].data, **hyper),
                                                  "update_many", None)
            if many:
                many([p.data for p in params], [p.grad for p in params], states, **hyper)
                continue
            for p, state in zip(params, states):
                self._update(p, group, state)

    def zero_grad(self):
        for group in self.param_groups:
            for p in group["params"]:
                p.zero_grad()

    # --- state dicts ----------------------------------------------------------
    def state_dict(self):
        """``{"state": {index: {name: value}}, "param_groups": [{..., "params": [index]}]}``."""
        index, groups = {}, []
        for group in self.param_groups:
            for p in group["params"]:
                index[p] = len(index)
            hyper = {k: v for k, v in group.items() if k != "params"}
            groups.append({**hyper, "params": [index[p] for p in group["params"]]})
        state = {index[p]: {k: _host_copy(v) for k, v in s.items()}
                 for p, s in self.state.items() if s}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyper-parameters and state saved by ``state_dict``.

        Arrays are copied onto each parameter's device in its dtype. Index keys
        may be strings and tuples lists (as after a JSON round trip).
        """
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"state dict has {len(saved_groups)} param groups, the optimizer has "
                             f"{len(self.param_groups)}")
        # Everything is checked before anything changes: a failed load leaves the optimizer as it was.
        params, hypers = [], []
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"param group {i} has {len(saved['params'])} parameters in the state "
                                 f"dict, {len(group['params'])} in the optimizer")
            hyper = {k: tuple(v) if isinstance(v, list) else v for k, v in saved.items() if k != "params"}
            names = set(group) - {"params"}
            if set(hyper) != names:
                raise ValueError(f"state dict hyper-parameters {sorted(hyper)} do not fit "
                                 f"{type(self).__name__}, which has {sorted(names)}")
            self._check_group({**group, **hyper})
            params.extend(group["params"])
            hypers.append(hyper)
        state = {}
        for key, saved in state_dict["state"].items():
            if not 0 <= int(key) < len(params):
                raise ValueError(f"state dict has state for parameter {key}, the optimizer has {len(params)}")
            p = params[int(key)]
            state[p] = {k: _to_param(v, p, f"state {key}.{k}") for k, v in saved.items()}
        for group, hyper in zip(self.param_groups, hypers):
            group.update(hyper)
        self.state = state
        return self


def _host_copy(value):
    return backend.to_numpy(value).copy() if hasattr(value, "shape") else value


def _to_param(value, p, name):
    """A saved buffer as a fresh array on ``p``'s device in ``p``'s dtype."""
    if not hasattr(value, "shape"):
        return value
    if tuple(value.shape) != tuple(p.shape):
        raise ValueError(f"{name} has shape {tuple(value.shape)}, the parameter {tuple(p.shape)}")
    xp = backend.get_array_module(p.data)
    return xp.array(backend.to_numpy(value), dtype=p.data.dtype)  # a copy: steps must not write into the dict
