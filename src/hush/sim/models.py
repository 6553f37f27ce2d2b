"""The analytical models a run is checked against (simulation.md §4.3, §4.4).

* Vac's whisper bandwidth model (`vacp2p/research:whisper_scalability/whisper.py`): cases 1–7,
  receive bytes per end-user node per day, with the script's parameters (Python 2 integer
  division in f(N)).
* The bloom false-positive law p(n) = (1 − e^(−k·n/m))^k, m = 512, k = 3, and the geth
  overwrite-bloom Monte-Carlo values of §4.3 (8.86 % at n = 100).
* Flooding duplicate bounds: geth mode in [d/2, d−1] on d-regular graphs, [(N−1)/2, N−2] on a
  full mesh (§4.4), the upper end taken exactly as Case 3 counts it (d − 1 + 1/N).
"""

from __future__ import annotations

import math

__all__ = [
    "GETH_BLOOM_FP",
    "bloom_fp",
    "duplicate_bounds",
    "flood_model",
    "vac_cases",
]

ENVELOPE_SIZE = 1024
ENVELOPES_PER_MESSAGE = 10
RECEIVED_PER_DAY = 100
PRIVATE_PROPORTION = 0.5
PARTITIONS = 5000
BLOOM_FP = 0.1
DUPLICATES = 2
OFFLINE = 0.9
BLOOM_FP_2 = 0.01

GETH_BLOOM_FP = {50: 0.0181, 100: 0.0886, 200: 0.327}
"""Measured false-positive rate of geth's overwrite bloom (§4.3, 200 × 2000 trials)."""


def bloom_fp(n: int, m: int = 512, k: int = 3) -> float:
    """p(n): the chance a random topic matches a bloom of n topics; geth's measured value where
    §4.3 has one (the simulator uses geth's bloom)."""
    if n in GETH_BLOOM_FP and (m, k) == (512, 3):
        return GETH_BLOOM_FP[n]
    return float((1 - math.exp(-k * n / m)) ** k)


def vac_cases(nodes: int) -> dict[str, float]:
    """Vac's cases 1–7: receive bytes per user per day for N = `nodes`."""
    u = ENVELOPE_SIZE * ENVELOPES_PER_MESSAGE * RECEIVED_PER_DAY
    f = 1 if nodes < PARTITIONS else nodes // PARTITIONS
    own = u * f * PRIVATE_PROPORTION + u * (1 - PRIVATE_PROPORTION)
    everyone = u * nodes
    fp = own + everyone * BLOOM_FP
    return {
        "1 own only": float(u),
        "2 everyone's": float(everyone),
        "3 private on one topic": u * nodes * PRIVATE_PROPORTION + u * (1 - PRIVATE_PROPORTION),
        "4 partitions": own,
        "5 + bloom FP": fp,
        "6 + duplicates": fp * DUPLICATES,
        "7 + mailserver": OFFLINE * (own + everyone * BLOOM_FP_2) + (1 - OFFLINE) * fp * DUPLICATES,
    }


def duplicate_bounds(nodes: int, degree: int | None, full_mesh: bool) -> tuple[float, float] | None:
    """geth mode's duplicate factor bounds (copies received per envelope per node): from d/2
    (each message crosses each edge once) to immediate forwarding's exact count, N(d−1)+1
    transmissions over N nodes, i.e. d − 1 + 1/N (§4.4 rounds it to d − 1; on a small full mesh
    the rounding matters: 6.125 against 6 at N = 8). A full mesh has d = N − 1."""
    if full_mesh:
        degree = nodes - 1
    if degree is None:
        return None
    return (degree / 2, degree - 1 + 1 / nodes)


def flood_model(nodes: int, rate: float, copy_bytes: float) -> dict[str, float]:
    """Receive bytes per node per second on a full mesh of `nodes` carrying `rate` envelopes/s
    of `copy_bytes` wire bytes each (Vac's v1-vs-v2 traffic), by each model that applies:
    §4.3's "everyone's" (case 2, each envelope once) and its duplicate term (case 6 with full
    blooms: every envelope D = 2 times), and §4.4's two flooding counts with d = N − 1: each
    envelope crosses each edge once (d/2 copies) or is forwarded at once to every other
    neighbour (d − 1 + 1/N). On average a node sends what it receives (every copy received is
    one copy sent), so the same figures stand for bytes out."""
    once = rate * copy_bytes
    low, high = duplicate_bounds(nodes, None, True) or (0.0, 0.0)
    return {
        "case 2 everyone's (once)": once,
        "case 6 duplicates (D = 2)": once * DUPLICATES,
        "§4.4 send delay (d/2)": once * low,
        "§4.4 immediate forward (d − 1 + 1/N)": once * high,
    }
