"""Console heartbeats are spread over the interval instead of one burst per interval."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from agent_console.live.hub import Hub
from crm_core.domain.models import Role, User


class _TwoRounds(Exception):
    pass


class _Socket:
    def __init__(self, name: str, heard: Counter[str]) -> None:
        self.name, self.heard = name, heard

    def push(self, text: str) -> None:
        assert '"type":"heartbeat"' in text
        self.heard[self.name] += 1


def _hub_with_sockets(n: int, heard: Counter[str]) -> Hub:
    hub = Hub()
    for i in range(n):
        user = User(id=i, username=f"agent{i}", display_name=f"Agent {i}", role=Role.AGENT)
        socket: Any = _Socket(user.username, heard)
        hub.stream_for(user).connections.add(socket)
    return hub


def test_each_tick_of_a_round_serves_only_its_share_of_the_sockets() -> None:
    heard: Counter[str] = Counter()
    hub = _hub_with_sockets(1000, heard)
    per_tick = []
    for turn in range(15):
        before = heard.total()
        hub.heartbeat(turn, 15)
        per_tick.append(heard.total() - before)
    assert max(per_tick) <= 67  # not 1,000 writes at once
    assert len(heard) == 1000
    assert set(heard.values()) == {1}  # one heartbeat per socket per round


async def test_every_socket_still_hears_one_heartbeat_per_interval() -> None:
    heard: Counter[str] = Counter()
    hub = _hub_with_sockets(40, heard)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) > 2 * 15:
            raise _TwoRounds

    with pytest.raises(_TwoRounds):
        await hub.run_heartbeats(15.0, sleep)
    assert set(slept) == {1.0}
    assert set(heard.values()) == {2}
