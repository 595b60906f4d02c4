"""Phone normalisation: every way people and PBXs write a number maps to one E.164 key."""

from __future__ import annotations

import pytest

from crm_core.phones import (
    InvalidPhoneNumber,
    carrier_digits,
    display_phone,
    normalize,
    try_normalize,
)

SAME_MOBILE = [
    "+86 138 0013 8000",
    "13800138000",
    "008613800138000",
    "+8613800138000",
    "86 138-0013-8000",
    "(+86) 138 0013 8000",
    " 138 0013 8000 ",
]


@pytest.mark.parametrize("raw", SAME_MOBILE)
def test_every_form_of_a_chinese_mobile_is_one_key(raw: str) -> None:
    assert normalize(raw) == "+8613800138000"


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("86-10-12345678", "CN", "+861012345678"),
        ("010 1234 5678", "CN", "+861012345678"),
        ("(650) 253-0000", "US", "+16502530000"),
        ("+1 650 253 0000", "CN", "+16502530000"),
        ("0016502530000", "CN", "+16502530000"),
        ("020 7946 0018", "GB", "+442079460018"),
    ],
)
def test_landlines_and_other_regions(raw: str, region: str, expected: str) -> None:
    assert normalize(raw, region) == expected


def test_lab_numbers_not_valid_in_the_region_keep_a_stable_form() -> None:
    # the captures' caller ids are not valid Chinese numbers but must still be storable,
    # and every way of writing them must give the same key
    key = normalize("15551230001")
    assert key.startswith("+")
    assert key.endswith("15551230001")
    assert normalize(" 155-5123-0001 ") == key


def test_region_is_case_insensitive() -> None:
    assert normalize("6502530000", "us") == "+16502530000"


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("abc", "no digits"),
        ("1380013800x", "letters"),
        ("123", "region"),
        ("+", "no digits"),
        ("1" * 60, "too long"),
        ("+86 138 0013 8000; DROP TABLE customers", "letters"),
    ],
)
def test_invalid_input_gives_a_clear_error_naming_it(raw: str, why: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize(raw)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.error_id == "invalid-phone"
    assert "not a phone number" in str(err)
    assert why in str(err)
    if raw.strip():
        assert raw.strip()[:10] in str(err)  # names the input


@pytest.mark.parametrize("raw", [None, "", "anonymous", "<unknown>", "123", "s"])
def test_try_normalize_never_raises_for_pbx_caller_ids(raw: str | None) -> None:
    assert try_normalize(raw) is None


def test_try_normalize_returns_the_key_for_a_real_number() -> None:
    assert try_normalize("008613800138000") == "+8613800138000"


@pytest.mark.parametrize(
    ("raw", "region", "form", "expected"),
    [
        ("13900139001", "CN", "national", "13900139001"),
        ("+86 139 0013 9001", "CN", "national", "13900139001"),
        ("008613900139001", "CN", "national", "13900139001"),
        ("010 1234 5678", "CN", "national", "01012345678"),
        ("+1 650 253 0000", "CN", "national", "0016502530000"),
        ("13900139001", "CN", "e164", "+8613900139001"),
        ("13900139001", "CN", "international", "008613900139001"),
        ("+8613900139001", "US", "international", "0118613900139001"),
        ("(650) 253-0000", "US", "e164", "+16502530000"),
    ],
)
def test_carrier_digits_in_the_form_the_carrier_wants(
    raw: str, region: str, form: str, expected: str
) -> None:
    assert carrier_digits(raw, region, form) == expected


def test_carrier_digits_refuses_what_is_not_a_number_or_form() -> None:
    with pytest.raises(InvalidPhoneNumber):
        carrier_digits("call me", "CN", "national")
    with pytest.raises(ValueError, match="carrier number form"):
        carrier_digits("13900139001", "CN", "e.164")


@pytest.mark.parametrize(
    ("e164", "region", "shown"),
    [
        ("+8613800138000", "CN", "13800138000"),  # a mainland mobile
        ("+861012345678", "CN", "01012345678"),  # a Beijing landline keeps its trunk 0
        ("+16502530000", "CN", "+16502530000"),  # a foreign number stays international
        ("+8613800138000", "US", "+8613800138000"),
        ("+16502530000", "US", "6502530000"),
        ("+15551230001", "CN", "+15551230001"),  # not valid anywhere: as stored
        ("not-a-number", "CN", "not-a-number"),
    ],
)
def test_display_phone(e164: str, region: str, shown: str) -> None:
    assert display_phone(e164, region) == shown
