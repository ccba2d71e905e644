"""The report: sections written atomically and kept for resuming."""

import matplotlib

matplotlib.use("Agg")

import re

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from occamlab.report import _study as study_mod  # noqa: E402

calls = []


def fake_section(sec, study):
    calls.append(study.quick)
    sec.text("hello <world>")
    sec.finding("the fake section found 42")
    sec.table([{"a": 1.0, "b": "x"}])
    fig, ax = plt.subplots()
    ax.fill_between([0, 1], [0, 1])  # a filled triangle: half the axes
    sec.figure(fig, "line", caption="a line")


def test_report_writes_page_and_resumes(tmp_path, monkeypatch, ink):
    monkeypatch.setattr(study_mod, "SECTIONS", [("fake", "Fake", f"{__name__}:fake_section")])
    calls.clear()
    out = study_mod.run(tmp_path, quick=True, log=lambda s: None)
    html = out.read_text()
    assert "hello &lt;world&gt;" in html and "data:image/png;base64," in html
    # header, contents with the section's time, and the summary of its findings at the top
    import occamlab

    assert f"<th>occamlab</th><td style='text-align:left'>{occamlab.__version__}</td>" in html
    assert "<th>seeds</th><td style='text-align:left'>networks and sampling: 0; MNIST-1D " \
        "data: 42</td>" in html
    assert re.search(r"<li><a href='#fake'>Fake</a> \(\d+ s\)</li>", html)
    summary = html.index("Summary of findings")
    assert summary < html.index("<section id=\"fake\">")
    assert "<li><b>Fake</b>: the fake section found 42</li>" in html
    assert re.search(r"Section time: \d+\.\d s\.", html)
    assert ink(tmp_path / "figures" / "fake_line.png") > 0.2  # the triangle; empty axes: 0.01
    study_mod.run(tmp_path, quick=True, log=lambda s: None)
    assert calls == [True]  # second run kept the finished section
    study_mod.run(tmp_path, quick=True, fresh=True, log=lambda s: None)
    assert calls == [True, True]
    with pytest.raises(ValueError, match=r"unknown report section\(s\) \['nope'\]; valid: "
                                         r"\['fake'\]"):
        study_mod.run(tmp_path, only=["nope"], log=lambda s: None)


def test_cli_report_interrupted_says_how_to_resume(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import occamlab.report as report_pkg
    from occamlab.cli import app

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(report_pkg, "run", interrupted)
    result = CliRunner().invoke(app, ["report", "--out", str(tmp_path)])
    assert result.exit_code == 130  # 128 + SIGINT, the shell's convention
    assert "run the same command again to resume" in result.output
