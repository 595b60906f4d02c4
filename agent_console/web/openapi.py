"""The OpenAPI 3.1 document, generated from the declared operations (ADR 0076): a route
is in the document because it is declared; there is no registry to keep. Served as
`GET /api/openapi.json`."""

from __future__ import annotations

from typing import Final

from aiohttp import web
from pydantic import (
    BaseModel,
)

from agent_console.web import error_catalogue
from agent_console.web.auth import PUBLIC_PATHS
from agent_console.web.declared import (
    Declaration,
    Given,
    body_required,
    declaration_of,
    operation,
)
from agent_console.web.edge import (
    INT64_MAX,
)
from agent_console.web.models import (
    JsonSchema,
    NoBody,
    NoQuery,
    Query,
)


def _path_parameters(path: str) -> list[JsonSchema]:
    params: list[JsonSchema] = []
    for segment in path.split("/"):
        if segment.startswith("{") and segment.endswith("}"):
            name = segment[1:-1].partition(":")[0]
            is_id = name == "id" or (name.endswith("_id") and name != "call_id")
            schema: JsonSchema = (
                {"type": "integer", "format": "int64", "minimum": 1, "maximum": INT64_MAX}
                if is_id
                else {"type": "string"}
            )
            param: JsonSchema = {"name": name, "in": "path", "required": True, "schema": schema}
            if is_id:
                param["example"] = 1  # the first row of a table: fuzzers reach past the 404
            params.append(param)
    return params


class _Schemas:
    def __init__(self) -> None:
        self.components: dict[str, JsonSchema] = {}
        self._named: dict[tuple[type[BaseModel], str], str] = {}

    def ref(self, model: type[BaseModel], mode: str) -> JsonSchema:
        return {"$ref": f"#/components/schemas/{self.name(model, mode)}"}

    def schema(self, model: type[BaseModel], mode: str) -> JsonSchema:
        return self.components[self.name(model, mode)]

    def name(self, model: type[BaseModel], mode: str) -> str:
        known = self._named.get((model, mode))
        if known is not None:
            return known
        generated = model.model_json_schema(
            ref_template="#/components/schemas/{model}",
            mode="serialization" if mode == "serialization" else "validation",
        )
        defs = generated.pop("$defs", {})
        for key, value in defs.items():
            self._add(key, value)
        name = model.__name__
        if name in self.components and self.components[name] != generated:
            name = f"{model.__name__}{mode.capitalize()}"
        self._add(name, generated)
        self._named[(model, mode)] = name
        return name

    def _add(self, name: str, schema: JsonSchema) -> None:
        if name in self.components and self.components[name] != schema:
            raise ValueError(f"two different models are both called {name}")
        self.components[name] = schema


def _query_parameters(model: type[Query], schemas: _Schemas) -> list[JsonSchema]:
    whole = schemas.schema(model, "validation")
    properties = whole.get("properties", {})
    required = whole.get("required", [])
    params: list[JsonSchema] = []
    if isinstance(properties, dict):
        for name, schema in properties.items():
            params.append(
                {
                    "name": name,
                    "in": "query",
                    "required": isinstance(required, list) and name in required,
                    "schema": schema,
                }
            )
    return params


def _error_responses(decl: Declaration) -> dict[str, JsonSchema]:
    ids: dict[int, list[str]] = {}
    implied: list[str] = []
    if decl.body is not None:
        implied += ["bad-json", "bad-text", "bad-field", "out-of-range", "bad-date", "too-large"]
    if decl.query is not None:
        implied += ["bad-text", "bad-parameter", "out-of-range", "bad-date"]
    if decl.roles:
        implied += ["unauthenticated", "forbidden"]
    for error_id in (*implied, *decl.errors):
        status = error_catalogue.status_of(error_id)
        if error_id not in ids.setdefault(status, []):
            ids[status].append(error_id)
    return {
        str(status): {
            "description": ", ".join(found),
            "content": {
                "application/json": {
                    "schema": {
                        "allOf": [
                            {"$ref": "#/components/schemas/Error"},
                            {"properties": {"error_id": {"enum": found}}},
                        ]
                    }
                }
            },
        }
        for status, found in sorted(ids.items())
    }


ERROR_SCHEMA: Final[JsonSchema] = {
    "type": "object",
    "required": ["error_id", "message"],
    "properties": {
        "error_id": {"type": "string", "enum": sorted(error_catalogue.ERRORS)},
        "message": {"type": "string", "description": "in the user's language"},
        "code": {"type": "string", "description": "message code (error_catalogue)"},
        "params": {"type": "object", "additionalProperties": {"type": ["string", "number"]}},
        "detail": {"type": "string", "description": "technical detail, English"},
    },
}


def declared_routes(app: web.Application) -> list[Declaration]:
    """Every declared operation of the app's router, in route order."""
    found: list[Declaration] = []
    for route in app.router.routes():
        decl = declaration_of(route.handler)
        if decl is not None and route.method == decl.method:
            found.append(decl)
    return found


def openapi_document(
    app: web.Application,
    *,
    title: str = "callcenter API",
    version: str = "0.1.0",
) -> JsonSchema:
    """The OpenAPI 3.1 document of every declared operation of `app`: the document is
    the declarations, so an operation cannot be served and missing from it."""
    schemas = _Schemas()
    paths: dict[str, dict[str, JsonSchema]] = {}
    used_ids: set[str] = set()
    for decl in declared_routes(app):
        parameters = _path_parameters(decl.path)
        if decl.query is not None:
            parameters += _query_parameters(decl.query, schemas)
        success: JsonSchema = {"description": "OK"}
        if decl.response is not None:
            success["content"] = {
                "application/json": {"schema": schemas.ref(decl.response, "serialization")}
            }
        operation_id = decl.name
        while operation_id in used_ids:
            operation_id += "_"
        used_ids.add(operation_id)
        entry: JsonSchema = {
            "operationId": operation_id,
            "summary": decl.summary,
            "tags": [decl.tag],
            "parameters": parameters,
            "responses": {str(decl.status): success, **_error_responses(decl)},
        }
        if decl.roles:
            entry["x-roles"] = [role.value for role in decl.roles]
        if decl.path in PUBLIC_PATHS:  # the rest needs a session, whatever the role
            entry["security"] = []
        if decl.body is not None:
            entry["requestBody"] = {
                "required": body_required(decl.body),
                "content": {"application/json": {"schema": schemas.ref(decl.body, "validation")}},
            }
        elif decl.raw_body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {kind: {"schema": schema} for kind, schema in decl.raw_body.items()},
            }
        paths.setdefault(decl.path, {})[decl.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "cc_session"},
            },
            "schemas": {"Error": ERROR_SCHEMA, **schemas.components},
        },
        "security": [{"bearer": []}, {"cookie": []}],
    }


@operation("GET", "/api/openapi.json", summary="This document (OpenAPI 3.1)", tag="meta")
async def openapi_doc(request: web.Request, given: Given[NoBody, NoQuery]) -> web.StreamResponse:
    return web.json_response(openapi_document(request.app))
