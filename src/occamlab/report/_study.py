"""The default study (``occamlab report``): every view on bundled data, one HTML page.

Each room contributes a section function ``section(sec: Section, study: Study) -> None`` in a
module of this folder, listed in :data:`SECTIONS`. A finished section is kept on disk
(``sections/<key>.html``), so an interrupted report resumes where it stopped; ``fresh=True`` redoes
everything.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from occamlab._io import write_text
from occamlab.report._page import Section, write_page
from occamlab.tasks import Signals, mnist1d

#: seed of the bundled MNIST-1D data set the study uses
DATA_SEED = 42

# (key, title, "module:function"); modules are imported only when their section runs.
SECTIONS: list[tuple[str, str, str]] = [
    ("kernels", "Kernel space: infinite-width and empirical NTKs on MNIST-1D",
     "occamlab.report._kernels:section"),
    ("design", "Kernel space: reverse engineering a deep NTK into a shallow network",
     "occamlab.report._design:section"),
    ("eigenlearning", "Kernel space: eigenspectra, alignment and eigenlearning on MNIST-1D",
     "occamlab.report._eigenlearning:section"),
    ("dynamics", "Kernel space: training dynamics at infinite width and the kernel after training",
     "occamlab.report._dynamics:section"),
    ("features", "Features: the neural feature ansatz and recursive feature machines",
     "occamlab.report._features:section"),
    ("llc", "Parameter space: the local learning coefficient of trained networks",
     "occamlab.report._llc:section"),
    ("landscape", "Parameter space: Hessian spectrum, mode connectivity and loss surface",
     "occamlab.report._landscape:section"),
    ("development", "Parameter space: development — the LLC over training and its stages",
     "occamlab.report._development:section"),
]


@dataclass
class Study:
    """What the sections share: the data, the size of the study, and a cache between sections.

    ``quick=True`` shrinks every section so the whole report runs in about a minute (tests use it).
    """

    data: Signals
    quick: bool = False
    seed: int = 0
    cache: dict[str, Any] = field(default_factory=dict)
    #: where a section reports progress inside long work (one line per step)
    log: Callable[[str], None] = field(default=lambda line: None, repr=False)

    @property
    def n_signals(self) -> int:
        """How many signals the kernel sections use."""
        return 64 if self.quick else 300


def _load(target: str) -> Callable[[Section, Study], None]:
    mod, fn = target.split(":")
    return getattr(importlib.import_module(mod), fn)


def run(outdir: str | Path = "runs/report", *, quick: bool = False, seed: int = 0,
        fresh: bool = False, only: list[str] | None = None,
        log: Callable[[str], None] = print) -> Path:
    """Run the default study and write ``outdir/index.html``; returns its path.

    Arguments:
        outdir: output folder (created); figures go to ``outdir/figures``.
        quick: a small version of every section.
        seed: seed for data and networks.
        fresh: ignore sections finished by an earlier run.
        only: keys of the sections to run (default all); unknown keys are an error.
        log: where progress lines go.
    """
    keys = [k for k, _, _ in SECTIONS]
    if only:
        unknown = sorted(set(only) - set(keys))
        if unknown:
            raise ValueError(f"unknown report section(s) {unknown}; valid: {keys}")
    outdir = Path(outdir)
    figures, done_dir = outdir / "figures", outdir / "sections"
    figures.mkdir(parents=True, exist_ok=True)
    done_dir.mkdir(parents=True, exist_ok=True)
    config = {"quick": quick, "seed": seed}
    study = Study(data=mnist1d(n_train=4000, n_test=1000, seed=DATA_SEED), quick=quick,
                  seed=seed, log=log)
    fragments, contents, findings = [], [], []
    started = time.perf_counter()
    for key, title, target in SECTIONS:
        if only and key not in only:
            continue
        frag, stamp = done_dir / f"{key}.html", done_dir / f"{key}.json"
        kept = _read_stamp(stamp) if not fresh and frag.exists() else None
        if kept is not None and kept.get("config") == config:
            log(f"[{key}] kept from an earlier run ({kept['seconds']:.1f} s then)")
            fragments.append(frag.read_text())
            contents.append((key, title, kept["seconds"]))
            findings += [(title, f) for f in kept.get("findings", [])]
            continue
        t0 = time.perf_counter()
        log(f"[{key}] {title} ...")
        sec = Section(key, title, figures)
        _load(target)(sec, study)
        seconds = time.perf_counter() - t0
        sec.text(f"Section time: {seconds:.1f} s.")
        write_text(frag, sec.html())
        write_text(stamp, json.dumps({"config": config, "seconds": seconds,
                                      "findings": sec.findings}))
        fragments.append(sec.html())
        contents.append((key, title, seconds))
        findings += [(title, f) for f in sec.findings]
        log(f"[{key}] done in {seconds:.1f} s")
    intro = ("occamlab's default study: the inductive bias of an MLP and a CNN on MNIST-1D, "
             "seen in kernel space, parameter space and features." +
             (" (quick version)" if quick else ""))
    header = _header(quick, seed, study, contents, time.perf_counter() - started)
    return write_page(outdir / "index.html", "occamlab report", intro, fragments,
                      header=header, contents=contents, findings=findings)


def _read_stamp(path: Path) -> dict[str, Any] | None:
    try:
        stamp = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) and "seconds" in stamp else None


def _header(quick: bool, seed: int, study: Study, contents: list, wall: float
            ) -> list[tuple[str, str]]:
    import datetime
    import platform
    import sys

    import torch

    import occamlab

    flags = (" --quick" if quick else "") + (f" --seed {seed}" if seed else "")
    command = " ".join(sys.argv) if Path(sys.argv[0]).name == "occamlab" else \
        f"occamlab report{flags}"
    total = sum(s for _, _, s in contents if s is not None)
    return [
        ("occamlab", occamlab.__version__),
        ("date", datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("command", command),
        ("seeds", f"networks and sampling: {seed}; MNIST-1D data: {DATA_SEED}"),
        ("settings", ("quick" if quick else "full") + f"; {study.n_signals} signals in the "
                     "kernel sections; MNIST-1D 4000 training / 1000 test signals"),
        ("software", f"Python {platform.python_version()}, torch {torch.__version__}, "
                     f"{torch.get_num_threads()} threads"),
        ("wall time", f"{wall:.0f} s this run; sections total {total:.0f} s (each below)"),
    ]
