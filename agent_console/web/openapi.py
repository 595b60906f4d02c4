"""A small registry of API operations, served as `/api/openapi.json`.

Each feature (console, lead views, campaigns) registers the operations it adds:

    register_operation(app, "GET", "/api/queues", "Live queue figures", roles=("lead",))
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from agent_console.web.declared import openapi_document

# request body schemas (JSON Schema as OpenAPI 3.0 has it): what `json_body` accepts;
# the edge checks of ADR 0062 apply to every body whatever its schema says
TEXT: dict[str, Any] = {"type": "string"}
INT64: dict[str, Any] = {"type": "integer", "format": "int64"}
BOOL: dict[str, Any] = {"type": "boolean"}
TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
ID: dict[str, Any] = {**INT64, "minimum": 1}


def text(max_length: int, min_length: int = 0) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_length, "minLength": min_length}


def one_of(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


def whole(low: int, high: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high}


def json_object(*required: str, **properties: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def _path_schema(name: str) -> dict[str, Any]:
    """Database ids are positive 64-bit integers; other path segments (a call's id,
    an agent's member name, a report period) are text."""
    return dict(ID) if name == "id" or (name.endswith("_id") and name != "call_id") else TEXT


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    summary: str
    roles: tuple[str, ...] = ()
    request_body: dict[str, Any] | None = None
    parameters: tuple[str, ...] = ()  # query parameter names
    tag: str = "console"
    body_type: str = "application/json"


@dataclass(slots=True)
class OpenApiRegistry:
    title: str = "callcenter API"
    version: str = "0.1.0"
    operations: list[Operation] = field(default_factory=list)

    def add(self, op: Operation) -> None:
        self.operations.append(op)

    def document(self) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        for op in self.operations:
            params: list[dict[str, Any]] = [
                {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                for name in op.parameters
            ]
            for segment in op.path.split("/"):
                if segment.startswith("{") and segment.endswith("}"):
                    schema = _path_schema(segment[1:-1])
                    params.append(
                        {
                            "name": segment[1:-1],
                            "in": "path",
                            "required": True,
                            "schema": schema,
                            # the first row of a table: fuzzers reach past the 404
                            **({"example": 1} if schema is not TEXT else {}),
                        }
                    )
            entry: dict[str, Any] = {
                "summary": op.summary,
                "tags": [op.tag],
                "parameters": params,
                "responses": {
                    "200": {"description": "OK", "content": {"application/json": {}}},
                    "401": {"$ref": "#/components/responses/Error"},
                    "403": {"$ref": "#/components/responses/Error"},
                },
            }
            if op.roles:
                entry["x-roles"] = list(op.roles)
            if op.request_body is not None:
                entry["requestBody"] = {
                    "required": True,
                    "content": {op.body_type: {"schema": op.request_body}},
                }
            paths.setdefault(op.path, {})[op.method.lower()] = entry
        return {
            "openapi": "3.0.3",
            "info": {"title": self.title, "version": self.version},
            "paths": paths,
            "components": {
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer"},
                    "cookie": {"type": "apiKey", "in": "cookie", "name": "cc_session"},
                },
                "schemas": {
                    "Error": {
                        "type": "object",
                        "required": ["error_id", "message"],
                        "properties": {
                            "error_id": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    }
                },
                "responses": {
                    "Error": {
                        "description": "error",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    }
                },
            },
            "security": [{"bearer": []}, {"cookie": []}],
        }


OPENAPI_KEY = web.AppKey("openapi", OpenApiRegistry)


def register_operation(
    app: web.Application,
    method: str,
    path: str,
    summary: str,
    *,
    roles: tuple[str, ...] = (),
    request_body: dict[str, Any] | None = None,
    parameters: tuple[str, ...] = (),
    tag: str = "console",
    body_type: str = "application/json",
) -> None:
    app[OPENAPI_KEY].add(
        Operation(method, path, summary, roles, request_body, parameters, tag, body_type)
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# method, path, handler, summary, roles, query parameters
Route = tuple[str, str, Handler, str, tuple[str, ...], tuple[str, ...]]


def add_routes(
    app: web.Application,
    routes: list[Route],
    bodies: dict[tuple[str, str], dict[str, Any]],
) -> None:
    """Add each route and its operation (with its request body schema, if any)."""
    for method, path, handler, summary, roles, params in routes:
        app.router.add_route(method, path, handler)
        register_operation(
            app,
            method,
            path,
            summary,
            roles=roles,
            parameters=params,
            request_body=bodies.get((method, path)),
        )


async def openapi_doc(request: web.Request) -> web.Response:
    # generated from the declared operations; the registry's entries only until each
    # of their handlers is declared (ADR 0076)
    legacy = request.app[OPENAPI_KEY].document()
    return web.json_response(openapi_document(request.app, legacy=legacy))
