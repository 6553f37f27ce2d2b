"""`hush sim`: networks of real hush nodes in one process, measured against the published models
(issue 9; simulation.md §4 and §6).

Parts, in the order a run uses them:

* `scenario` — the frozen scenario dataclasses and their TOML loader (one-line `UsageError`s);
* `topologies` — seeded graphs: random d-regular, Barabási–Albert, star, ring, full mesh, fleet;
* `workloads` — what is posted when and who listens (gossip, quicksim, Vac v1-vs-v2, chat);
* `runner` — real `Node`s on the memory transport under the virtual clock; churn, clock skew,
  relay-mode mixes; `measure` — the `NodeObserver` taps;
* `results` — the run's numbers, the model checks (`models`: Vac's formulas, bloom law,
  duplicate bounds), results.json, CSVs and `plots`;
* `spread` — first-arrival propagation under a relay policy's per-hop timing, the extension
  point for new relay policies (`register_policy`); `darkness` — the §6 adversary, estimators
  and metrics on top of it.

Modules load numpy/matplotlib/the node stack only where they need them, so importing
`hush.sim.spread` (as `hush --help` does) stays cheap.
"""

from hush.sim import spread_hops as _spread_hops  # noqa: F401 (registers the hops policies)
