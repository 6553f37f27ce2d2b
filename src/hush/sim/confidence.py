"""Confidence intervals over seeds: a mean and its two-sided Student's t half-width.

`t_quantile` is computed from t's exact CDF for integer degrees of freedom (Abramowitz and
Stegun 26.7.3/4) by bisection, not read from a table: any number of seeds gets its own t.
`hush sim darkness` (`hush.sim.darkness.Estimate`) and `benchmarks/sim_vac.py` use it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Interval", "mean_ci", "t_quantile"]


def _t_central(t: float, df: int) -> float:
    """P(|T| ≤ t) for Student's t with `df` (integer ≥ 1) degrees of freedom (A&S 26.7.3/4)."""
    theta = math.atan(t / math.sqrt(df))
    cos2 = math.cos(theta) ** 2
    if df % 2:
        # odd: (2/π)(θ + sin θ (cos θ + (2/3) cos³ θ + … + (2·4…(df−3))/(1·3…(df−2)) cos^(df−2) θ))
        term = math.cos(theta)
        total = term if df > 1 else 0.0
        for j in range(1, (df - 1) // 2):
            term *= 2 * j / (2 * j + 1) * cos2
            total += term
        return 2 / math.pi * (theta + math.sin(theta) * total)
    # even: sin θ (1 + (1/2) cos² θ + (1·3)/(2·4) cos⁴ θ + … + (1·3…(df−3))/(2·4…(df−2)) cos^(df−2) θ)
    term = total = 1.0
    for j in range(1, df // 2):
        term *= (2 * j - 1) / (2 * j) * cos2
        total += term
    return math.sin(theta) * total


def t_quantile(level: float, df: int) -> float:
    """The t with P(|T| ≤ t) = `level` (0 < level < 1), T Student's with `df` degrees of
    freedom: 2.7764 for level 0.95 and df 4. Bisection on the exact CDF, to 1e-12."""
    if not 0 < level < 1 or df < 1:
        raise ValueError(f"t_quantile: level {level} outside (0, 1) or df {df} < 1")
    low, high = 0.0, 1.0
    while _t_central(high, df) < level:
        low, high = high, 2 * high
    while high - low > 1e-12 * high:
        mid = (low + high) / 2
        low, high = (mid, high) if _t_central(mid, df) < level else (low, mid)
    return (low + high) / 2


@dataclass(frozen=True, slots=True)
class Interval:
    """A mean over n runs (seeds) and the half-width of its confidence interval (None for
    fewer than two values)."""

    mean: float
    half: float | None
    n: int

    def line(self, digits: int = 2, scale: float = 1.0) -> str:
        """The mean "± half-width" (the mean alone without one), both times `scale`."""
        mean = f"{self.mean * scale:,.{digits}f}"
        return mean if self.half is None else f"{mean} ± {self.half * scale:,.{digits}f}"


def mean_ci(values: Sequence[float], level: float = 0.95) -> Interval:
    """Mean and two-sided `level` confidence half-width t·s/√n of `values` (one per seed)."""
    if not values:
        raise ValueError("mean_ci: no values")
    mean = statistics.fmean(values)
    if len(values) < 2:
        return Interval(mean, None, len(values))
    spread = statistics.stdev(values) / math.sqrt(len(values))
    return Interval(mean, t_quantile(level, len(values) - 1) * spread, len(values))
