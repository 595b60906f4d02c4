"""Customers: find, create, read, edit, and the card with history."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent_console.live.keys import SEATS_KEY
from agent_console.web.auth import current_user
from agent_console.web.edge import check_int, path_id
from agent_console.web.errors import ApiError
from agent_console.web.requests import audit, deps, json_body
from agent_console.web.serializers import customer_json

VIP_LEVELS = 9


# field: type, then the longest text (the column's size) or the highest VIP level
CUSTOMER_FIELDS: dict[str, tuple[type, int]] = {
    "name": (str, 200),
    "company": (str, 200),
    "title": (str, 100),
    "vip_level": (int, VIP_LEVELS),
    "notes": (str, 20_000),
    "language": (str, 10),
}


MAX_PHONE_TEXT = 60  # customer_phones.raw


async def find_customers(request: web.Request) -> web.Response:
    db = deps(request).db
    phone = request.query.get("phone", "").strip()
    text = request.query.get("q", "").strip()
    if phone:
        found = await db.customers.find_by_phone(phone)
        customers = [found] if found else []
    elif text:
        customers = await db.customers.search(text, limit=20)
    else:
        raise ApiError(400, "bad-parameter", "give ?phone= or ?q=")
    for c in customers:
        await audit(request, "customer.read", f"customer:{c.id}", detail="search")
    return web.json_response({"customers": [customer_json(c) for c in customers]})


async def create_customer(request: web.Request) -> web.Response:
    body = await json_body(request)
    name = str(body.get("name", "")).strip()
    if not name:
        raise ApiError(400, "bad-name", "a customer needs a name")
    phones = [p for p in _phone_list(body, "phones") if p.strip()]
    fields = _customer_fields(body, partial=True)
    fields.pop("name", None)
    customer = await deps(request).db.customers.create(name=name, phones=phones, **fields)
    await audit(request, "customer.create", f"customer:{customer.id}")
    return web.json_response(customer_json(customer), status=201)


def _phone_list(body: dict[str, Any], key: str) -> list[str]:
    phones = body.get(key, [])
    if not isinstance(phones, list) or not all(
        isinstance(p, str | int) and not isinstance(p, bool) and len(str(p)) <= MAX_PHONE_TEXT
        for p in phones
    ):
        raise ApiError(400, "bad-field", f"{key}: a list of phone numbers")
    return [str(p) for p in phones]


def _customer_fields(body: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, (kind, limit) in CUSTOMER_FIELDS.items():
        if key in body:
            value = body[key]
            if kind is int:
                check_int(value, key, 0, limit)
            if kind is str and not isinstance(value, str):
                raise ApiError(400, "bad-field", f"{key} must be text")
            if kind is str and len(value) > limit:
                raise ApiError(400, "bad-field", f"{key}: at most {limit} characters")
            out[key] = value
    return out


async def get_customer(request: web.Request) -> web.Response:
    customer_id = path_id(request, "customer_id")
    customer = await deps(request).db.customers.get(customer_id)
    await audit(request, "customer.read", f"customer:{customer_id}")
    return web.json_response(customer_json(customer))


async def customer_card(request: web.Request) -> web.Response:
    user = current_user(request)
    customer_id = path_id(request, "customer_id")
    card = await request.app[SEATS_KEY].cards.customer_card(user, customer_id=customer_id)
    return web.json_response(card)


async def patch_customer(request: web.Request) -> web.Response:
    customer_id = path_id(request, "customer_id")
    body = await json_body(request)
    db = deps(request).db
    fields = _customer_fields(body, partial=True)
    customer = (
        await db.customers.update(customer_id, **fields)
        if fields
        else await db.customers.get(customer_id)
    )
    for phone in _phone_list(body, "add_phones"):
        customer = await db.customers.add_phone(customer_id, phone)
    await audit(
        request, "customer.update", f"customer:{customer_id}", detail=",".join(sorted(fields))
    )
    return web.json_response(customer_json(customer))
