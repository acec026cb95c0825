"""Pseudonymisation, key handling and PII removal."""

import hashlib
import hmac
import logging

import pandas as pd
import pytest

from ecom_assets.privacy import (
    PseudonymKeyError,
    drop_pii_columns,
    is_pii_column,
    load_or_create_key,
    pseudonym,
    pseudonymise,
    scrub_text,
)


def test_pseudonym_is_hmac_sha256_of_the_id():
    expected = hmac.new(b"k", b"U0001", hashlib.sha256).hexdigest()[:24]
    assert pseudonym("U0001", b"k") == "u_" + expected


def test_pseudonyms_depend_on_the_key_and_are_stable():
    ids = pd.Series(["A", "B", "A", None, " ", "17850.0", "17850"])
    a = pseudonymise(ids, b"key-1")
    assert a[0] == a[2] and a[0] != a[1]
    assert a[3] is None and a[4] is None, "missing ids stay missing"
    assert a[5] == a[6], "float-formatted integer ids map to the same person"
    assert pseudonymise(ids, b"key-2")[0] != a[0]


def test_key_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ECOM_PSEUDONYM_KEY", "a-secret-of-some-length")
    key = load_or_create_key(tmp_path / "key")
    assert key.key == b"a-secret-of-some-length" and key.origin == "env"
    assert not (tmp_path / "key").exists()


def test_missing_key_is_generated_locally_with_a_warning(monkeypatch, tmp_path, caplog):
    monkeypatch.delenv("ECOM_PSEUDONYM_KEY")
    with caplog.at_level(logging.WARNING):
        first = load_or_create_key(tmp_path / "secrets" / "key")
    assert first.generated and "ECOM_PSEUDONYM_KEY is not set" in caplog.text
    assert (tmp_path / "secrets" / "key").stat().st_mode & 0o777 == 0o600
    again = load_or_create_key(tmp_path / "secrets" / "key")
    assert again.key == first.key and not again.generated


def test_personal_columns_are_recognised_but_product_names_are_not():
    for name in ["name", "email", "E_mail", "phone", "customer_name", "shipping_address", "ip_address"]:
        assert is_pii_column(name), name
    for name in ["Email Address", "email_address", "e-mail", "mobile_number", "first name", "address_line1",
                 "customer_id", "手机号", "姓名", "身份证", "customer.email", "notes", "Ｅｍａｉｌ"]:
        assert is_pii_column(name), name
    for name in ["product_name", "brand_name", "user_id", "user_session", "category_code", "title_zh", "event_id"]:
        assert not is_pii_column(name), name
    frame, dropped = drop_pii_columns(pd.DataFrame(columns=["user_id", "name", "email", "segment"]))
    assert dropped == ["name", "email"] and list(frame.columns) == ["user_id", "segment"]


def test_contact_details_are_scrubbed_from_free_text():
    text = pd.Series([
        "Hi, my email is olivia.smith123@example.com.",
        "我的电话是138-1234-5678。",
        "Call me on +1 555-123-4567 please",
        "Order 536365 arrived late",
        None,
    ])
    out = scrub_text(text)
    assert out[0] == "Hi, my email is [email]."
    assert "138" not in out[1] and "[phone]" in out[1]
    assert "555" not in out[2]
    assert out[3] == "Order 536365 arrived late", "short numbers such as order ids stay"
    assert out[4] is None


@pytest.mark.parametrize("text, planted", [
    ("call me on 138.1234.5678 tonight", "138.1234.5678"),
    ("身份证号11010519491231002X，请核实", "11010519491231002X"),
    ("ID 110105194912310021 on file", "110105194912310021"),
    ("卡号 6222 0212 3456 7890 123", "6222 0212 3456 7890 123"),
    ("card 4111111111111111 expired", "4111111111111111"),
    ("card 4111-1111-1111-1111", "4111-1111-1111-1111"),
    ("邮箱 olivia.wang＠example.cn 谢谢", "olivia.wang＠example.cn"),
    ("手机：１３８１２３４５６７８", "１３８１２３４５６７８"),
    ("mail bob @ example.com", "bob @ example.com"),
])
def test_the_scrubber_catches_every_shape_the_door_sees(text, planted):
    out = scrub_text(pd.Series([text]))[0]
    assert planted not in out and "[" in out, out


def test_the_scrubber_keeps_the_rest_of_the_text_as_written():
    out = scrub_text(pd.Series(["我的电话是13812345678，能退货吗？", "Order 536365 for 12.50 on 2026-10-01 12:30"]))
    assert out[0] == "我的电话是[phone]，能退货吗？", "full-width punctuation is not normalised away"
    assert out[1] == "Order 536365 for 12.50 on 2026-10-01 12:30", "order ids, prices and dates stay"


@pytest.mark.parametrize("content", [b"", b"   \n", b"x", b"short-key"])
def test_an_empty_or_short_key_is_refused(monkeypatch, tmp_path, content):
    monkeypatch.delenv("ECOM_PSEUDONYM_KEY")
    (tmp_path / "key").write_bytes(content)
    with pytest.raises(PseudonymKeyError, match="empty|bytes"):
        load_or_create_key(tmp_path / "key")
    monkeypatch.setenv("ECOM_PSEUDONYM_KEY", content.decode())
    with pytest.raises(PseudonymKeyError):
        load_or_create_key(tmp_path / "other")


def test_the_key_file_appears_whole_or_not_at_all(monkeypatch, tmp_path):
    """Written under a temporary name and linked into place: no temporary file is left,
    and a second process finding the file reads the same key."""
    monkeypatch.delenv("ECOM_PSEUDONYM_KEY")
    first = load_or_create_key(tmp_path / "key")
    assert [p.name for p in tmp_path.iterdir()] == ["key"]
    assert load_or_create_key(tmp_path / "key").key == first.key and len(first.key) == 64
