"""Redaction of personal numbers on the public Open311 feed (case_service.open311.redaction)."""

from __future__ import annotations

import pytest

from case_service.open311.redaction import redact

PHONE, ID, CARD, PLATE = "[电话号码]", "[身份证号]", "[银行卡号]", "[车牌号]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("电话13812345678请联系", f"电话{PHONE}请联系"),
        ("手机 138 1234 5678", f"手机 {PHONE}"),
        ("手机138-1234-5678。", f"手机{PHONE}。"),
        ("+86 13812345678", PHONE),
        ("008613812345678", PHONE),
        ("１３８１２３４５６７８", PHONE),  # full-width digits
        ("座机0571-88886666转123", f"座机{PHONE}"),
        ("（0571）88886666", PHONE),
        ("010 6552 8888", PHONE),
        ("电话：88886666", f"电话：{PHONE}"),
        ("13812345678 13912345678", f"{PHONE} {PHONE}"),
        ("13812345678/0571-88886666", f"{PHONE}/{PHONE}"),
    ],
)
def test_phone_numbers(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("身份证号330106199001011234，", f"身份证号{ID}，"),
        ("33010619900101123X号", f"{ID}号"),
        ("33010619900101123x", ID),
        ("330106 19900101 1234", ID),
        ("老身份证330106900101123", f"老身份证{ID}"),  # 15 digits, before 1999
    ],
)
def test_id_card_numbers(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("卡号6222021234567890123", f"卡号{CARD}"),
        ("卡 6222 0212 3456 7890", f"卡 {CARD}"),
        ("6222-0212-3456-7890-12", CARD),
        ("6222 0212 3456 7890 13812345678", f"{CARD} {PHONE}"),
    ],
)
def test_bank_card_numbers(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("车牌浙A12345停在门口", f"车牌{PLATE}停在门口"),
        ("浙AD12345 新能源", f"{PLATE} 新能源"),
        ("浙A1234学", PLATE),
        ("苏e·12345", PLATE),
        ("京 N88888堵住消防通道", f"{PLATE}堵住消防通道"),
    ],
)
def test_plates(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "门牌12号3单元501室",
        "2026-12-07 早上8点，约30平方米",
        "云Server坏了",  # a province character before a word is not a plate
        "浙A座会议室",
        "井盖直径60厘米，深1.2米",
        "12345热线",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_no_slice_of_a_longer_number_and_long_runs_hidden_whole() -> None:
    assert redact("订单号20261207000012345678901") == "订单号[号码]"
    assert redact("tel13812345678") == f"tel{PHONE}"  # letters do not protect a number
    assert redact("编号1381234567890") == "编号1381234567890"  # no phone cut out of 13 digits


def test_email_and_many_in_one_text() -> None:
    text = (
        "王某（13812345678，身份证330106199001011234）的车浙A12345，"
        "卡6222021234567890123，a.b@example.com"
    )
    out = redact(text)
    for secret in ("13812345678", "330106199001011234", "浙A12345", "6222021234567890123", "@"):
        assert secret not in out
    assert out == f"王某（{PHONE}，身份证{ID}）的车{PLATE}，卡{CARD}，[邮箱]"


def test_english_markers_and_empty_text() -> None:
    assert redact("电话13812345678", "en") == "电话[phone number]"
    assert redact(None) == ""
    assert redact("") == ""
