"""Domain events on the wire: `{"v": 1, "type": "CallAnswered", "data": {...}}`.

Used by the Redis bus and the outbox. Every event class of `crm_core.domain.events`
is known by its class name; datetimes travel as ISO 8601, enums as their values,
nested domain dataclasses as objects, and `decode` rebuilds them from the class's
type hints. A payload of another schema version, an unknown type or a bad field is an
`EventDecodeError`, never a half-built event.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from datetime import datetime
from typing import Any, get_type_hints

from crm_core.domain import events, models
from crm_core.domain.events import DomainEvent

SCHEMA_VERSION = 1

_REGISTRY: dict[str, type[DomainEvent]] = {}


for _cls in vars(events).values():
    if isinstance(_cls, type) and issubclass(_cls, DomainEvent) and _cls is not DomainEvent:
        _REGISTRY[_cls.__name__] = _cls


def event_types() -> dict[str, type[DomainEvent]]:
    return dict(_REGISTRY)


class EventDecodeError(ValueError):
    error_id = "bad-event"


def _to_wire(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_wire(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_to_wire(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_wire(v) for k, v in value.items()}
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = get_type_hints(cls, vars(models) | vars(events))
        _HINTS[cls] = hints
    return hints


def _from_wire(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _from_wire(args[0], value) if len(args) == 1 else value
    if origin is tuple:
        (item_tp, *_rest) = typing.get_args(tp)
        return tuple(_from_wire(item_tp, v) for v in value)
    if origin is dict:
        return dict(value)
    if tp is datetime:
        return datetime.fromisoformat(value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        kwargs = {
            f.name: _from_wire(hints[f.name], value[f.name])
            for f in dataclasses.fields(tp)
            if f.name in value
        }
        return tp(**kwargs)
    return value


def encode(event: DomainEvent) -> dict[str, Any]:
    """Event → JSON-ready dict: `{"v": 1, "type": "CallAnswered", "data": {...}}`."""
    return {"v": SCHEMA_VERSION, "type": type(event).__name__, "data": _to_wire(event)}


def decode(payload: dict[str, Any]) -> DomainEvent:
    try:
        version = payload["v"]
        cls = _REGISTRY[payload["type"]]
        data = payload["data"]
    except (KeyError, TypeError) as exc:
        raise EventDecodeError(f"not an encoded domain event: {exc!r}") from exc
    if version != SCHEMA_VERSION:
        raise EventDecodeError(f"event schema version {version} not understood")
    try:
        event = _from_wire(cls, data)
    except (KeyError, TypeError, ValueError) as exc:
        raise EventDecodeError(f"bad {cls.__name__} payload: {exc}") from exc
    assert isinstance(event, DomainEvent)
    return event


__all__ = ["SCHEMA_VERSION", "EventDecodeError", "decode", "encode", "event_types"]
