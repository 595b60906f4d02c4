"""The customer routes and their request bodies."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent_console.customers.handlers import (
    MAX_PHONE_TEXT,
    VIP_LEVELS,
    create_customer,
    customer_card,
    find_customers,
    get_customer,
    patch_customer,
)
from agent_console.web.openapi import Route, add_routes, json_object, text, whole

_CUSTOMER = {
    "name": text(200),
    "company": text(200),
    "title": text(100),
    "vip_level": whole(0, VIP_LEVELS),
    "notes": text(20_000),
    "language": text(10),
}
_PHONES = {"type": "array", "items": text(MAX_PHONE_TEXT)}
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/customers"): json_object("name", **_CUSTOMER, phones=_PHONES),
    ("PATCH", "/api/customers/{customer_id}"): json_object(**_CUSTOMER, add_phones=_PHONES),
}

ROUTES: list[Route] = [
    ("GET", "/api/customers", find_customers, "Find customers by phone or text", (),
     ("phone", "q")),
    ("POST", "/api/customers", create_customer, "Create a customer", (), ()),
    ("GET", "/api/customers/{customer_id}", get_customer, "One customer", (), ()),
    ("PATCH", "/api/customers/{customer_id}", patch_customer, "Edit a customer", (), ()),
    ("GET", "/api/customers/{customer_id}/card", customer_card, "Customer card with history",
     (), ()),
]  # fmt: skip


def setup_routes(app: web.Application) -> None:
    add_routes(app, ROUTES, BODIES)
