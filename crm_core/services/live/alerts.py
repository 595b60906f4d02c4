"""The wallboard's alerts: the latest ones raised, the components reported down (a
banner on the wall until they report back, so leads know records are being buffered),
and the alerts that come from time passing (a long wait, after-call work too long)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import datetime

from crm_core.domain.events import ServiceHealthChanged
from crm_core.domain.models import AgentStatus
from crm_core.services.live.state import AgentLive, Alert, QueueLive


class AlertLog:
    def __init__(self, kept: int) -> None:
        self.alerts: deque[Alert] = deque(maxlen=kept)
        self.outages: dict[str, tuple[datetime, str]] = {}  # component -> since, detail
        self._long_wait_alerted: set[str] = set()

    def add(
        self,
        out: list[Alert],
        kind: str,
        at: datetime,
        message: str,
        values: dict[str, str] | None = None,
        *,
        agent: str | None = None,
        queue: str | None = None,
        call_id: str | None = None,
    ) -> None:
        """Keep an alert and add it to `out`, the alerts of the event being applied."""
        alert = Alert(
            kind=kind,
            at=at,
            message=message,
            agent=agent,
            queue=queue,
            call_id=call_id,
            values=values or {},
        )
        self.alerts.append(alert)
        out.append(alert)

    def health(self, event: ServiceHealthChanged, out: list[Alert]) -> None:
        was_down = event.component in self.outages
        if event.healthy:
            self.outages.pop(event.component, None)
        elif not was_down:
            self.outages[event.component] = (event.at, event.detail)
        if event.healthy == was_down:  # a change, not a repeat
            self.add(
                out,
                "service_back" if event.healthy else "service_down",
                event.at,
                f"{event.component}: "
                + ("back" if event.healthy else event.detail or "unavailable"),
                {"component": event.component, "detail": event.detail},
            )

    def long_waits(
        self, queues: Iterable[QueueLive], now: datetime, limit: float, out: list[Alert]
    ) -> None:
        """Once per call: a caller waiting `limit` seconds or more."""
        for q in queues:
            for call_id, joined in q.waiting.items():
                waited = (now - joined).total_seconds()
                if waited >= limit and call_id not in self._long_wait_alerted:
                    self._long_wait_alerted.add(call_id)
                    secs = f"{waited:.0f}"
                    self.add(
                        out,
                        "long_wait",
                        now,
                        f"a caller has waited {secs} s in {q.name}",
                        {"seconds": secs, "queue": q.name},
                        queue=q.name,
                        call_id=call_id,
                    )

    def long_after_call_work(
        self, agents: Iterable[AgentLive], now: datetime, limit: float, out: list[Alert]
    ) -> None:
        """Once per wrap-up: an agent in after-call work for `limit` seconds or more."""
        for a in agents:
            if a.status is AgentStatus.WRAP_UP and a.since and not a.acw_alerted:
                spent = (now - a.since).total_seconds()
                if spent >= limit:
                    a.acw_alerted = True
                    who, minutes = a.display_name or a.name, f"{spent / 60:.0f}"
                    self.add(
                        out,
                        "acw_too_long",
                        now,
                        f"{who} has been in after-call work for {minutes} min",
                        {"agent": who, "minutes": minutes},
                        agent=a.name,
                    )
