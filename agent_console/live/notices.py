"""Callback notices: the bus's callback events as console messages (no seat state)."""

from __future__ import annotations

from agent_console.live.hub import Hub
from crm_core.domain.events import (
    CallbackClosed,
    CallbackDue,
    CallbackReminderDue,
    CallbackRetryScheduled,
    CallbackScheduled,
)
from crm_core.domain.models import Role

CallbackChange = CallbackScheduled | CallbackDue | CallbackClosed | CallbackRetryScheduled


class CallbackNotices:
    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def reminder(self, event: CallbackReminderDue) -> None:
        """Time to call back (the warning before due, or the retry after a failed attempt):
        the owner's console says so; a pool callback reminds the agents and leads."""
        msg = {
            "type": "callback_reminder",
            "callback_id": event.callback_id,
            "due_at": event.due_at.isoformat(),
            "retry": event.retry,
            "queue": event.queue,
        }
        if event.owner:
            self._hub.send_to_user(event.owner, msg)
        else:
            self._hub.send_to_role(msg, Role.AGENT, Role.LEAD)

    def changed(self, event: CallbackChange) -> None:
        msg = {"type": "callbacks_changed", "callback_id": event.callback_id}
        owner = getattr(event, "owner", None)
        if owner:
            self._hub.send_to_user(owner, msg)
        else:
            self._hub.send_to_role(msg, Role.AGENT, Role.LEAD)
