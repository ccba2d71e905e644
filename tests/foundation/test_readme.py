"""The README's Python blocks run as written (they are the first code a user copies)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_tour_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 5
    env: dict = {}
    exec(compile("\n".join(blocks), "README.md", "exec"), env)  # noqa: S102
    # the numbers the prose quotes beside the code
    assert env["k"].ntk.shape == (200, 200)
    rel = float((env["emp"] - env["k"].ntk).norm() / env["k"].ntk.norm())
    assert 0.02 < rel < 0.2  # "~10% off at width 512": fluctuations ~ 1/√512 ≈ 4% per entry
    mse = env["curve"].test_mse
    assert abs(float(mse[0]) - 1.14) < 0.01 and abs(float(mse[-1]) - 0.09) < 0.01
    assert abs(env["act"].fit.relative_error - 0.044) < 1e-3
    assert abs(env["res"].mean - 2.5) < 0.25  # the estimator's validated 5% + its SE here
    assert env["cp"].gradient_flat and not env["cp"].converged  # x + y² has no critical point
    # Saxe's t½ = log(s/u₀ − 1)/(2s) and the plateaus ½·Σ_{i>k} sᵢ², as the comment quotes them
    assert [round(float(t), 2) for t in env["pred"].half_times] == [1.33, 1.90, 3.45]
    assert env["pred"].plateau_losses.tolist() == [7.0, 2.5, 0.5, 0.0]
