"""Pseudonymisation, key handling and PII removal."""

import hashlib
import hmac
import logging

import pandas as pd

from ecom_assets.privacy import drop_pii_columns, is_pii_column, load_or_create_key, pseudonym, pseudonymise, scrub_text


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
    monkeypatch.setenv("ECOM_PSEUDONYM_KEY", "secret")
    key = load_or_create_key(tmp_path / "key")
    assert key.key == b"secret" and key.origin == "env"
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
    for name in ["product_name", "brand_name", "user_id", "CustomerID", "user_session", "category_code"]:
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
