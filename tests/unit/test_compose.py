"""docker/compose.yaml cannot be run here (no Docker engine): check it by reading.

It must parse, name the right images and ports, pass only settings the service
knows, wire both instances to the same PostgreSQL, Redis and Asterisk, and mount
the Asterisk configs that exist in the repository.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import yaml

from callcenter.settings import ENV_PREFIX, Settings, load_settings

DOCKER = Path(__file__).resolve().parents[2] / "docker"


def _fill(value: str) -> str:
    value = re.sub(r"\$\{[A-Z_]+:\?[^}]*\}", "secret", value)
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_stack_has_every_part_with_the_right_images() -> None:
    services = _compose()["services"]
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    assert "asterisk" in services["asterisk"]["image"]
    assert services["proxy"]["image"].startswith("nginx:")
    instances = [name for name in services if name.startswith("callcenter-")]
    assert len(instances) == 2
    for name in instances:
        assert services[name]["build"]["dockerfile"] == "docker/Dockerfile"
    assert services["migrate"]["command"] == ["callcenter", "migrate"]


def test_published_ports() -> None:
    services = _compose()["services"]
    assert "80:80" in services["proxy"]["ports"]
    assert "4573:4573" in services["proxy"]["ports"]  # FastAGI through the proxy
    assert "5060:5060/udp" in services["asterisk"]["ports"]
    # AMI is never published to the host
    assert not any("5038" in p for p in services["asterisk"].get("ports", []))


def test_instance_environment_is_valid_settings() -> None:
    services = _compose()["services"]
    known = {ENV_PREFIX + f.name.upper() for f in dataclasses.fields(Settings)}
    ids = set()
    for name in ("callcenter-1", "callcenter-2"):
        env: dict[str, str] = services[name]["environment"]
        unknown = set(env) - known
        assert not unknown, f"{name} passes settings the service does not know: {unknown}"
        assert env["CALLCENTER_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert "@postgres:5432/" in env["CALLCENTER_DATABASE_URL"]
        assert env["CALLCENTER_REDIS_URL"] == "redis://redis:6379/0"
        assert env["CALLCENTER_AMI_HOST"] == "asterisk"
        assert env["CALLCENTER_AGI_HOST"] == "0.0.0.0"
        ids.add(env["CALLCENTER_INSTANCE_ID"])
        # the values, with compose's ${VAR:?msg} / ${VAR:-default} filled, are real settings
        filled = {k: _fill(v) for k, v in env.items()}
        settings = load_settings(environ=filled)
        assert settings.trust_forwarded_headers is True
    assert len(ids) == 2


def test_mounted_asterisk_configs_exist() -> None:
    asterisk = _compose()["services"]["asterisk"]
    for volume in asterisk["volumes"]:
        source = volume.split(":")[0]
        if source.startswith("./"):
            assert (DOCKER / source).exists(), f"{source} is mounted but missing"


def test_proxy_config_routes_websocket_and_agi() -> None:
    text = (DOCKER / "nginx.conf").read_text(encoding="utf-8")
    assert "location /ws" in text
    assert "Upgrade $http_upgrade" in text
    assert "callcenter-1:8080" in text
    assert "callcenter-2:8080" in text
    assert "listen 4573" in text


def _contexts(conf: str) -> dict[str, str]:
    parts = re.split(r"^\[([\w-]+)\]\s*$", conf, flags=re.M)
    return {name: body for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def test_dialplan_has_the_contexts_the_service_originates_into() -> None:
    contexts = _contexts((DOCKER / "asterisk" / "extensions.conf").read_text())
    s = Settings()
    # click-to-dial and the dialer's customer leg
    dial_context = s.dialer_channel.split("@", 1)[1]
    assert dial_context in contexts
    assert "Dial(PJSIP/${EXTEN}@carrier" in contexts[dial_context]
    # an answered campaign call: queue with the dialer's grace, then mark the abandon
    campaign = contexts[s.dialer_context]
    assert "Queue(${EXTEN},t,,,${CC_QUEUE_TIMEOUT})" in campaign
    assert "Set(CC_DIALER_ABANDON=1)" in campaign
    assert campaign.index("QUEUESTATUS") < campaign.index("CC_DIALER_ABANDON")
