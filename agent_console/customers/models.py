"""What the customer routes read and answer (declared operations, ADR 0076)."""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field

from agent_console.web.models import Body, Int64, Query, Reply, ShortText, Text
from agent_console.web.replies import CallbackReply

VIP_LEVELS: Final = 9
MAX_PHONE_TEXT: Final = 60  # customer_phones.raw
# the fields a customer's form edits (besides the name and the numbers)
CUSTOMER_FIELDS: Final = ("company", "title", "vip_level", "notes", "language")

# a number as typed (text, at most the column's size) or as a whole number
PhoneEntry = Annotated[Text, Field(max_length=MAX_PHONE_TEXT)] | Int64


class CustomerFields(Body):
    company: ShortText = ""
    title: Annotated[Text, Field(max_length=100)] = ""
    vip_level: Annotated[int, Field(ge=0, le=VIP_LEVELS)] = 0
    notes: Annotated[Text, Field(max_length=20_000)] = ""
    language: Annotated[Text, Field(max_length=10)] = ""

    def given_fields(self) -> dict[str, object]:
        """The fields the request sent (an edit changes only those)."""
        return {k: getattr(self, k) for k in CUSTOMER_FIELDS if k in self.model_fields_set}


class NewCustomerBody(CustomerFields):
    name: ShortText = ""
    phones: tuple[PhoneEntry, ...] = ()


class CustomerPatchBody(CustomerFields):
    name: ShortText = ""
    add_phones: tuple[PhoneEntry, ...] = ()

    def given_fields(self) -> dict[str, object]:
        fields = super().given_fields()
        if "name" in self.model_fields_set:
            fields["name"] = self.name
        return fields


class CustomerSearchQuery(Query):
    phone: ShortText = ""
    q: ShortText = ""


class CustomerPhoneReply(Reply):
    e164: str
    raw: str
    label: str


class CustomerReply(Reply):
    id: int
    name: str
    company: str
    title: str
    vip_level: int
    notes: str
    language: str
    phones: list[CustomerPhoneReply]
    created_at: str | None
    updated_at: str | None


class CustomersReply(Reply):
    customers: list[CustomerReply]


class CardCallReply(Reply):
    call_id: str
    started_at: str | None
    agent: str | None
    outcome: str
    disposition: str | None
    notes: str | None = Field(description="None: another agent's wrap-up note")


class CardCaseReply(Reply):
    id: int
    kind: str
    status: str
    subject: str
    created_at: str | None
    customer_id: int | None
    owner_user_id: int | None
    department: str | None
    call_id: str | None
    promised_reply_at: str | None


class CustomerCardReply(Reply):
    customer: CustomerReply | None
    known: bool
    recent_calls: list[CardCallReply]
    open_cases: list[CardCaseReply]
    open_callbacks: list[CallbackReply]
