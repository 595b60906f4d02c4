"""Customers: find, create, read, edit, and the card with history (declared operations;
the card itself is `crm_core.services.customer_cards`)."""

from __future__ import annotations

from aiohttp import web

from agent_console.customers.models import (
    CustomerCardReply,
    CustomerPatchBody,
    CustomerReply,
    CustomerSearchQuery,
    CustomersReply,
    NewCustomerBody,
    PhoneEntry,
)
from agent_console.live.keys import SEATS_KEY
from agent_console.web.auth import ANY_ROLE
from agent_console.web.declared import Given, operation
from agent_console.web.edge import path_id
from agent_console.web.error_catalogue import Problem, ProblemError
from agent_console.web.models import NoBody, NoQuery, Reply
from agent_console.web.requests import audit, deps
from agent_console.web.serializers import customer_json
from crm_core.domain.models import Customer


def _reply(customer: Customer) -> CustomerReply:
    return CustomerReply.model_validate(customer_json(customer))


def _numbers(entries: tuple[PhoneEntry, ...]) -> list[str]:
    return [str(p) for p in entries]


@operation(
    "GET",
    "/api/customers",
    summary="Find customers by phone or text",
    roles=ANY_ROLE,
    query=CustomerSearchQuery,
    response=CustomersReply,
    errors=("bad-parameter",),
)
async def find_customers(request: web.Request, given: Given[NoBody, CustomerSearchQuery]) -> Reply:
    db = deps(request).db
    phone, text = given.query.phone.strip(), given.query.q.strip()
    if phone:
        found = await db.customers.find_by_phone(phone)
        customers = [found] if found else []
    elif text:
        customers = await db.customers.search(text, limit=20)
    else:
        raise ProblemError("bad-parameter", Problem("customer.search_needs_phone_or_text"))
    for c in customers:
        await audit(request, "customer.read", f"customer:{c.id}", detail="search")
    return CustomersReply(customers=[_reply(c) for c in customers])


@operation(
    "POST",
    "/api/customers",
    summary="Create a customer",
    roles=ANY_ROLE,
    body=NewCustomerBody,
    response=CustomerReply,
    status=201,
    errors=("bad-name",),
)
async def create_customer(request: web.Request, given: Given[NewCustomerBody, NoQuery]) -> Reply:
    body = given.body
    name = body.name.strip()
    if not name:
        raise ProblemError("bad-name", Problem("customer.needs_name"))
    phones = [p for p in _numbers(body.phones) if p.strip()]
    customer = await deps(request).db.customers.create(
        name=name,
        phones=phones,
        company=body.company,
        title=body.title,
        vip_level=body.vip_level,
        notes=body.notes,
        language=body.language,
    )
    await audit(request, "customer.create", f"customer:{customer.id}")
    return _reply(customer)


@operation(
    "GET",
    "/api/customers/{customer_id}",
    summary="One customer",
    roles=ANY_ROLE,
    response=CustomerReply,
    errors=("not-found",),
)
async def get_customer(request: web.Request, given: Given[NoBody, NoQuery]) -> Reply:
    customer_id = path_id(request, "customer_id")
    customer = await deps(request).db.customers.get(customer_id)
    await audit(request, "customer.read", f"customer:{customer_id}")
    return _reply(customer)


@operation(
    "GET",
    "/api/customers/{customer_id}/card",
    summary="Customer card with history",
    roles=ANY_ROLE,
    response=CustomerCardReply,
    errors=("not-found",),
)
async def customer_card(request: web.Request, given: Given[NoBody, NoQuery]) -> Reply:
    customer_id = path_id(request, "customer_id")
    cards = request.app[SEATS_KEY].cards
    return CustomerCardReply.model_validate(
        await cards.customer_card(given.user, customer_id=customer_id)
    )


@operation(
    "PATCH",
    "/api/customers/{customer_id}",
    summary="Edit a customer",
    roles=ANY_ROLE,
    body=CustomerPatchBody,
    response=CustomerReply,
    errors=("not-found",),
)
async def patch_customer(request: web.Request, given: Given[CustomerPatchBody, NoQuery]) -> Reply:
    customer_id = path_id(request, "customer_id")
    db = deps(request).db
    fields = given.body.given_fields()
    customer = (
        await db.customers.update(customer_id, **fields)
        if fields
        else await db.customers.get(customer_id)
    )
    for phone in _numbers(given.body.add_phones):
        customer = await db.customers.add_phone(customer_id, phone)
    await audit(
        request, "customer.update", f"customer:{customer_id}", detail=",".join(sorted(fields))
    )
    return _reply(customer)
