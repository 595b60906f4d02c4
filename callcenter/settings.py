"""One frozen, typed settings object from CALLCENTER_* variables and an optional TOML file.

Precedence: defaults < TOML file < environment. Every field's environment name is
`CALLCENTER_` + the field name in upper case; list fields take comma-separated
values. An invalid value stops start-up with a `SettingsError` naming the
setting and the expected form.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
import types
import typing
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import phonenumbers

ENV_PREFIX = "CALLCENTER_"
IVR_LANGUAGES = ("zh", "en")  # the sound languages telephony/sounds ships (ivr_scripts.prompts)


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it and the expected form."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AmiEndpoint:
    name: str
    host: str
    port: int
    username: str
    secret: str
    # interface prefixes of the agents whose phones are on this PBX (routing commands)
    agents: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    # storage and bus
    database_url: str = "sqlite+aiosqlite:///callcenter.db"
    redis_url: str = ""  # empty: in-process bus, timers and presence
    # HTTP console
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    secret_key: str = ""  # signs session cookies; required by `serve`
    trust_forwarded_headers: bool = False  # honour X-Forwarded-* from the reverse proxy
    # failed logins within the window before 429: per account (any address), per
    # source address (any usernames); shared through Redis when configured (ADR 0054)
    login_max_failures: int = 5
    login_max_failures_per_address: int = 30
    login_window_seconds: float = 300.0
    public_url: str = ""
    # pages that may open the console's WebSocket besides the console's own host
    # (public_url's origin is always allowed), e.g. https://cc.example.com
    allowed_origins: tuple[str, ...] = ()
    # AMI (one PBX); `ami_endpoints` lists more as name=user:secret@host:port
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_username: str = "callcenter"
    ami_secret: str = ""
    ami_endpoints: tuple[str, ...] = ()
    # addresses allowed to log in as the AMI user (rendered into manager.conf)
    ami_permit: tuple[str, ...] = ("127.0.0.1/32",)
    ami_action_timeout_seconds: float = 10.0
    ami_ping_interval_seconds: float = 5.0
    ami_watchdog_seconds: float = 15.0
    # FastAGI
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    agi_command_timeout_seconds: float = 10.0
    agi_header_timeout_seconds: float = 5.0
    # who may open a FastAGI session: the PBX's networks, and (when set) the secret the
    # rendered dialplan passes as every AGI's first argument
    agi_allowed_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    agi_secret: str = ""
    # the rules
    ring_count: int = 3
    ring_cycle_seconds: float = 5.0
    callback_window_minutes: float = 30.0
    callback_warning_minutes: float = 10.0
    abandon_threshold_seconds: float = 5.0
    service_level_seconds: float = 20.0
    long_wait_alert_seconds: float = 60.0
    after_call_work_alert_seconds: float = 120.0
    # locale
    phone_region: str = "CN"
    timezone: str = "Asia/Shanghai"
    company_name: str = "示例科技"
    default_language: str = ""  # "" = browser default; else zh-CN | en
    pause_reasons: tuple[str, ...] = ("break", "meal", "training", "after_call_work")
    business_hours: str = "08:00-20:00"
    business_days: str = "1-7"  # ISO weekdays, e.g. "1-5" or "1,2,3,4,5,6"
    holidays: tuple[str, ...] = ()  # ISO dates
    # the PBX (callcenter pbx-config): the DID callers dial and outbound calls show, the
    # IVR's default prompt language (Asterisk's: zh | en), and how the carrier wants
    # numbers: national (13900139001, 01012345678), e164 (+8613900139001) or
    # international (008613900139001, from the region's international prefix)
    pbx_did: str = "4008001234"
    ivr_language: str = "zh"
    # the prompt language per dialled number, as DID=lang pairs, e.g.
    # "4008001234=zh,4008005678=en"; a known customer's own language wins over both, and
    # the caller can switch with 8 in the main menu
    did_languages: tuple[str, ...] = ()
    carrier_number_format: str = "national"
    # the carrier's SIP trunk and NAT, rendered into pjsip.conf (production phones)
    sip_carrier_host: str = ""
    sip_carrier_username: str = ""
    sip_carrier_password: str = ""
    sip_external_address: str = ""
    # outbound
    abandon_rate_cap: float = 0.03
    amd_enabled: bool = False
    dialer_channel: str = "Local/{number}@outbound"  # customer leg; {number}: E.164 sans "+"
    dialer_context: str = "campaign-dial"  # queues an answered campaign call (exten = queue)
    dialer_ring_seconds: int = 30  # before "no answer" (never under 15)
    # operations
    log_json: bool = False
    log_level: str = "INFO"
    outbox_path: str = "var/outbox.db"
    instance_id: str = ""  # empty: hostname + pid
    metrics_token: str = ""  # bearer token for /metrics scrapers off loopback
    # what a finished call owes (callback, violations) and nobody applied at the time
    # (database outage, a crash) is applied by a sweep this often, for calls this recent
    effects_sweep_seconds: float = 30.0
    effects_lookback_minutes: float = 120.0
    # how long the rules retry an event while the database is unreachable, before
    # leaving it to the sweep
    event_retry_seconds: float = 30.0

    @property
    def ring_limit_seconds(self) -> float:
        return self.ring_count * self.ring_cycle_seconds

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def did_language_map(self) -> dict[str, str]:
        """`did_languages` as {DID: language}."""
        pairs = (pair.partition("=") for pair in self.did_languages)
        return {did.strip(): language.strip() for did, _, language in pairs}

    def ami_endpoint_list(self) -> list[AmiEndpoint]:
        """The PBXs this deployment serves (the single `ami_*` one when no list)."""
        if not self.ami_endpoints:
            return [
                AmiEndpoint(
                    name="default",
                    host=self.ami_host,
                    port=self.ami_port,
                    username=self.ami_username,
                    secret=self.ami_secret,
                )
            ]
        return [_parse_endpoint(spec) for spec in self.ami_endpoints]

    def browser_origins(self) -> tuple[str, ...]:
        """`allowed_origins` and the origin of `public_url`, in the form browsers send."""
        origins = {o.strip().lower().rstrip("/") for o in self.allowed_origins if o.strip()}
        if self.public_url:
            parts = urlsplit(self.public_url)
            if parts.scheme and parts.netloc:
                origins.add(f"{parts.scheme}://{parts.netloc}".lower())
        return tuple(sorted(origins))


def _parse_endpoint(spec: str) -> AmiEndpoint:
    form = "name=user:secret@host:port[;agents=PJSIP/2|Local/2]"
    try:
        spec, _, options = spec.partition(";")
        name, rest = spec.split("=", 1)
        creds, address = rest.rsplit("@", 1)
        user, secret = creds.split(":", 1)
        host, port = address.rsplit(":", 1)
        agents: tuple[str, ...] = ()
        if options:
            key, value = options.split("=", 1)
            if key.strip() != "agents" or not value.strip():
                raise ValueError(options)
            agents = tuple(p.strip() for p in value.split("|") if p.strip())
        if not name.strip():
            raise ValueError(spec)
        return AmiEndpoint(
            name=name.strip(),
            host=host,
            port=int(port),
            username=user,
            secret=secret,
            agents=agents,
        )
    except ValueError as exc:
        raise SettingsError(
            f"{ENV_PREFIX}AMI_ENDPOINTS: entry {spec!r} is not of the form {form}"
        ) from exc


_HINTS = typing.get_type_hints(Settings)


def _coerce(name: str, raw: Any, hint: Any) -> Any:
    env = ENV_PREFIX + name.upper()
    origin = typing.get_origin(hint)
    if origin is tuple:
        if isinstance(raw, str):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        if isinstance(raw, list | tuple) and all(isinstance(x, str) for x in raw):
            return tuple(raw)
        raise SettingsError(f"{env}: expected a comma-separated list, got {raw!r}")
    if origin in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if hint is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off", ""}:
            return False
        raise SettingsError(f"{env}: expected true or false, got {raw!r}")
    if hint is int:
        try:
            if isinstance(raw, bool):
                raise ValueError
            return int(str(raw).strip())
        except ValueError as exc:
            raise SettingsError(f"{env}: expected a whole number, got {raw!r}") from exc
    if hint is float:
        try:
            return float(str(raw).strip())
        except ValueError as exc:
            raise SettingsError(f"{env}: expected a number, got {raw!r}") from exc
    if not isinstance(raw, str):
        raise SettingsError(f"{env}: expected text, got {raw!r}")
    return raw


def _validate(s: Settings) -> None:
    def bad(name: str, expected: str, value: Any) -> SettingsError:
        return SettingsError(f"{ENV_PREFIX}{name.upper()}: expected {expected}, got {value!r}")

    if s.ring_count < 1:
        raise bad("ring_count", "a whole number of rings >= 1", s.ring_count)
    if not 0.5 <= s.ring_cycle_seconds <= 30:
        raise bad("ring_cycle_seconds", "seconds per ring between 0.5 and 30", s.ring_cycle_seconds)
    if s.callback_window_minutes <= 0:
        raise bad("callback_window_minutes", "minutes > 0", s.callback_window_minutes)
    if not 0 <= s.callback_warning_minutes < s.callback_window_minutes:
        raise bad(
            "callback_warning_minutes",
            "minutes >= 0 and shorter than the callback window",
            s.callback_warning_minutes,
        )
    if s.abandon_threshold_seconds < 0:
        raise bad("abandon_threshold_seconds", "seconds >= 0", s.abandon_threshold_seconds)
    if not 0 < s.abandon_rate_cap < 1:
        raise bad("abandon_rate_cap", "a fraction between 0 and 1, e.g. 0.03", s.abandon_rate_cap)
    if "{number}" not in s.dialer_channel:
        raise bad(
            "dialer_channel",
            'a dial string with {number}, e.g. "PJSIP/{number}@trunk"',
            s.dialer_channel,
        )
    for name in ("login_max_failures", "login_max_failures_per_address"):
        if getattr(s, name) < 1:
            raise bad(name, "a whole number of failed logins >= 1", getattr(s, name))
    if s.login_window_seconds < 1:
        raise bad("login_window_seconds", "seconds >= 1", s.login_window_seconds)
    if not 0.2 <= s.effects_sweep_seconds <= 3600:
        raise bad("effects_sweep_seconds", "seconds from 0.2 to 3600", s.effects_sweep_seconds)
    if s.event_retry_seconds < 0:
        raise bad("event_retry_seconds", "seconds >= 0", s.event_retry_seconds)
    if s.effects_lookback_minutes < 1:
        raise bad("effects_lookback_minutes", "minutes >= 1", s.effects_lookback_minutes)
    if not 15 <= s.dialer_ring_seconds <= 120:
        raise bad("dialer_ring_seconds", "seconds from 15 to 120", s.dialer_ring_seconds)
    for port_name in ("http_port", "ami_port", "agi_port"):
        port = getattr(s, port_name)
        if not 0 <= port <= 65535:
            raise bad(port_name, "a TCP port 0-65535", port)
    if s.phone_region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise bad("phone_region", "an ISO 3166 region code such as CN or US", s.phone_region)
    try:
        zoneinfo.ZoneInfo(s.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise bad("timezone", "an IANA time zone such as Asia/Shanghai", s.timezone) from exc
    if not s.database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise bad(
            "database_url",
            "sqlite+aiosqlite:///FILE or postgresql+asyncpg://USER@HOST/DB",
            s.database_url,
        )
    if s.redis_url and not s.redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise bad("redis_url", "redis://HOST:PORT/DB (or empty for in-process)", s.redis_url)
    if s.carrier_number_format not in ("national", "e164", "international"):
        raise bad(
            "carrier_number_format", "national, e164 or international", s.carrier_number_format
        )
    for cidr in s.agi_allowed_networks:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError as exc:
            raise bad("agi_allowed_networks", "networks such as 10.0.0.0/8", cidr) from exc
    for cidr in s.ami_permit:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError as exc:
            raise bad("ami_permit", "networks such as 127.0.0.1/32,10.0.0.0/8", cidr) from exc
    if not s.pbx_did.isdigit():
        raise bad("pbx_did", "the DID's digits, e.g. 4008001234", s.pbx_did)
    if s.default_language not in ("", "zh-CN", "en"):
        raise bad("default_language", "zh-CN, en or empty", s.default_language)
    if s.ivr_language not in IVR_LANGUAGES:
        raise bad("ivr_language", " or ".join(IVR_LANGUAGES), s.ivr_language)
    dids: set[str] = set()
    for pair in s.did_languages:
        did, _, language = (part.strip() for part in pair.partition("="))
        if not did.lstrip("+").isdigit() or language not in IVR_LANGUAGES or did in dids:
            raise bad(
                "did_languages",
                "comma-separated DID=lang pairs, one per DID, lang "
                + " or ".join(IVR_LANGUAGES)
                + ", e.g. 4008001234=zh,4008005678=en",
                pair,
            )
        dids.add(did)
    _check_hours(s.business_hours)
    for day in s.holidays:
        try:
            __import__("datetime").date.fromisoformat(day)
        except ValueError as exc:
            raise bad("holidays", "ISO dates like 2026-10-01", day) from exc
    names = [e.name for e in s.ami_endpoint_list()]
    if len(set(names)) != len(names):
        raise bad("ami_endpoints", "one entry per PBX name", ",".join(names))


def _check_hours(text: str) -> None:
    try:
        start, end = text.split("-")
        for part in (start, end):
            hh, mm = part.split(":")
            if not (0 <= int(hh) <= 24 and 0 <= int(mm) < 60):
                raise ValueError
    except ValueError as exc:
        raise SettingsError(
            f"{ENV_PREFIX}BUSINESS_HOURS: expected HH:MM-HH:MM, got {text!r}"
        ) from exc


def load_settings(
    *,
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build the settings: defaults < TOML file < environment < explicit overrides."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    known = {f.name for f in dataclasses.fields(Settings)}

    config_file = config_file or env.get(ENV_PREFIX + "CONFIG") or None
    if config_file:
        path = Path(config_file)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise SettingsError(f"config file {path} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {path} is not valid TOML: {exc}") from exc
        table = data.get("callcenter", data)
        for key, raw in table.items():
            if key not in known:
                raise SettingsError(f"config file {path}: unknown setting {key!r}")
            values[key] = _coerce(key, raw, _HINTS[key])

    for key in known:
        env_name = ENV_PREFIX + key.upper()
        if env_name in env:
            values[key] = _coerce(key, env[env_name], _HINTS[key])

    for key, raw in overrides.items():
        if key not in known:
            raise SettingsError(f"unknown setting {key!r}")
        if raw is not None:
            values[key] = _coerce(key, raw, _HINTS[key])

    settings = Settings(**values)
    _validate(settings)
    return settings


__all__ = ["AmiEndpoint", "Settings", "SettingsError", "load_settings"]
