"""The event codec round-trips every registered event type (built generically)."""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from datetime import UTC, datetime
from typing import Any

import pytest

from crm_core.domain import events, models
from crm_core.domain.event_codec import EventDecodeError, decode, encode, event_types
from crm_core.domain.events import DomainEvent

AT = datetime(2026, 11, 23, 2, 30, 15, 250000, tzinfo=UTC)


def _sample(tp: Any, name: str) -> Any:
    """A non-default value of type `tp`, so a field lost on the wire is noticed."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _sample(inner[0], name)
    if origin is typing.Literal:
        return typing.get_args(tp)[-1]
    if origin is tuple:
        return (_sample(typing.get_args(tp)[0], name),)
    if origin is dict:
        return {"k": "v"}
    if tp is datetime:
        return AT
    if tp is bool:
        return True
    if tp is int:
        return 7
    if tp is float:
        return 2.5
    if tp is str:
        return f"{name}-x"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return list(tp)[-1]
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _build(tp)
    if tp is Any or tp is object:
        return "any"
    raise AssertionError(f"no sample for {tp!r} ({name}); extend the test")


def _build(cls: type) -> Any:
    hints = typing.get_type_hints(cls, vars(models) | vars(events))
    kwargs = {f.name: _sample(hints[f.name], f.name) for f in dataclasses.fields(cls) if f.init}
    return cls(**kwargs)


@pytest.mark.parametrize("name", sorted(event_types()))
def test_round_trip_every_event_type(name: str) -> None:
    cls = event_types()[name]
    event = _build(cls)
    wire = json.loads(json.dumps(encode(event), ensure_ascii=False))
    assert wire["type"] == name
    back = decode(wire)
    assert type(back) is cls
    assert back == event
    assert back.at.tzinfo is not None


def test_registry_holds_every_event_class() -> None:
    defined = {
        obj.__name__
        for obj in vars(events).values()
        if isinstance(obj, type) and issubclass(obj, DomainEvent) and obj is not DomainEvent
    }
    assert defined == set(event_types())
    assert "CallEnded" in defined
    assert "ServiceHealthChanged" in defined


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"v": 1, "type": "NoSuchEvent", "data": {}},
        {"v": 99, "type": "AmiConnected", "data": {}},
        {"v": 1, "type": "AmiConnected", "data": {"at": "not a time", "host": "h", "port": 1}},
        {"v": 1, "type": "AmiConnected", "data": {"host": "h"}},
    ],
)
def test_malformed_payload_is_a_clear_error(payload: dict[str, Any]) -> None:
    with pytest.raises(EventDecodeError):
        decode(payload)
