"""The report's LLC section (quick version)."""

import matplotlib

from occamlab.report._llc import section
from occamlab.report._page import Section
from occamlab.report._study import Study
from occamlab.tasks import mnist1d

matplotlib.use("Agg")


def test_llc_section_quick(tmp_path):
    sec = Section("llc", "LLC", tmp_path)
    section(sec, Study(data=mnist1d(n_train=1000, n_test=10, seed=42), quick=True))
    html = sec.html()
    assert "11 (Aoyagi 2024)" in html  # the closed-form λ of the 5-5-5-5 rank-2 network
    assert (tmp_path / "llc_traces.png").stat().st_size > 0
    assert "R̂" in html and "ESS" in html  # diagnostics are shown beside the estimates


def test_why_failed_reports_the_halves_of_the_kept_draws():
    # A trace that drifts: chains at nβ·ΔL = 1, 2 over the first half of the kept draws and
    # 3, 4 over the second; the reason quotes those halves (1.5 and 3.5), the per-chain range
    # (2 to 3) and calls it relaxing (the halves differ by 2 > 2 SE = 0.2).
    import dataclasses

    import torch

    from occamlab import slt
    from occamlab.report._llc import why_failed
    from occamlab.tasks import linear_teacher

    t = linear_teacher(200, 2, seed=0)
    m = torch.nn.Linear(2, 1, dtype=t.x.dtype)
    r = slt.llc(m, t.loss(), t.data, draws=4, thin=1, progress=False, step_size=1e-4,
                localization=1.0, chains=2)
    assert why_failed(dataclasses.replace(r, warnings=())) == ""
    one = torch.ones(2, 4, dtype=torch.float64)
    traces = torch.cat([one, torch.tensor([[1.0], [2.0]]) * one + torch.tensor(
        [[0, 0, 2, 2]], dtype=torch.float64)], dim=1) / r.nbeta
    bad = dataclasses.replace(r, traces=traces, ref_traces=torch.zeros_like(traces),
                              kept_steps=4, warnings=("R-hat",), se=0.1, divergent=())
    text = why_failed(bad)
    assert "first and second half of the kept draws 1.5 and 3.5" in text, text
    assert "per chain 2 to 3" in text and "relaxing" in text, text
