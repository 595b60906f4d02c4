"""docker/compose.yaml cannot be run here (no Docker engine): check it by reading.

It must parse, name the right images and ports, pass only settings the service
knows, wire both instances to the same PostgreSQL, Redis and Asterisk, and mount
the Asterisk configs that exist in the repository.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path
from typing import Any

import yaml

from callcenter.cli import build_parser
from callcenter.commands.pbx_config import plan_from
from callcenter.settings import ENV_PREFIX, Settings, load_settings
from telephony.pbx_config import render

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
    assert "5060:5060/udp" in services["asterisk"]["ports"]
    for name, service in services.items():
        for port in service.get("ports", []):
            # AMI and FastAGI are for the service and the PBX only: never published
            assert "5038" not in str(port), name
            assert "4573" not in str(port), name


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


def _pbx_config_args() -> argparse.Namespace:
    command = _compose()["services"]["pbx-config"]["command"]
    assert command[:2] == ["callcenter", "pbx-config"]
    return build_parser().parse_args(command[1:])


def test_asterisk_runs_the_production_render() -> None:
    services = _compose()["services"]
    args = _pbx_config_args()
    assert args.phones == "pjsip"
    assert args.out == "/srv/pbx"
    assert f"pbx:{args.out}" in services["pbx-config"]["volumes"]
    asterisk = services["asterisk"]
    assert f"pbx:{args.out}" in asterisk["volumes"]
    assert asterisk["command"][:3] == ["asterisk", "-C", f"{args.out}/etc/asterisk.conf"]
    assert asterisk["depends_on"]["pbx-config"]["condition"] == "service_completed_successfully"
    assert not (DOCKER / "asterisk").exists(), "hand-kept Asterisk configs would drift"


def _production_render() -> dict[str, str]:
    service = _compose()["services"]["pbx-config"]
    settings = load_settings(environ={k: _fill(str(v)) for k, v in service["environment"].items()})
    plan = plan_from(settings, _pbx_config_args(), {"support"}, ["PJSIP/1001", "PJSIP/9001"])
    return render(plan, Path("/srv/pbx"))


def test_production_render_reaches_the_service_on_the_compose_network() -> None:
    files = _production_render()
    manager = files["etc/manager.conf"]
    assert "bindaddr = 0.0.0.0" in manager
    assert "deny = 0.0.0.0/0.0.0.0" in manager
    assert "permit = 172.16.0.0/255.240.0.0" in manager
    assert "AGI_HOST=proxy:4573" in files["etc/extensions.conf"]
    # every AGI passes the secret the service checks (issue 13 item 8)
    assert "CC_AGI_SECRET=secret" in files["etc/extensions.conf"]
    agis = re.findall(r"AGI\([^)]*\)", files["etc/extensions.conf"])
    assert agis
    assert all(a.endswith(",${CC_AGI_SECRET})") for a in agis)
    assert "astetcdir => /srv/pbx/etc" in files["etc/asterisk.conf"]
    pjsip = files["etc/pjsip.conf"]
    assert "[1001]" in pjsip
    assert "[9001]" in pjsip
    assert "load = chan_pjsip.so" in files["etc/modules.conf"]
    # Asterisk 12 removed these; they only produce warnings at load
    assert "eventwhencalled" not in files["etc/queues.conf"]
    assert "eventmemberstatus" not in files["etc/queues.conf"]


def test_proxy_config_routes_websocket_and_agi() -> None:
    text = (DOCKER / "nginx.conf").read_text(encoding="utf-8")
    assert "location /ws" in text
    assert "Upgrade $http_upgrade" in text
    assert "callcenter-1:8080" in text
    assert "callcenter-2:8080" in text
    assert "listen 4573" in text  # inside the compose network, for the PBX


def _contexts(conf: str) -> dict[str, str]:
    parts = re.split(r"^\[([\w-]+)\]\s*$", conf, flags=re.M)
    return {name: body for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def test_dialplan_has_the_contexts_the_service_originates_into() -> None:
    contexts = _contexts(_production_render()["etc/extensions.conf"])
    s = Settings()
    # click-to-dial and the dialer's customer leg
    dial_context = s.dialer_channel.split("@", 1)[1]
    assert dial_context in contexts
    assert "Dial(PJSIP/${EXTEN}@carrier" in contexts[dial_context]
    # an answered campaign call: queue with the dialer's grace, then mark the abandon
    campaign = contexts[s.dialer_context]
    assert "Queue(${EXTEN},t,,,${W})" in campaign  # W: CC_QUEUE_TIMEOUT or the default
    assert "Set(CC_DIALER_ABANDON=1)" in campaign
    assert campaign.index("QUEUESTATUS") < campaign.index("CC_DIALER_ABANDON")
