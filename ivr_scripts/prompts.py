"""Every sound file the IVR can make Asterisk play, and the languages it exists in.

The flows take prompt names from here only, so one test can check that each of them,
and every file Asterisk's own SAY routines open, is shipped in every language
(`telephony/sounds/<lang>/<name>.gsm`, produced by `tools/make_prompts.py` from
`telephony/sounds/prompts.toml`; docs/ivr.md, ADR 0040).
"""

from __future__ import annotations

from crm_core.domain.models import CaseStatus

# Asterisk sound languages (the `CHANNEL(language)` values); the first is the default
LANGUAGES: tuple[str, ...] = ("zh", "en")

WELCOME = "cc/welcome"
CLOSED_PRESS_1_FOR_CALLBACK = "cc/closed-press-1-for-callback"
GOODBYE = "cc/goodbye"
MAIN_MENU = "cc/main-menu"
INVALID_CHOICE = "cc/invalid-choice"
NO_OPEN_CASE = "cc/no-open-case"
YOUR_CASE_NUMBER = "cc/your-case-number"
EXPECTED_ON = "cc/expected-on"
CLOSED_ON = "cc/closed-on"
PRESS_0_FOR_AGENT = "cc/press-0-for-agent"
WE_WILL_CALL_YOU_AT = "cc/we-will-call-you-at"
PRESS_1_CONFIRM_2_OTHER = "cc/press-1-confirm-2-other"
ENTER_NUMBER = "cc/enter-number"
INVALID_NUMBER = "cc/invalid-number"
SORRY_GOODBYE = "cc/sorry-goodbye"
WE_WILL_CALL_WITHIN = "cc/we-will-call-within"
MINUTES_THANK_YOU_GOODBYE = "cc/minutes-thank-you-goodbye"
RATE_1_TO_5 = "cc/rate-1-to-5"
THANK_YOU = "cc/thank-you"
# played by the dialplan ([campaign-dial]) when an answered campaign call finds no agent
DIALER_SORRY = "cc/dialer-sorry"


def case_status(status: CaseStatus) -> str:
    return f"cc/case-status-{status.value}"


# what the flows and the dialplan play (STREAM FILE, GET DATA, Playback)
PROMPTS: frozenset[str] = frozenset(
    {
        WELCOME,
        CLOSED_PRESS_1_FOR_CALLBACK,
        GOODBYE,
        MAIN_MENU,
        INVALID_CHOICE,
        NO_OPEN_CASE,
        YOUR_CASE_NUMBER,
        EXPECTED_ON,
        CLOSED_ON,
        PRESS_0_FOR_AGENT,
        WE_WILL_CALL_YOU_AT,
        PRESS_1_CONFIRM_2_OTHER,
        ENTER_NUMBER,
        INVALID_NUMBER,
        SORRY_GOODBYE,
        WE_WILL_CALL_WITHIN,
        MINUTES_THANK_YOU_GOODBYE,
        RATE_1_TO_5,
        THANK_YOU,
        DIALER_SORRY,
        *(case_status(s) for s in CaseStatus),
    }
)

# SAY DATETIME formats per language (Asterisk's say.c letters; quoted text is a file).
# en: "Monday, January fifth, at eleven o'clock a.m." (no year: promised replies are near)
# zh: "一月 五日 星期一 上午 十一点 三十分"
DATETIME_FORMATS: dict[str, str] = {
    "en": "ABd 'digits/at' IMp",
    "zh": "BdApIM",
}

_DIGITS = [f"digits/{n}" for n in range(10)]
_TENS = [f"digits/{n}" for n in range(10, 100, 10)]
_MONTHS = [f"digits/mon-{m}" for m in range(12)]
_WEEKDAYS = [f"digits/day-{d}" for d in range(7)]

# The files Asterisk 22's say.c opens for SAY DIGITS, SAY NUMBER (0-99999999) and SAY
# DATETIME with the formats above, per language: seen on a real Asterisk 22.10.1
# ("Playing" / "does not exist" lines, see docs/ivr.md) and checked against main/say.c.
SAY_FILES: dict[str, frozenset[str]] = {
    "en": frozenset(
        [
            *_DIGITS,
            *(f"digits/{n}" for n in range(10, 20)),
            *_TENS,
            "digits/hundred",
            "digits/thousand",
            "digits/million",
            *_MONTHS,
            *_WEEKDAYS,
            # day of month as an ordinal: h-1 .. h-19, h-20, h-30 (21st = 20 + h-1)
            *(f"digits/h-{n}" for n in range(1, 20)),
            "digits/h-20",
            "digits/h-30",
            "digits/at",
            "digits/oclock",
            "digits/oh",
            "digits/a-m",
            "digits/p-m",
        ]
    ),
    "zh": frozenset(
        [
            *_DIGITS,
            *_TENS,
            "digits/11",  # SAY DATETIME's hour (I) says 11 and 12 as one file
            "digits/12",
            "digits/hundred",
            "digits/thousand",
            "digits/wan",
            *_MONTHS,
            *_WEEKDAYS,
            "digits/day",
            "digits/oclock",
            "digits/a-m",
            "digits/p-m",
            "minute",
        ]
    ),
}


def sound_language(tag: str | None) -> str | None:
    """Asterisk's sound language for a CRM or settings tag ("zh-CN" -> "zh"), None if unknown."""
    if not tag:
        return None
    base = tag.strip().replace("_", "-").split("-")[0].lower()
    if base in ("zh", "cmn"):
        return "zh"
    if base == "en":
        return "en"
    return None


def other_language(language: str) -> str:
    """The language the menu's switch key changes to."""
    return "en" if language == "zh" else "zh"
