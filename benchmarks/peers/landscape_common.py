"""Shared by the landscape peer scripts: the fixture (model + data) and a hand-written HVP."""

from __future__ import annotations

import time

import torch
from _common import best_of as best_of  # one timing loop on both sides
from torch import nn


def load_fixture(path: str):
    """The 784-64-64-10 tanh MLP, inputs and labels saved by the benchmark."""
    torch.set_num_threads(1)
    f = torch.load(path, weights_only=True)
    model = nn.Sequential(nn.Linear(784, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(),
                          nn.Linear(64, 10))
    model.load_state_dict(f["state"])
    return model, f["x"], f["y"], f["v"]


def handwritten_hvp(model, loss_fn, x, y, v):
    """H·v by plain double backward: gradient with create_graph, then ⟨g, v⟩'s gradient."""
    params = list(model.parameters())
    g = torch.autograd.grad(loss_fn(model(x), y), params, create_graph=True)
    vs = [t.view_as(p) for t, p in zip(torch.split(v, [p.numel() for p in params]), params)]
    return torch.cat([h.reshape(-1) for h in torch.autograd.grad(g, params, vs)])


def once(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def timed(fn, repeats: int = 3):
    """The fastest wall time and the fastest process CPU time of ``repeats`` runs of ``fn()``
    (each from scratch), and the last output. A single run on a shared machine varies by tens
    of percent; CPU time leaves out the time other processes hold the cores (not their use of
    the shared cache)."""
    walls, cpus = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return min(walls), min(cpus), out


def fastest(fn, repeats: int = 3):
    """The fastest wall time of ``repeats`` runs of ``fn()`` and the last output."""
    wall, _, out = timed(fn, repeats)
    return wall, out
