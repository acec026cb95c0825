"""Reading inbox files and mapping public formats onto the canonical schema."""

import json
import os
import time

import pandas as pd
import pytest

from ecom_assets.ingestion import build_load
from ecom_assets.sources.inbox import InboxFileError, new_inbox_files, read_inbox_file
from ecom_assets.sources.mappings import MAPPINGS, detect_mapping
from ecom_assets_tests.conftest import FIXTURES, SHARED_DATA

KEY = b"k"


def _load(path, entity="events"):
    parsed = read_inbox_file(path)
    mapping = detect_mapping(entity, parsed.frame.columns)
    return mapping, build_load(parsed.frame, mapping=mapping, key=KEY, table=f"raw.inbox_{entity}", load_id="t",
                               source="inbox", row_numbers=parsed.row_numbers, unparsed=parsed.unparsed)


def test_uci_online_retail_rows_are_each_accepted_or_quarantined_for_a_reason():
    mapping, load = _load(FIXTURES / "uci_online_retail_small.csv")
    assert mapping.name == "uci_online_retail"
    assert load.rows_read == 11 and len(load.accepted) == 3 and len(load.quarantine) == 8
    acc = load.accepted
    assert acc["event_type"].tolist() == ["purchase", "purchase", "refund"]
    assert acc["quantity"].tolist() == [6, 6, 1], "a cancellation's negative quantity becomes a refunded quantity"
    assert acc["user_id"].str.match(r"^u_[0-9a-f]{24}$").all()
    reasons = dict(zip(load.quarantine["row_number"], load.quarantine["reason"]))
    assert reasons[3].startswith("event_time: not a valid date/time '12/1/2010 8:28'"), "one date format per file (ISO here)"
    assert reasons[5] == "user_id: missing required value"
    assert reasons[6].startswith("user_id: missing required value; quantity: out of range")
    assert reasons[7].startswith("quantity: out of range"), "negative quantity on an ordinary invoice"
    assert "event_time: not a valid date/time 'not a date'" in reasons[8]
    assert "quantity: not a number 'two'" in reasons[9]
    assert reasons[10].startswith("price: out of range")
    assert reasons[11] == "expected 8 fields, found 9 (line 12)"


def test_quarantined_raw_records_carry_pseudonyms_not_customer_ids():
    _, load = _load(FIXTURES / "uci_online_retail_small.csv")
    for record in load.quarantine["raw_record"].dropna():
        assert "13047" not in record and "12583" not in record
    ragged = load.quarantine.set_index("row_number").loc[11]
    assert ragged["raw_record"] is None, "values of an unsplittable line are not kept: positions cannot be trusted"
    record = json.loads(load.quarantine.set_index("row_number").loc[7, "raw_record"])
    assert record["CustomerID"].startswith("u_") and record["StockCode"] == "21778"


def test_the_shared_uci_sample_balances(tmp_path):
    sample = SHARED_DATA / "uci-online-retail" / "online_retail_sample.csv"
    if not sample.exists():
        pytest.skip("shared UCI sample not present")
    _, load = _load(sample)
    assert load.rows_read == 8000 == len(load.accepted) + len(load.quarantine)
    assert len(load.quarantine) > 0 and (load.accepted["event_type"] == "refund").any()


