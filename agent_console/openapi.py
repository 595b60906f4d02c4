"""A small registry of API operations, served as `/api/openapi.json`.

Each feature (console, lead views, campaigns) registers the operations it adds:

    register_operation(app, "GET", "/api/queues", "Live queue figures", roles=("lead",))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    summary: str
    roles: tuple[str, ...] = ()
    request_body: dict[str, Any] | None = None
    parameters: tuple[str, ...] = ()  # query parameter names
    tag: str = "console"


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
                    params.append(
                        {
                            "name": segment[1:-1],
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
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
                    "content": {"application/json": {"schema": op.request_body}}
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
) -> None:
    app[OPENAPI_KEY].add(Operation(method, path, summary, roles, request_body, parameters, tag))
