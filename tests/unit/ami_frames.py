"""Header sets of synthetic AMI frames shared by the tracker and replay tests."""

from __future__ import annotations

LID = "1700000000.1"
CALLER = "Local/15550001@caller-sim-00000001;1"


def channel_fields(chan: str, uid: str, **extra: str) -> dict[str, str]:
    """A channel event's headers: the customer 15550001 (张三) calling the hotline."""
    fields = {
        "Channel": chan,
        "CallerIDNum": "15550001",
        "CallerIDName": "张三",
        "Context": "inbound",
        "Exten": "18005550100",
        "Uniqueid": uid,
        "Linkedid": LID,
    }
    return fields | extra
