"""The team lead's wallboard: today's live queue and agent figures and alerts.

`state` holds what the board keeps between events, `board` the reducer that folds
events into it (`LiveBoard`), `figures` the documents it shows (ADR 0092).
"""

from crm_core.services.live.board import LiveBoard
from crm_core.services.live.figures import (
    AgentFigures,
    CallInProgress,
    LiveSnapshot,
    Outage,
    QueueFigures,
)
from crm_core.services.live.sources import BoardSources
from crm_core.services.live.state import Alert, AlertDocument, LiveBoardConfig

__all__ = [
    "AgentFigures",
    "Alert",
    "AlertDocument",
    "BoardSources",
    "CallInProgress",
    "LiveBoard",
    "LiveBoardConfig",
    "LiveSnapshot",
    "Outage",
    "QueueFigures",
]
