"""UI text in zh-CN and English: the user's stored choice, else the browser's."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from crm_core.domain.models import User

LANGUAGES = ("zh-CN", "en")
_DIR = Path(__file__).parent.parent / "i18n"


@cache
def catalog(language: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((_DIR / f"{language}.json").read_text(encoding="utf-8"))
    return data


def from_accept_language(header: str) -> str | None:
    """The first of our languages the browser asks for, by q weight."""
    choices: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        lang, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        choices.append((-q, index, lang.strip().lower()))
    for _, _, lang in sorted(choices):
        if lang.startswith("zh"):
            return "zh-CN"
        if lang.startswith("en"):
            return "en"
    return None


def pick_language(user: User | None, accept_language: str, default: str) -> str:
    if user is not None and user.language in LANGUAGES:
        return user.language
    if default in LANGUAGES:
        return default
    return from_accept_language(accept_language) or "zh-CN"


class Translator:
    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else "en"
        self._text = catalog(self.language)
        self._fallback = catalog("en")

    def __call__(self, key: str, **values: object) -> str:
        text = self._text.get(key) or self._fallback.get(key) or key
        return text.format(**values) if values else text

    def all(self) -> dict[str, str]:
        return {**self._fallback, **self._text}
