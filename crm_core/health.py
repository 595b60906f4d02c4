"""What the operator needs to know: is each part of the service working?

Fed by domain events (AMI link up/down, database and Redis health changes), read
by `/readyz`, the leads' console banner and the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crm_core.domain.events import (
    AmiConnected,
    AmiDisconnected,
    DomainEvent,
    ServiceHealthChanged,
)


@dataclass(slots=True)
class ComponentHealth:
    name: str
    healthy: bool
    detail: str
    since: datetime | None


# components whose trouble the operator must see but that do not make the instance
# unready: a record set aside does not stop the next one from being written
DEGRADING = frozenset({"call-log"})


class HealthRegistry:
    def __init__(self, components: tuple[str, ...] = ("ami", "database")) -> None:
        self._components = {
            name: ComponentHealth(name, False, "not checked yet", None) for name in components
        }

    def set(self, name: str, healthy: bool, detail: str, at: datetime | None = None) -> None:
        current = self._components.get(name)
        if current is not None and current.healthy == healthy and current.detail == detail:
            return
        self._components[name] = ComponentHealth(name, healthy, detail, at)

    def handle(self, event: DomainEvent) -> None:
        """Bus subscriber."""
        if isinstance(event, AmiConnected):
            self.set(
                f"ami:{event.pbx}" if event.pbx != "default" else "ami",
                True,
                f"connected to {event.host}:{event.port}",
                event.at,
            )
        elif isinstance(event, AmiDisconnected):
            where = f"{event.host}:{event.port}"
            self.set(
                f"ami:{event.pbx}" if event.pbx != "default" else "ami",
                False,
                # a refused login names itself first: the operator's fix is the secret
                f"{event.reason} at {where}"
                if event.reason.startswith("AMI login refused")
                else f"disconnected from {where}: {event.reason}",
                event.at,
            )
        elif isinstance(event, ServiceHealthChanged):
            self.set(event.component, event.healthy, event.detail, event.at)

    @property
    def ready(self) -> bool:
        return all(c.healthy for c in self._components.values() if c.name not in DEGRADING)

    @property
    def degraded(self) -> list[str]:
        """Components in trouble that do not take the instance out of service."""
        return [c.name for c in self._components.values() if c.name in DEGRADING and not c.healthy]

    def snapshot(self) -> dict[str, dict[str, object]]:
        return {
            c.name: {
                "healthy": c.healthy,
                "detail": c.detail,
                "since": c.since.isoformat() if c.since else None,
            }
            for c in self._components.values()
        }
