"""The customer routes (declared operations: the route table is the registry)."""

from __future__ import annotations

from aiohttp import web

from agent_console.customers.handlers import (
    create_customer,
    customer_card,
    find_customers,
    get_customer,
    patch_customer,
)
from agent_console.web.declared import add_routes


def setup_routes(app: web.Application) -> None:
    add_routes(app, find_customers, create_customer, get_customer, patch_customer, customer_card)
