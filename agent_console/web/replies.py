"""Reply models several features answer with (the JSON `web/serializers.py` builds):
a callback appears in the callbacks list and on the customer card, so its shape is
declared once here."""

from __future__ import annotations

from agent_console.web.models import Reply


class CallbackAttemptReply(Reply):
    at: str | None
    result: str
    note: str
    by_user_id: int | None


class CallbackReply(Reply):
    id: int
    phone: str  # E.164, as stored and dialled
    phone_display: str  # national digits for a number of the console's region
    reason: str
    status: str
    created_at: str | None
    due_at: str | None
    customer_id: int | None
    owner_user_id: int | None
    queue: str | None
    call_id: str | None
    question: str
    # a question the rules wrote, as a message code + parameters the console renders
    question_code: str | None
    question_params: dict[str, str | int | float] | None
    outcome: str | None
    closed_at: str | None
    next_attempt_at: str | None
    attempts: list[CallbackAttemptReply]
