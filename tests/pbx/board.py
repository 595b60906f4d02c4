"""The board equals the PBX: what `/api/agents` and `/api/queues` say against `QueueStatus`.

The service learns the PBX's state from events, so the check polls both sides until
they agree (or fails after a few seconds, showing both). Every `pbx` test ends with it
(the `ami` fixture), so no scenario may leave the wallboard telling a lead something the
PBX does not.

What is compared:
- who is signed in: an agent is on the board as signed in (status not `logged_out`)
  exactly when the PBX has them as a member of some queue;
- each signed-in agent's state: paused (the board's `paused`, status `paused` or
  `wrap_up`), on a queue call (`InCall`: `on_call`), being rung (`ringing`), free
  (`available`); an agent in no queue is `logged_out` and not paused;
- callers waiting: per queue, the PBX's `QueueEntry` count equals the board's `waiting`;
- only agents are on the board: every name on it is a queue member name of an agent.
"""

from __future__ import annotations

import time
from typing import Any

from tests.pbx.harness import AGENTS, AmiControl, Api, wait_for

AGENT_NAMES = frozenset(member for _ext, member in AGENTS.values())
BUSY = frozenset({"2", "3", "8"})  # in use, busy, on hold
RINGING = frozenset({"6", "7"})  # ringing, ringing and in use


def pbx_view(status: list[dict[str, str]]) -> dict[str, Any]:
    """QueueStatus → {"agents": {name: state}, "waiting": {queue: n}}."""
    members: dict[str, list[dict[str, str]]] = {}
    waiting: dict[str, int] = {}
    for msg in status:
        event = msg.get("Event")
        if event == "QueueParams":
            waiting.setdefault(msg["Queue"], 0)
        elif event == "QueueEntry":
            waiting[msg["Queue"]] = waiting.get(msg["Queue"], 0) + 1
        elif event == "QueueMember":
            members.setdefault(msg.get("Name") or msg.get("MemberName", ""), []).append(msg)
    agents: dict[str, str] = {}
    for name, rows in members.items():
        if any(r.get("Paused") == "1" for r in rows):
            agents[name] = "paused"
        elif any(r.get("InCall") == "1" for r in rows):
            agents[name] = "on_call"
        elif any(r.get("Status") in RINGING for r in rows):
            agents[name] = "ringing"
        elif any(r.get("Status") in BUSY for r in rows):
            # a Local member's phone "in use" without a queue call: being rung by the
            # queue (Local members never say 6), or busy with another call (click-to-dial,
            # a call held or transferred out of the queue's bridge)
            agents[name] = "ringing|on_call"
        else:
            agents[name] = "available"
    return {"agents": agents, "waiting": waiting}


def board_view(agents: list[dict[str, Any]], queues: list[dict[str, Any]]) -> dict[str, Any]:
    view: dict[str, str] = {}
    for a in agents:
        status = a["status"]
        if status == "wrap_up" or (a["paused"] and status != "logged_out"):
            status = "paused"
        elif status == "logged_out" and a["paused"]:
            status = "logged_out but paused"
        view[a["name"]] = status
    return {"agents": view, "waiting": {q["name"]: q["waiting"] for q in queues}}


def differences(pbx: dict[str, Any], board: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for name, state in sorted(board["agents"].items()):
        if name not in AGENT_NAMES:
            out.append(f"{name!r} is on the board but is no agent")
        expected = pbx["agents"].get(name, "logged_out")
        if state not in expected.split("|"):
            out.append(f"agent {name!r}: board {state}, PBX {expected}")
    for name in sorted(set(pbx["agents"]) - set(board["agents"])):
        out.append(f"agent {name!r}: PBX {pbx['agents'][name]}, not on the board")
    for queue in sorted(set(pbx["waiting"]) | set(board["waiting"])):
        on_board, on_pbx = board["waiting"].get(queue, 0), pbx["waiting"].get(queue, 0)
        if on_board != on_pbx:
            out.append(f"queue {queue!r}: board {on_board} waiting, PBX {on_pbx}")
    return out


async def assert_board_matches_pbx(ami: AmiControl, viewer: Api, timeout: float = 5.0) -> None:
    """Wait until the board (as `viewer` sees it: a manager sees everyone) equals the PBX."""
    last: list[str] = []

    async def same() -> bool:
        nonlocal last
        pbx = pbx_view(await ami.queue_status())
        agents = (await viewer.get("/api/agents"))["agents"]
        queues = (await viewer.get("/api/queues"))["queues"]
        last = differences(pbx, board_view(agents, queues))
        return not last

    started = time.monotonic()
    try:
        await wait_for(same, timeout=timeout, what="the board to equal the PBX", every=0.25)
    except AssertionError:
        raise AssertionError(
            f"after {time.monotonic() - started:.1f} s the board still differs from "
            "Asterisk's QueueStatus:\n  " + "\n  ".join(last)
        ) from None
