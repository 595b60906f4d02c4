"""Ports: the Protocols the CRM core's services depend on.

Adapters live elsewhere: SQLAlchemy repositories in `crm_core.db`, the AMI
commands in `telephony.commands`, the buses in `crm_core.bus`.
"""

from crm_core.ports.bus import EventBus, EventHandler, Subscription
from crm_core.ports.clock import Clock
from crm_core.ports.telephony import (
    OriginateRequest,
    SpyMode,
    TelephonyCommands,
    TelephonyError,
)

__all__ = [
    "Clock",
    "EventBus",
    "EventHandler",
    "OriginateRequest",
    "SpyMode",
    "Subscription",
    "TelephonyCommands",
    "TelephonyError",
]
