"""Fuzz the REST API from its own OpenAPI document (schemathesis): no request, however
odd, may produce a server error. Runs against the real demo service on SQLite and on a
PostgreSQL schema (NUL bytes broke PostgreSQL only), as a manager, as an agent, and with
no credentials at the login; every operation is in the document, the campaign ones too."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DB_BACKENDS
from tests.integration.demo_server import Demo, running_demo


def _schemathesis(demo: Demo, *args: str, examples: int) -> None:
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert cli, "schemathesis is a dev dependency"
    result = subprocess.run(
        [
            cli,
            "run",
            f"{demo.base}/api/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            str(examples),
            "--exclude-path",
            "/api/logout",
            "--no-color",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + demo.log_text()[-3000:]
    assert " passed" in result.stdout


def test_every_operation_is_documented(tmp_path: Path) -> None:
    with running_demo(tmp_path, "sqlite") as demo:
        status, text = demo.request("GET", "/api/openapi.json")
    assert status == 200, text
    doc = json.loads(text)
    paths = doc["paths"]
    for path, methods in {
        "/api/login": {"post"},
        "/api/campaigns": {"get", "post"},
        "/api/campaigns/{id}": {"get", "patch"},
        "/api/campaigns/{id}/contacts": {"post"},
        "/api/campaigns/{id}/start": {"post"},
        "/api/campaigns/{id}/pause": {"post"},
        "/api/campaigns/{id}/stop": {"post"},
        "/api/campaigns/{id}/results": {"get"},
        "/api/campaigns/followups": {"post"},
        "/api/campaigns/preview/next": {"post"},
        "/api/campaigns/{id}/contacts/{contact_id}/dial": {"post"},
        "/api/campaigns/{id}/contacts/{contact_id}/skip": {"post"},
    }.items():
        assert methods <= set(paths.get(path, {})), path
    create = paths["/api/campaigns"]["post"]["requestBody"]["content"]["application/json"]
    schema = create["schema"]
    if "$ref" in schema:  # a declared operation's model (ADR 0076)
        schema = json.loads(text)["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    max_attempts = schema["properties"]["max_attempts"]
    assert {k: max_attempts[k] for k in ("type", "minimum", "maximum")} == {
        "type": "integer",
        "minimum": 1,
        "maximum": 20,
    }
    assert schema["required"] == ["name"]
    upload = paths["/api/campaigns/{id}/contacts"]["post"]["requestBody"]["content"]
    assert set(upload) == {"text/csv"}
    login = paths["/api/login"]["post"]["requestBody"]["content"]["application/json"]
    assert _resolved(doc, login["schema"])["required"] == ["username", "password"]


def _resolved(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A schema, or the component a `$ref` names (declared operations refer to models)."""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        found: dict[str, Any] = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        return found
    return schema


# three schemathesis runs over every operation's schema (each run bounded at 300 s); the
# declared operations give the fuzzer typed queries and bodies, hence more requests
@pytest.mark.timeout(600)
@pytest.mark.parametrize("backend", DB_BACKENDS)
def test_no_server_errors_for_any_generated_request(tmp_path: Path, backend: str) -> None:
    with running_demo(tmp_path, backend) as demo:
        for user in ("manager1", "agent1"):
            token = demo.login(user)
            _schemathesis(demo, "-H", f"Authorization: Bearer {token}", examples=12)
        _schemathesis(demo, "--include-path", "/api/login", examples=60)
        log = demo.log_text()
        assert "unhandled error" not in log, log[-3000:]