def test_retailrocket_events(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("timestamp,visitorid,event,itemid,transactionid\n"
                    "1433221332117,257597,view,355908,\n"
                    "1433224214164,992329,addtocart,248676,\n"
                    "1433221999827,111016,transaction,318965,17\n"
                    "1433221999999,111016,wishlist,318965,\n"
                    "soon,111016,view,318965,\n")
    mapping, load = _load(path)
    assert mapping.name == "retailrocket_events"
    assert load.accepted["event_type"].tolist() == ["view", "add_to_cart", "purchase"]
    assert load.accepted["event_time"][0] == pd.Timestamp("2015-06-02 05:02:12.117")
    assert "unknown value 'wishlist'" in load.quarantine["reason"][0]
    assert "not a valid date/time 'soon'" in load.quarantine["reason"][1]


def test_rees46_events(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n"
                    "2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,72d76fde\n"
                    "2019-10-01 00:00:01 UTC,cart,3900821,2053013552326770905,appliances.water_heater,aqua,33.20,554748717,9333dfbd\n"
                    "2019-10-01 00:00:02 UTC,remove_from_cart,3900821,2053013552326770905,,aqua,33.20,554748717,9333dfbd\n")
    mapping, load = _load(path)
    assert mapping.name == "rees46_events" and load.quarantine.empty
    assert load.accepted["event_type"].tolist() == ["view", "add_to_cart", "remove_from_cart"]
    assert load.accepted["session_id"][1] == "9333dfbd"


def test_canonical_jsonl_with_a_broken_line(tmp_path):
    path = tmp_path / "events.jsonl"
    good = dict(event_id="x1", event_time="2026-10-02T10:00:00Z", user_id="c-1", event_type="click", item_id="P1", price=3.5)
    path.write_text(json.dumps(good) + "\n{not json\n[1, 2]\n\n" + json.dumps({**good, "event_id": "x2"}) + "\n")
    mapping, load = _load(path)
    assert mapping.name == "canonical_events"
    assert load.rows_read == 4 and len(load.accepted) == 2
    assert load.quarantine["row_number"].tolist() == [2, 3]
    assert load.quarantine["reason"][0].startswith("invalid JSON")


def test_parquet_files_are_read(tmp_path):
    path = tmp_path / "products.parquet"
    pd.DataFrame(dict(item_id=["A", "B"], price=[10.0, -1.0], title_en=["a", "b"])).to_parquet(path)
    mapping, load = _load(path, entity="products")
    assert mapping.name == "canonical_products" and len(load.accepted) == 1 and len(load.quarantine) == 1


@pytest.mark.parametrize("name,content,message", [
    ("events.csv", b"", "empty file"),
    ("events.csv", b"\xff\xfe\x00garbage\x00", "not UTF-8"),
    ("events.jsonl", b"nope\nstill nope\n", "no line is a JSON object"),
    ("events.parquet", b"PAR1 not really", "not a readable Parquet file"),
    ("events.xlsx", b"x", "unsupported file type"),
])
def test_unreadable_files_fail_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InboxFileError, match=message) as err:
        read_inbox_file(path)
    assert str(path) in str(err.value)


def test_files_are_ready_once_they_stop_changing(tmp_path):
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "a.csv").write_text("x\n1\n")
    (tmp_path / "events" / "notes.txt").write_text("ignored")
    (tmp_path / "events" / "b.csv.crdownload").write_text("x\n")
    later = time.time_ns() + 60 * 10**9
    ready, seen = new_inbox_files(tmp_path, {}, now_ns=later)
    assert ready == [] and seen[str(tmp_path / "events" / "a.csv")]["sha256"] is None, "first sight: not ready, not hashed"
    ready, seen = new_inbox_files(tmp_path, seen, now_ns=later)
    assert [os.path.basename(f["path"]) for f in ready] == ["a.csv"] and ready[0]["entity"] == "events"
    assert new_inbox_files(tmp_path, seen, now_ns=time.time_ns() - 10**9)[0] == [], "modified under settle_s ago"
    (tmp_path / "events" / "a.csv").write_text("x\n1\n2\n")
    assert new_inbox_files(tmp_path, seen, now_ns=later)[0] == [], "changed since the last look: still being written"


def test_every_builtin_mapping_is_detectable():
    assert detect_mapping("events", MAPPINGS["uci_online_retail"].required_columns).name == "uci_online_retail"
    assert detect_mapping("events", ["event_id", "event_time", "user_id", "event_type", "item_id"]).name == "canonical_events"
    assert detect_mapping("events", ["foo"]) is None


def test_one_date_convention_per_file_decided_by_the_values(tmp_path):
    header = "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID\n"
    day_first = tmp_path / "dm.csv"
    day_first.write_text(header + "1,A,1,03/04/2011 10:00,1.0,7\n2,B,1,13/04/2011 10:00,1.0,7\n")
    month_first = tmp_path / "md.csv"
    month_first.write_text(header + "1,A,1,03/04/2011 10:00,1.0,7\n2,B,1,04/13/2011 10:00,1.0,7\n")
    _, dm = _load(day_first)
    _, md = _load(month_first)
    assert dm.accepted["event_time"].dt.strftime("%Y-%m-%d").tolist() == ["2011-04-03", "2011-04-13"], "13/04 makes it d/m"
    assert md.accepted["event_time"].dt.strftime("%Y-%m-%d").tolist() == ["2011-03-04", "2011-04-13"]


