"""The card API's response model describes the JSON the pop sends: a full card survives
the model unchanged, and the customer bodies keep the old refusals' error ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from agent_console.customers.models import (
    CustomerCardReply,
    CustomerPatchBody,
    NewCustomerBody,
)
from agent_console.live.cards import card_json
from crm_core.domain.models import (
    AttemptResult,
    Callback,
    CallbackAttempt,
    CallbackReason,
    CallbackStatus,
    CallOutcome,
    Case,
    CaseKind,
    CaseStatus,
    Customer,
    PhoneNumber,
)
from crm_core.services.customer_cards import CardCall, CustomerCard

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_full_card_is_what_the_reply_model_answers() -> None:
    card = CustomerCard(
        customer=Customer(
            id=7,
            name="张三",
            vip_level=2,
            phones=(PhoneNumber(e164="+8613800138000", raw="138 0013 8000"),),
            created_at=T0,
        ),
        recent_calls=(
            CardCall(call_id="c1", started_at=T0, agent="Agent 1001",
                     outcome=CallOutcome.ANSWERED, disposition="order", notes=None),
        ),
        open_cases=(
            Case(id=1, kind=CaseKind.COMPLAINT, status=CaseStatus.OPEN, subject="bill",
                 created_at=T0, customer_id=7, promised_reply_at=T0 + timedelta(days=1)),
        ),
        open_callbacks=(
            Callback(id=3, phone_e164="+8613800138000", reason=CallbackReason.PROMISED,
                     status=CallbackStatus.OVERDUE, created_at=T0, due_at=T0,
                     attempts=(CallbackAttempt(at=T0, result=AttemptResult.NO_ANSWER),)),
        ),
    )  # fmt: skip
    payload = card_json(card, "CN")
    assert CustomerCardReply.model_validate(payload).model_dump(mode="json") == payload
    unknown = card_json(CustomerCard(customer=None), "CN")
    assert CustomerCardReply.model_validate(unknown).model_dump(mode="json") == unknown


def test_an_edit_changes_only_the_fields_it_sends() -> None:
    patch = CustomerPatchBody.model_validate_json(b'{"notes": "", "vip_level": 3}', strict=True)
    assert patch.given_fields() == {"notes": "", "vip_level": 3}
    renamed = CustomerPatchBody.model_validate_json(b'{"name": "Li"}', strict=True)
    assert renamed.given_fields() == {"name": "Li"}


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "x", "vip_level": 10}',
        b'{"name": "x", "vip_level": "1"}',
        b'{"name": "x", "phones": 5}',
        b'{"name": "x", "phones": [true]}',
        b'{"name": "x", "phones": ["' + b"1" * 61 + b'"]}',
        b'{"name": 5}',
        b'{"name": null}',
    ],
)
def test_a_customer_body_refuses_what_the_handler_refused(raw: bytes) -> None:
    with pytest.raises(ValidationError):
        NewCustomerBody.model_validate_json(raw, strict=True)
