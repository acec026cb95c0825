"""Validation: every row accepted or quarantined with a field and a reason."""

import json

import numpy as np
import pandas as pd

from ecom_assets.schema import SCHEMAS
from ecom_assets.validation import validate


def _events(**overrides):
    row = dict(event_id="e1", event_time="2026-10-01 10:00:00", user_id="u_1", session_id="s",
               event_type="view", item_id="P1", price="9.9", quantity="", dwell_seconds="", device="app")
    row.update(overrides)
    return row


def test_good_rows_are_typed_and_bad_rows_quarantined_with_reasons():
    frame = pd.DataFrame([
        _events(),
        _events(event_id="e2", event_type="teleport"),
        _events(event_id="e3", price="-1"),
        _events(event_id="e4", user_id=""),
        _events(event_id="e5", event_time="yesterday"),
        _events(event_id="e6", quantity="1.5"),
        _events(event_id="e7", price="abc", item_id=" "),
        _events(event_id="e1"),  # duplicate key
    ])
    result = validate(frame, SCHEMAS["events"], row_numbers=np.arange(2, 10))
    assert result.rows_read == 8
    assert len(result.accepted) + len(result.quarantine) == 8
    assert list(result.accepted["event_id"]) == ["e1"]
    assert result.accepted["price"].dtype == "float64"
    assert pd.api.types.is_datetime64_any_dtype(result.accepted["event_time"])
    q = result.quarantine.set_index("row_number")
    assert q.loc[3, "field"] == "event_type" and "unknown value 'teleport'" in q.loc[3, "reason"]
    assert q.loc[4, "field"] == "price" and "out of range" in q.loc[4, "reason"]
    assert q.loc[5, "reason"] == "user_id: missing required value"
    assert "not a valid date/time 'yesterday'" in q.loc[6, "reason"]
    assert "not a whole number '1.5'" in q.loc[7, "reason"]
    assert q.loc[8, "field"] == "item_id;price", "every failing field is named"
    assert q.loc[9, "reason"] == "event_id: duplicate key within this load"
    assert json.loads(q.loc[3, "raw_record"])["event_type"] == "teleport"


def test_already_typed_frames_pass_through_cheaply():
    frame = pd.DataFrame(dict(
        event_id=["a", "b"], event_time=pd.to_datetime(["2026-10-01", "2026-10-02"]), user_id=["u_1", "u_2"],
        session_id=["s", "s"], event_type=["view", "purchase"], item_id=["P1", "P2"], price=[1.0, 2.0],
        quantity=[np.nan, 2.0], dwell_seconds=[np.nan, np.nan], device=["app", "app"],
    ))
    result = validate(frame, SCHEMAS["events"])
    assert len(result.accepted) == 2 and result.quarantine.empty
    assert result.accepted["quantity"].tolist()[1] == 2


def test_raw_records_kept_for_the_quarantine_are_the_given_safe_ones():
    frame = pd.DataFrame([_events(user_id="")])
    safe = pd.DataFrame([{"visitor": None, "what": "view"}])
    result = validate(frame, SCHEMAS["events"], raw_records=safe)
    assert json.loads(result.quarantine["raw_record"][0]) == {"visitor": None, "what": "view"}


def test_booleans_and_dates_in_products():
    frame = pd.DataFrame([
        dict(item_id="P1", price="10", is_active="yes", launch_date="2026-01-02"),
        dict(item_id="P2", price="10", is_active="maybe", launch_date="2026-01-02"),
    ])
    result = validate(frame, SCHEMAS["products"])
    assert result.accepted["is_active"].tolist() == [True]
    assert "not a boolean 'maybe'" in result.quarantine["reason"][0]
