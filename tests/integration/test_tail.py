"""`callcenter tail` against a real running demo: it logs in over REST, follows the
agent's console socket with the `websockets` library and prints what the agent's
console receives (state changes, a pop triggered through the simulator) as JSON lines."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from tests.integration.demo_server import running_demo
from tests.polling import until

CLI = [sys.executable, "-m", "callcenter.cli"]


class Lines:
    """The JSON lines a process writes on stdout, read by a thread as they come."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.seen: list[dict[str, Any]] = []
        self._queue: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        stdout = proc.stdout
        threading.Thread(target=lambda: [self._queue.put(x) for x in stdout], daemon=True).start()

    def of(self, kind: str, **match: object) -> dict[str, Any] | None:
        while not self._queue.empty():
            self.seen.append(json.loads(self._queue.get()))
        for message in self.seen:
            if message.get("type") == kind and all(message.get(k) == v for k, v in match.items()):
                return message
        return None


def test_tail_prints_the_agents_state_change_and_pop(tmp_path: Path) -> None:
    with running_demo(tmp_path, "sqlite") as demo:
        tail = subprocess.Popen(
            [*CLI, "tail", "--url", demo.base + "/", "--user", "agent1", "--password-env", "PW"],
            env={**os.environ, "PW": "demo"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            lines = Lines(tail)
            snapshot = until(lambda: lines.of("snapshot"), timeout=30, what="the snapshot line")
            assert snapshot["me"]["username"] == "agent1"

            agent = demo.login("agent1")
            status, body = demo.request(
                "POST", "/api/agent/state", {"action": "sign_in"}, token=agent
            )
            assert status == 200, body
            until(lambda: lines.of("agent_state"), timeout=15, what="agent1's state change line")

            # only agent1 free in the queue: the lead pauses the demo's other agents
            lead = demo.login("lead1")
            for n in range(2, 7):
                status, body = demo.request("POST", f"/api/agents/Agent%20100{n}/pause", token=lead)
                assert status == 200, body
            status, body = demo.request(
                "POST",
                "/sim/calls",
                {"from": "13800138000", "name": "张三", "queue": "support", "talk_seconds": 1},
            )
            assert status < 300, body
            call_id = json.loads(body)["call_id"]
            until(
                lambda: lines.of("screen_pop", call_id=call_id),
                timeout=20,
                what=f"the pop of {call_id} on tail's output",
            )
            card = until(
                lambda: lines.of("screen_pop_customer", call_id=call_id),
                timeout=20,
                what="the customer card that follows the pop",
            )
            assert "张三" in json.dumps(card, ensure_ascii=False), card  # printed as UTF-8

            tail.send_signal(signal.SIGINT)  # Ctrl-C
            assert tail.wait(timeout=10) in (0, 130)
        finally:
            if tail.poll() is None:
                tail.kill()
                tail.wait()
            assert tail.stderr is not None
            tail.stderr.close()
            assert tail.stdout is not None
            tail.stdout.close()


def test_tail_refused_login_exits_1(tmp_path: Path) -> None:
    with running_demo(tmp_path, "sqlite") as demo:
        proc = subprocess.run(
            [*CLI, "tail", "--url", demo.base, "--user", "agent1", "--password-env", "PW"],
            env={**os.environ, "PW": "wrong"},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert proc.returncode == 1
    assert "login refused" in proc.stderr
    assert proc.stdout == ""
