"""Every sound the IVR can make Asterisk play is shipped, in every language (ADR 0040)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from callcenter.settings import IVR_LANGUAGES
from crm_core.domain.models import CaseStatus
from ivr_scripts import flows, prompts

ROOT = Path(__file__).resolve().parents[2]
SOUNDS = ROOT / "telephony" / "sounds"
GSM_FRAME = 33  # bytes per 20 ms of GSM 06.10 (Asterisk's format_gsm)


def _toml() -> dict[str, dict[str, object]]:
    data = tomllib.loads((SOUNDS / "prompts.toml").read_text(encoding="utf-8"))
    return data["prompts"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("language", prompts.LANGUAGES)
def test_every_prompt_and_say_file_exists(language: str) -> None:
    wanted = prompts.PROMPTS | prompts.SAY_FILES[language]
    missing = sorted(n for n in wanted if not (SOUNDS / language / f"{n}.gsm").is_file())
    assert missing == []
    for name in wanted:
        size = (SOUNDS / language / f"{name}.gsm").stat().st_size
        assert size > 0, name
        assert size % GSM_FRAME == 0, name  # whole GSM frames


def test_every_case_status_has_a_prompt() -> None:
    assert {prompts.case_status(s) for s in CaseStatus} <= prompts.PROMPTS


def test_prompts_toml_is_the_source_of_every_file() -> None:
    texts = _toml()
    for language in prompts.LANGUAGES:
        for name in prompts.PROMPTS | prompts.SAY_FILES[language]:
            assert language in texts.get(name, {}), f"{name} has no {language} text"
    shipped = {
        str(p.relative_to(SOUNDS / lang).with_suffix(""))
        for lang in prompts.LANGUAGES
        for p in (SOUNDS / lang).rglob("*.gsm")
    }
    assert shipped <= set(texts), "a .gsm without a text: run tools/make_prompts.py"
    assert (SOUNDS / "moh" / "default.gsm").stat().st_size > 0


def test_flows_play_only_registered_prompts() -> None:
    """No literal prompt name in flows.py: each comes from ivr_scripts.prompts."""
    tree = ast.parse(Path(flows.__file__).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("stream_file", "get_data")
            and node.args
        ):
            first = node.args[0]
            assert not isinstance(first, ast.Constant | ast.JoinedStr), ast.unparse(node)


def test_languages_agree_with_the_settings() -> None:
    assert set(prompts.LANGUAGES) == set(IVR_LANGUAGES)
    assert set(prompts.DATETIME_FORMATS) == set(prompts.LANGUAGES)


@pytest.mark.parametrize(
    ("tag", "language"),
    [
        ("zh-CN", "zh"),
        ("zh", "zh"),
        ("zh_TW", "zh"),
        ("en", "en"),
        ("en-GB", "en"),
        ("fr", None),
        ("", None),
        (None, None),
    ],
)
def test_sound_language_maps_crm_tags(tag: str | None, language: str | None) -> None:
    assert prompts.sound_language(tag) == language
