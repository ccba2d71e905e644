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
