"""Typed application keys of the live layer, shared by the features and extensions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from agent_console.live.hub import Hub
from agent_console.live.seats import SeatBoard
from crm_core.domain.models import User
from crm_core.services.live import AgentFigures, QueueFigures

AgentsView = Callable[[User], Awaitable[list[AgentFigures]]]
QueuesView = Callable[[User], Awaitable[list[QueueFigures]]]


@dataclass(slots=True)
class LiveProviders:
    """Richer `/api/agents` and `/api/queues` figures (the lead's live monitor sets these).
    Each gets the requesting user and returns the list to serve; None = the console's own."""

    agents: AgentsView | None = None
    queues: QueuesView | None = None


HUB_KEY = web.AppKey("hub", Hub)
SEATS_KEY = web.AppKey("seats", SeatBoard)
LIVE_KEY = web.AppKey("live_providers", LiveProviders)