def test_public_event_ids_come_from_the_row_not_its_position(tmp_path):
    """REES46 exports are monthly files: the same row number is another event in each, and
    the same event delivered in two files is one event."""
    header = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n"
    first = header + "2019-10-01 00:00:00 UTC,view,1,2,,b,1.0,10,s\n2019-10-01 00:00:01 UTC,view,2,2,,b,1.0,10,s\n"
    second = header + "2019-11-01 00:00:00 UTC,view,3,2,,b,1.0,11,t\n2019-10-01 00:00:01 UTC,view,2,2,,b,1.0,10,s\n"
    (tmp_path / "oct.csv").write_text(first)
    (tmp_path / "nov.csv").write_text(second)
    _, oct_ = _load(tmp_path / "oct.csv")
    _, nov = _load(tmp_path / "nov.csv")
    assert oct_.accepted["event_id"][0] != nov.accepted["event_id"][0], "row 1 of two files: two events"
    assert oct_.accepted["event_id"][1] == nov.accepted["event_id"][1], "one event in two files: one id"


def test_a_file_without_a_header_is_refused_without_quoting_its_first_row():
    from ecom_assets.sources.inbox import describe_columns

    text = describe_columns(["CUST-8812345", "2026-10-05 10:00:00", "olivia@example.com", "view"], {"event_id"})
    assert "CUST-8812345" not in text and "olivia" not in text
    assert "is the header row missing?" in text


def test_open_bandit_logs_map_onto_impressions(tmp_path):
    sample = SHARED_DATA / "open-bandit" / "random" / "men" / "men.csv"
    if not sample.exists():
        pytest.skip("the Open Bandit sample is not beside the project")
    mapping, load = _load(sample, entity="impressions")
    assert mapping.name == "open_bandit"
    assert load.rows_read == 10_000 and len(load.accepted) == 10_000, load.quarantine.head()
    acc = load.accepted
    assert acc["propensity"].between(0, 1, inclusive="right").all() and acc["arm"].equals(acc["item_id"])
    assert set(acc["position"]) == {1, 2, 3} and acc["clicked"].dtype == "boolean"
    assert acc["impression_id"].is_unique and json.loads(acc["context"][0]).keys() >= {"user_feature_0"}


def test_an_impression_without_a_usable_propensity_is_quarantined_with_the_reason(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("impression_id,shown_at,item_id,arm,propensity,clicked\n"
                    "i1,2026-10-05 10:00:00,p1,v0,0.25,1\n"
                    "i2,2026-10-05 10:00:01,p1,v1,0,0\n"
                    "i3,2026-10-05 10:00:02,p1,v1,1.5,0\n"
                    "i4,2026-10-05 10:00:03,p1,v1,,0\n"
                    "i5,2026-10-05 10:00:04,p1,v1,1,yes\n")
    _, load = _load(path, entity="impressions")
    assert load.accepted["impression_id"].tolist() == ["i1", "i5"]
    reasons = dict(zip(load.quarantine["row_number"], load.quarantine["reason"]))
    assert reasons[2] == "propensity: out of range (0.0, 1.0]: '0'"
    assert reasons[3] == "propensity: out of range (0.0, 1.0]: '1.5'"
    assert reasons[4] == "propensity: missing required value"


def test_advertisegen_copy_maps_onto_copy_examples():
    sample = SHARED_DATA / "advertisegen" / "advertisegen_sample.jsonl"
    if not sample.exists():
        pytest.skip("the AdvertiseGen sample is not beside the project")
    mapping, load = _load(sample, entity="copy_examples")
    assert mapping.name == "advertisegen"
    assert load.rows_read == 800 and len(load.accepted) == 800, load.quarantine.head()
    acc = load.accepted
    assert acc["example_id"].is_unique and (acc["language"] == "zh").all()
    assert acc["attributes"].str.startswith("类型#").all() and acc["copy"].str.len().min() >= 20


def test_a_copy_example_with_a_malformed_attribute_list_is_quarantined_with_the_reason(tmp_path):
    path = tmp_path / "copy.jsonl"
    path.write_text('{"content": "类型#上衣*颜色#白色", "summary": "白色上衣，简约百搭。"}\n'
                    '{"content": "类型#上衣*颜色白色", "summary": "白色上衣。"}\n'
                    '{"content": "", "summary": "没有属性。"}\n', encoding="utf-8")
    _, load = _load(path, entity="copy_examples")
    assert load.accepted["attributes"].tolist() == ["类型#上衣*颜色#白色"]
    reasons = dict(zip(load.quarantine["row_number"], load.quarantine["reason"]))
    assert reasons[2] == "attributes: malformed value '类型#上衣*颜色白色' (expected key#value pairs joined by '*', e.g. 类型#上衣*颜色#白色)"
    assert reasons[3] == "attributes: missing required value"
