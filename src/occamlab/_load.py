"""Loading a user's model and data for the command line: ``module:factory``, checkpoints, .npz."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn


def load_object(spec: str, name: str = "object", what: str = "callable") -> Any:
    """The callable named by ``"module:attr"`` or ``"path/file.py:attr"`` (``name`` and ``what``
    word the error messages). A module is imported from the current folder first."""
    if spec.count(":") != 1:
        raise ValueError(f"{name} must be 'module:{what}' or 'file.py:{what}', got {spec!r}")
    mod_name, fn_name = spec.split(":")
    if mod_name.endswith(".py"):
        path = Path(mod_name)
        if not path.exists():
            raise ValueError(f"{name} file {path} does not exist")
        s = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(s)
        try:
            s.loader.exec_module(module)
        except SyntaxError as e:
            raise ValueError(f"{name} file {path} has a syntax error at line {e.lineno}: "
                             f"{e.msg}") from None
        except Exception as e:  # the user's module failed while it was being run
            raise ValueError(f"{name} file {path} failed while it was imported: "
                             f"{type(e).__name__}: {e}") from None
    else:
        sys.path.insert(0, str(Path.cwd()))
        try:
            module = importlib.import_module(mod_name)
        except ImportError as e:
            raise ValueError(f"could not import {name} module {mod_name!r}: {e}") from None
        except SyntaxError as e:
            raise ValueError(f"{name} module {mod_name!r} has a syntax error in {e.filename} at "
                             f"line {e.lineno}: {e.msg}") from None
        finally:
            sys.path.pop(0)
    obj = getattr(module, fn_name, None)
    if not callable(obj):
        raise ValueError(f"{mod_name} has no callable {fn_name!r}")
    return obj


def load_model(spec: str, checkpoint: str | Path | None = None) -> nn.Module:
    """Build a model from ``"module:factory"`` (or ``"path/file.py:factory"``) and load weights.

    The factory is called with no arguments and must return an ``nn.Module``. The checkpoint (a
    ``state_dict``, or a dict with a ``"state_dict"``/``"model"`` entry) is read with
    ``torch.load(weights_only=True)``, so a checkpoint file cannot run code.
    """
    factory = load_object(spec, "model", "factory")
    model = factory()
    if not isinstance(model, nn.Module):
        raise TypeError(f"{spec} returned {type(model).__name__}, expected a torch.nn.Module")
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        if not checkpoint.exists():
            raise ValueError(f"checkpoint {checkpoint} does not exist")
        try:
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        except Exception as e:  # pickle refusing code, corrupt file
            text = str(e)
            if "Unsupported global" in text or "safe_globals" in text:
                why = ("it holds Python objects, not only tensors (a whole pickled model?); "
                       "save the weights with torch.save(model.state_dict(), path)")
            else:
                why = ("it is damaged or not a file written by torch.save; save the weights "
                       "with torch.save(model.state_dict(), path)")
            raise ValueError(f"could not read checkpoint {checkpoint} as weights only: {why}"
                             ) from None
        if isinstance(state, dict):
            for key in ("state_dict", "model"):
                if key in state and isinstance(state[key], dict):
                    state = state[key]
        if not isinstance(state, dict):
            raise ValueError(f"checkpoint {checkpoint} holds a {type(state).__name__}, not a "
                             "state_dict; save the weights with "
                             "torch.save(model.state_dict(), path)")
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            raise ValueError(f"checkpoint {checkpoint} does not fit {spec}: {e}") from None
    return model


def load_arrays(path: str | Path, *names: str) -> tuple[torch.Tensor, ...]:
    """Read arrays from ``.npz`` (by name) or ``.npy`` (one array), as tensors.

    Floating arrays keep their precision; integer arrays stay integer (class labels).
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"data file {path} does not exist")
    if path.suffix == ".npy":
        if len(names) > 1:
            raise ValueError(f"{path.name} is a .npy file, which holds one array; this needs an "
                             f".npz holding arrays named {list(names)} (write one with "
                             f"np.savez(path, {', '.join(f'{n}=...' for n in names)}))")
        return (torch.as_tensor(np.load(path, allow_pickle=False)),)
    if path.suffix != ".npz":
        raise ValueError(f"data file must be .npz or .npy, got {path.name}")
    with np.load(path, allow_pickle=False) as f:
        missing = [n for n in names if n not in f.files]
        if missing:
            raise ValueError(f"{path.name} lacks array(s) {missing}; it has {f.files}")
        return tuple(torch.as_tensor(f[n]) for n in names)


#: losses by the names the command line accepts
LOSSES = ("mse", "cross-entropy", "gaussian-nll")


def loss_by_name(name: str, noise: float = 1.0) -> nn.Module:
    """The loss module called ``name`` (one of :data:`LOSSES`); ``noise`` is the σ of
    ``gaussian-nll``."""
    if name not in LOSSES:
        raise ValueError(f"--loss must be one of {list(LOSSES)}, got {name!r}")
    if name == "gaussian-nll":
        from occamlab.tasks import gaussian_nll

        return gaussian_nll(noise)
    return nn.MSELoss() if name == "mse" else nn.CrossEntropyLoss()
