"""Phone numbers: one canonical form (E.164) for every way people and PBXs write them.

'+86 138 0013 8000', '13800138000' and '008613800138000' are the same customer.
Numbers that `phonenumbers` cannot place in any region (test numbers such as the
lab's 15551230001, internal extensions) are kept as `+` and their digits only when
they look like a plausible subscriber number (7-15 digits), so calls from them still
land in the CRM (docs/adr/0002-phone-normalisation.md).
"""

from __future__ import annotations

import re

import phonenumbers

_DIGITS = re.compile(r"\d+")
# the most common caller id by far: a mainland mobile, with or without +86 / 0086;
# recognised without a full libphonenumber parse (it is on the screen-pop path)
_CN_MOBILE = re.compile(r"(?:\+86|0086|86)?(1[3-9]\d{9})")
_SEPARATORS = str.maketrans("", "", " -()")


class InvalidPhoneNumber(ValueError):
    error_id = "invalid-phone"

    def __init__(self, raw: str, why: str) -> None:
        super().__init__(f"not a phone number: {raw!r} ({why})")
        self.raw = raw


def normalize(raw: str, region: str = "CN") -> str:
    """Return the E.164 form of `raw`, or raise InvalidPhoneNumber."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber(raw, "empty")
    compact = text.translate(_SEPARATORS)
    fast = _CN_MOBILE.fullmatch(compact)
    if fast is not None and (region.upper() == "CN" or compact[0] in "+0"):
        return "+86" + fast.group(1)
    if len(text) > 40:
        raise InvalidPhoneNumber(raw[:40], "too long")
    digits = "".join(_DIGITS.findall(text))
    if not digits:
        raise InvalidPhoneNumber(raw, "no digits")
    if re.search(r"[^\d\s+\-().]", text):
        raise InvalidPhoneNumber(raw, "contains letters or symbols")
    candidate = text
    if text.startswith("00"):
        candidate = "+" + digits[2:]
    try:
        parsed = phonenumbers.parse(candidate, region.upper())
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(raw, str(exc)) from exc
    if phonenumbers.is_valid_number(parsed):
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    # Not valid anywhere we know: keep a stable digits-only form when plausible.
    if text.startswith(("+", "00")) and 7 <= len(digits.removeprefix("00")) <= 15:
        return "+" + (digits[2:] if text.startswith("00") else digits)
    if 7 <= len(digits) <= 15:
        # a national number we cannot validate: same canonical form as a valid one would get
        code = phonenumbers.country_code_for_region(region.upper())
        national = digits[1:] if digits.startswith("0") else digits
        return f"+{code}{national}" if code else "+" + digits
    raise InvalidPhoneNumber(raw, "not a valid number for region " + region.upper())


def display_phone(e164: str, region: str = "CN") -> str:
    """A stored number as people of `region` write it: a number of the region in its
    national digits (+8613800138000 → 13800138000, +861012345678 → 01012345678), any
    other in E.164. What cannot be parsed is shown as stored."""
    if e164.startswith("+86") and region.upper() == "CN":
        fast = _CN_MOBILE.fullmatch(e164)
        if fast is not None:  # the common case, without a full parse
            return fast.group(1)
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    if phonenumbers.region_code_for_number(parsed) != region.upper():
        return e164
    text = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return "".join(_DIGITS.findall(text)) or e164


def try_normalize(raw: str | None, region: str = "CN") -> str | None:
    """Like `normalize` but None for anything that is not a number (PBX caller ids)."""
    if not raw:
        return None
    try:
        return normalize(raw, region)
    except InvalidPhoneNumber:
        return None


CARRIER_FORMS = ("national", "e164", "international")


def carrier_digits(number: str, region: str = "CN", form: str = "national") -> str:
    """`number` as the carrier of `region` wants it dialled (setting carrier_number_format):

    - `national`: as a caller in `region` dials it — 13900139001, 01012345678, and a
      foreign number with the region's international prefix (0016502530000 from CN);
    - `e164`: +8613900139001;
    - `international`: the region's international prefix, country code, national
      number — 008613900139001 (011 from the US).

    Raises InvalidPhoneNumber for what is not a phone number.
    """
    if form not in CARRIER_FORMS:
        raise ValueError(f"carrier number form: expected one of {CARRIER_FORMS}, got {form!r}")
    e164 = normalize(number, region)
    if form == "e164":
        return e164
    parsed = phonenumbers.parse(e164, None)
    if form == "national":
        text = phonenumbers.format_out_of_country_calling_number(parsed, region.upper())
        return "".join(_DIGITS.findall(text)) if not text.startswith("+") else text
    significant = phonenumbers.national_significant_number(parsed)
    return f"{_international_prefix(region)}{parsed.country_code}{significant}"


def _international_prefix(region: str) -> str:
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region.upper())
    if meta is not None:
        for prefix in (meta.preferred_international_prefix, meta.international_prefix):
            if prefix and prefix.isdigit():
                return prefix
    return "00"
