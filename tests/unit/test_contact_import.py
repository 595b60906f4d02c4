"""CSV contact import: encodings, header mapping, bad numbers, duplicates, 100,000 rows."""

from __future__ import annotations

import time

import pytest

from crm_core.services.contact_import import ContactFileError, parse_contacts


def test_gbk_file_with_chinese_headers() -> None:
    data = "姓名,手机,公司\n张三,13800138000,华为\n".encode("gbk")
    report = parse_contacts(data)
    assert report.encoding == "gbk"
    assert [(c.name, c.phone_e164, c.company) for c in report.accepted] == [
        ("张三", "+8613800138000", "华为")
    ]


def test_utf8_bom_and_english_headers() -> None:
    data = "\ufeffName,Phone,Time zone\nAnn,+1 212 555 0100,America/New_York\n".encode()
    report = parse_contacts(data)
    assert report.encoding == "utf-8-sig"
    assert report.accepted[0].timezone == "America/New_York"


def test_every_bad_row_is_reported_with_a_reason() -> None:
    data = (
        b"name,phone,timezone\n"
        b"a,abc-not-a-number,\n"
        b",,\n"
        b"b,13800138000,Mars/Base\n"
        b"c,13800138001,\n"
        b"d,+86 138 0013 8001,\n"
        b"e,13900139000,\n"
    )
    report = parse_contacts(data, on_dnc=lambda n: n == "+8613900139000")
    reasons = {r.row: r.reason for r in report.rejected}
    assert reasons == {
        2: "invalid-phone",
        3: "empty-row",
        4: "bad-timezone",
        6: "duplicate",
        7: "do-not-call",
    }
    assert [c.row for c in report.accepted] == [5]
    assert report.merged == 1
    # accepted + rejected account for every data row
    assert len(report.accepted) + len(report.rejected) == 6


def test_duplicate_fills_blanks_of_first_row() -> None:
    data = b"phone,name,company\n13800138000,,\n13800138000,Li,ACME\n"
    report = parse_contacts(data)
    assert report.accepted[0].name == "Li"
    assert report.accepted[0].company == "ACME"


def test_file_without_phone_column_is_refused() -> None:
    with pytest.raises(ContactFileError, match="no phone column"):
        parse_contacts(b"name,email\nx,y\n")


def test_undecodable_file_is_refused() -> None:
    with pytest.raises(ContactFileError):
        parse_contacts(b"phone\n\xff\xff\xff\n")


def test_hundred_thousand_rows_in_reasonable_time() -> None:
    lines = ["姓名,电话"] + [f"客户{i},138{i:08d}" for i in range(100_000)]
    data = "\n".join(lines).encode("gbk")
    started = time.perf_counter()
    report = parse_contacts(data)
    elapsed = time.perf_counter() - started
    assert len(report.accepted) + len(report.rejected) == 100_000
    assert len(report.accepted) == 100_000
    assert elapsed < 60


def test_numbers_not_valid_in_the_region_are_refused_with_their_parameters() -> None:
    """Issue 12 #10: a 7-digit number was accepted (as "+867654321") and dialled."""
    data = b"phone\n7654321\n13800138000\n+1 212 555 0100\n1380013800\n"
    report = parse_contacts(data, region="CN")
    assert [c.phone_e164 for c in report.accepted] == ["+8613800138000", "+12125550100"]
    assert [(r.row, r.reason, r.params) for r in report.rejected] == [
        (2, "invalid-phone", {"number": "7654321", "region": "CN"}),
        (5, "invalid-phone", {"number": "1380013800", "region": "CN"}),
    ]
    # the same national number in the campaign's region "US" is fine
    us = parse_contacts(b"phone\n2125550100\n7654321\n", region="us")
    assert [c.phone_e164 for c in us.accepted] == ["+12125550100"]
    assert us.rejected[0].params == {"number": "7654321", "region": "US"}
