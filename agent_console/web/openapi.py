"""`GET /api/openapi.json`: the OpenAPI document, generated from the declared
operations (`agent_console.web.declared`, ADR 0076). There is no registry to keep:
a route is in the document because it is declared."""

from __future__ import annotations

from aiohttp import web

from agent_console.web.declared import Given, NoBody, NoQuery, openapi_document, operation


@operation("GET", "/api/openapi.json", summary="This document (OpenAPI 3.1)", tag="meta")
async def openapi_doc(request: web.Request, given: Given[NoBody, NoQuery]) -> web.StreamResponse:
    return web.json_response(openapi_document(request.app))
