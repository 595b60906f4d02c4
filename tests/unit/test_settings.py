"""Settings: defaults, TOML < environment precedence, and errors that name the setting."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from callcenter.settings import Settings, SettingsError, load_settings


def test_defaults_are_the_embedded_mode() -> None:
    s = load_settings(environ={})
    assert s.database_url.startswith("sqlite+aiosqlite:///")
    assert s.redis_url == ""
    assert (s.ring_count, s.ring_cycle_seconds, s.ring_limit_seconds) == (3, 5.0, 15.0)
    assert s.callback_window_minutes == 30.0
    assert s.phone_region == "CN"
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.ring_count = 4  # type: ignore[misc]


def test_environment_overrides_toml(tmp_path: Path) -> None:
    cfg = tmp_path / "cc.toml"
    cfg.write_text(
        '[callcenter]\nring_count = 4\nphone_region = "US"\npause_reasons = ["a", "b"]\n',
        encoding="utf-8",
    )
    s = load_settings(
        config_file=cfg,
        environ={"CALLCENTER_RING_COUNT": "5", "CALLCENTER_LOG_JSON": "yes"},
    )
    assert s.ring_count == 5
    assert s.phone_region == "US"
    assert s.pause_reasons == ("a", "b")
    assert s.log_json is True


def test_config_file_from_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "cc.toml"
    cfg.write_text("http_port = 9090\n", encoding="utf-8")
    assert load_settings(environ={"CALLCENTER_CONFIG": str(cfg)}).http_port == 9090


def test_list_from_environment_is_comma_separated() -> None:
    s = load_settings(environ={"CALLCENTER_HOLIDAYS": "2026-10-01, 2026-10-02"})
    assert s.holidays == ("2026-10-01", "2026-10-02")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("RING_COUNT", "three", "whole number"),
        ("RING_COUNT", "0", ">= 1"),
        ("RING_CYCLE_SECONDS", "fast", "a number"),
        ("LOG_JSON", "maybe", "true or false"),
        ("HTTP_PORT", "70000", "TCP port"),
        ("PHONE_REGION", "XX", "ISO 3166"),
        ("TIMEZONE", "Mars/Olympus", "IANA"),
        ("DATABASE_URL", "mysql://x", "sqlite+aiosqlite"),
        ("REDIS_URL", "http://x", "redis://"),
        ("BUSINESS_HOURS", "8-20", "HH:MM-HH:MM"),
        ("HOLIDAYS", "tomorrow", "ISO dates"),
        ("ABANDON_RATE_CAP", "3", "fraction"),
        ("CALLBACK_WARNING_MINUTES", "45", "shorter than the callback window"),
        ("AMI_ENDPOINTS", "pbx1@host", "name=user:secret@host:port"),
        ("IVR_LANGUAGE", "zh-CN", "zh or en"),
        ("DID_LANGUAGES", "4008001234=fr", "DID=lang"),
        ("DID_LANGUAGES", "sales=en", "DID=lang"),
        ("DID_LANGUAGES", "4008001234=en,4008001234=zh", "one per DID"),
    ],
)
def test_invalid_environment_value_names_the_setting(name: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(environ={f"CALLCENTER_{name}": value})
    assert f"CALLCENTER_{name}" in str(info.value)
    assert expected in str(info.value)


def test_toml_errors_name_the_file_and_setting(tmp_path: Path) -> None:
    bad_type = tmp_path / "type.toml"
    bad_type.write_text('ring_count = "many"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="CALLCENTER_RING_COUNT"):
        load_settings(config_file=bad_type, environ={})

    unknown = tmp_path / "unknown.toml"
    unknown.write_text("ring_cont = 3\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="unknown setting 'ring_cont'"):
        load_settings(config_file=unknown, environ={})

    broken = tmp_path / "broken.toml"
    broken.write_text("ring_count = \n", encoding="utf-8")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(config_file=broken, environ={})

    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(config_file=tmp_path / "missing.toml", environ={})


def test_did_languages_from_environment() -> None:
    s = load_settings(
        environ={
            "CALLCENTER_IVR_LANGUAGE": "en",
            "CALLCENTER_DID_LANGUAGES": "4008001234=zh, +8675512345678 = en",
        }
    )
    assert s.ivr_language == "en"
    assert s.did_language_map() == {"4008001234": "zh", "+8675512345678": "en"}


def test_every_field_has_an_environment_name() -> None:
    # each field can be set from the environment without a SettingsError for its type
    for field in dataclasses.fields(Settings):
        default = getattr(Settings(), field.name)
        if isinstance(default, tuple):
            raw = ",".join(default)
        elif isinstance(default, bool):
            raw = "true" if default else "false"
        else:
            raw = str(default)
        s = load_settings(environ={f"CALLCENTER_{field.name.upper()}": raw})
        assert getattr(s, field.name) == default, field.name
