"""The report's Development section (quick version)."""

import re

import matplotlib

from occamlab.report._development import section
from occamlab.report._page import Section
from occamlab.report._study import Study
from occamlab.tasks import mnist1d

matplotlib.use("Agg")


def test_development_section_quick(tmp_path):
    sec = Section("development", "Development", tmp_path)
    section(sec, Study(data=mnist1d(n_train=600, n_test=10, seed=42), quick=True))
    html = sec.html()
    # the four plateaus of the saddle-to-saddle run sit at ½·Σ_{i>r} sᵢ² (rank 0…3 in the table)
    ranks = re.findall(r"<tr><td>(\d+)</td><td>[^<]*</td><td>([0-9-])</td>", html)
    assert [r for _, r in ranks] == ["0", "1", "2", "3"], ranks
    assert (tmp_path / "development_dln.png").exists()
    assert (tmp_path / "development_mlp.png").exists()
    assert "Diagnostics" in html or "passed the library" in html
