"""The originate request of a call the agent places from their own phone (shared by
click-to-dial and the campaigns' preview dialing)."""

from __future__ import annotations

from agent_console.web.deps import ConsoleConfig
from crm_core.domain.models import User
from crm_core.phones import InvalidPhoneNumber, carrier_digits, normalize
from crm_core.ports.telephony import OriginateRequest


def agent_first_call(
    user: User,
    number: str,
    config: ConsoleConfig,
    *,
    request_id: str,
    variables: dict[str, str],
) -> OriginateRequest:
    """Ring the agent's own phone, then dial `number` from it (click-to-dial, callbacks,
    preview contacts).

    The exten is the number in the carrier's form (setting carrier_number_format); the
    record's `dialed_number` is the number as the CRM keys it, E.164 (or the digits as
    typed when it is no phone number, e.g. an extension), passed as CC_DIALED (ADR 0047).
    """
    assert user.interface is not None
    digits = "".join(ch for ch in number if ch.isdigit())
    try:
        exten = carrier_digits(number, config.phone_region, config.carrier_number_format)
        dialed = normalize(number, config.phone_region)
    except InvalidPhoneNumber:
        exten = dialed = digits
    return OriginateRequest(
        channel=user.interface,
        context=config.dial_context,
        exten=exten,
        caller_id=user.member_name,
        request_id=request_id,
        variables={**variables, "CC_DIALED": dialed},
    )
