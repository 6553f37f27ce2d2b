"""What gets posted when, and who listens (simulation.md §4.2 "Workloads"), from one seed.

* `gossip`: `messages` symmetric messages from random publishers at random times over
  `publish_over` seconds on `topics` topics; every node but each tenth listens to one topic.
* `quicksim` (nim-waku's quicksim): `topics` (100) topics that every light node listens to, one
  envelope per topic from node 0, then `messages` (10,000) envelopes on random topics, 1-byte
  payloads, ttl 10, 1 ms apart; measures bloom false-positive traffic at light nodes.
* `vac` (Vac's v1-vs-v2, simulation.md §4.1): `rate` msg/s of `payload`-byte symmetric-key
  messages from `publishers` distinct random publishers, round-robin over the publishers and
  over `topics` topics, for `publish_over` seconds; every node listens to every topic (full
  blooms), so every node must get every message.
* `chat` (Vac's assumptions, Poisson senders): each node posts at `rate` messages per hour
  (exponential gaps) in its room (node i in room i mod `topics`) for `publish_over` seconds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from hush.sim.scenario import WorkloadSpec

__all__ = ["Plan", "Post", "plan"]


@dataclass(frozen=True, slots=True)
class Post:
    at: float
    publisher: int
    topic: int
    """Index into the plan's topics, or −1 for a fresh random topic nobody listens to."""
    payload: int
    ttl: int


@dataclass(frozen=True, slots=True)
class Plan:
    topics: int
    interests: tuple[tuple[int, ...], ...]
    """Per node, the topic indices its filters listen to."""
    posts: tuple[Post, ...]
    """In time order."""


def plan(spec: WorkloadSpec, nodes: int, light: frozenset[int], rng: random.Random) -> Plan:
    full = [i for i in range(nodes) if i not in light]
    posts: list[Post] = []
    interests: tuple[tuple[int, ...], ...]
    if spec.kind == "gossip":
        interests = tuple(() if i % 10 == 9 else (i % spec.topics,) for i in range(nodes))
        for _ in range(spec.messages):
            posts.append(
                Post(
                    rng.uniform(0, spec.publish_over),
                    rng.randrange(nodes),
                    rng.randrange(spec.topics),
                    rng.randrange(10, 400),
                    spec.ttl,
                )
            )
    elif spec.kind == "quicksim":
        every = tuple(range(spec.topics))
        interests = tuple(every if i in light else () for i in range(nodes))
        sender = full[0] if full else 0
        posts += [Post(0.001 * t, sender, t, 1, 30) for t in range(spec.topics)]
        start = 0.001 * spec.topics + 1.0
        posts += [Post(start + 0.001 * m, sender, -1, 1, 10) for m in range(spec.messages)]
    elif spec.kind == "vac":
        interests = tuple(tuple(range(spec.topics)) for _ in range(nodes))
        publishers = rng.sample(range(nodes), min(spec.publishers, nodes))
        count = int(spec.rate * spec.publish_over)
        posts += [
            Post(
                m / spec.rate,
                publishers[m % len(publishers)],
                m % spec.topics,
                spec.payload,
                spec.ttl,
            )
            for m in range(count)
        ]
    else:  # chat
        interests = tuple((i % spec.topics,) for i in range(nodes))
        per_second = spec.rate / 3600
        for i in range(nodes):
            at = rng.expovariate(per_second)
            while at < spec.publish_over:
                posts.append(Post(at, i, i % spec.topics, spec.payload, spec.ttl))
                at += rng.expovariate(per_second)
    posts.sort(key=lambda post: (post.at, post.publisher))
    return Plan(spec.topics, interests, tuple(posts))
