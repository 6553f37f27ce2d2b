"""The confidence interval over seeds that benchmarks/sim_vac.py reports (hush.sim.confidence.mean_ci):
Student's t from its exact CDF, checked against hand-computed values."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from hush.sim.confidence import Interval, mean_ci, t_quantile


@pytest.mark.parametrize(
    ("df", "expected"),
    # Two-sided 95 % quantiles, as printed in every t table; df 1 and 2 in closed form:
    # df 1 is Cauchy, tan(0.475·π); df 2 solves t/√(2 + t²) = 0.95, t = 0.95·√(2/(1 − 0.95²)).
    [
        (1, math.tan(0.475 * math.pi)),
        (2, 0.95 * math.sqrt(2 / (1 - 0.95**2))),
        (4, 2.776445),
        (9, 2.262157),
        (30, 2.042272),
    ],
)
def test_t_quantile(df: int, expected: float) -> None:
    assert t_quantile(0.95, df) == pytest.approx(expected, rel=1e-6)


def test_t_quantile_other_levels_and_bad_input() -> None:
    assert t_quantile(0.5, 1) == pytest.approx(1.0)  # Cauchy: P(|T| ≤ 1) = 1/2
    assert t_quantile(0.99, 4) == pytest.approx(4.604095, rel=1e-6)
    with pytest.raises(ValueError, match="outside"):
        t_quantile(1.0, 4)
    with pytest.raises(ValueError, match="df 0"):
        t_quantile(0.95, 0)


def test_mean_ci_by_hand() -> None:
    # 1..5: mean 3, s = √(10/4) = 1.58114, s/√5 = 0.707107, × t(0.975, 4) 2.776445 = 1.963243.
    interval = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    assert interval.mean == 3.0 and interval.n == 5
    assert interval.half == pytest.approx(1.963243, rel=1e-6)
    assert interval.line() == "3.00 ± 1.96"
    # Two seeds: mean 11, s = √2, s/√2 = 1, × t(0.975, 1) = 12.7062.
    assert mean_ci([10.0, 12.0]).half == pytest.approx(12.706205, rel=1e-6)


def test_mean_ci_one_value_and_none() -> None:
    assert mean_ci([4.5]) == Interval(4.5, None, 1)
    assert mean_ci([4.5]).line(1) == "4.5"
    assert mean_ci([7.0, 7.0, 7.0]).half == 0.0
    with pytest.raises(ValueError, match="no values"):
        mean_ci([])


def test_the_vac_plot_takes_rows_with_and_without_intervals(tmp_path: Path) -> None:
    from hush.sim.plots import plot_vac_v1

    base = {"rate": 50.0, "wire_bytes_per_copy": 312.0, "latency_p50_s": 0.05}
    rows = [
        {
            **base,
            "nodes": n,
            "relay": relay,
            "seeds": [1, 2],
            "in_per_node_per_s": 1e4 * n,
            "in_per_node_per_s_ci": 500.0 * n,
            "latency_p50_s_ci": 0.01,
            "latency_p99_s": 0.1,
            "latency_p99_s_ci": None,
        }
        for n in (10, 30)
        for relay in ("geth", "push")
    ]
    assert plot_vac_v1(rows, tmp_path / "ci.png").stat().st_size > 10_000
    one_seed = [
        {**base, "nodes": n, "relay": "geth", "in_per_node_per_s": 1e4 * n} for n in (10, 30)
    ]
    assert plot_vac_v1(one_seed, tmp_path / "one.png").stat().st_size > 10_000
