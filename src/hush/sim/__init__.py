"""`hush sim`: networks of real hush nodes in one process, measured against the published models
(issue 9; simulation.md §4 and §6).

Parts: `topologies` (seeded graphs), `spread` (first-arrival propagation under a relay policy's
per-hop timing; the darkness extension point), `darkness` (the §6 adversary and estimators).
"""
