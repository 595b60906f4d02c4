"""The cluster bench's scoring: pops matched to offers by call and console."""

from __future__ import annotations

from callcenter.bench.cluster import percentile, score

MEMBERS = ["Agent A", "Agent B"]


def test_every_offer_popped_once_on_its_console() -> None:
    offered = {("c1", "Agent A"): 10.0, ("c2", "Agent B"): 11.0}
    s = score(offered, MEMBERS, [(0, "c1", 10.004), (1, "c2", 11.010)])
    assert (s.expected, s.delivered, s.wrong_console, s.duplicates) == (2, 2, 0, 0)
    assert [round(ms, 3) for ms in s.latencies_ms] == [4.0, 10.0]
    assert s.percentile(50, where=lambda c: c == 1) == s.latencies_ms[1]


def test_lost_wrong_and_duplicate_pops_are_counted() -> None:
    offered = {("c1", "Agent A"): 10.0, ("c2", "Agent B"): 11.0, ("c3", "Agent A"): 12.0}
    pops = [(0, "c1", 10.1), (0, "c1", 10.2), (0, "c2", 11.1)]  # c2 on A's console, c3 lost
    s = score(offered, MEMBERS, pops)
    assert (s.expected, s.delivered, s.wrong_console, s.duplicates) == (3, 1, 1, 1)


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile(values, 50) == 50.0
    assert percentile([], 99) is None
