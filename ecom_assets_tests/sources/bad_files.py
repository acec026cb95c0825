"""A corpus of files as operators drop them in the inbox: personal data in every side
door, malformed text, wrong places, out-of-range values. Each case says what the door
must do with it:

    loaded   the file lands with exactly `rows` rows read (= accepted + quarantined)
    refused  nothing of it lands; a refusal names the file and says why
    unread   it is not read, and the inbox says so (unknown type or place)

`planted` strings are personal data put in the file on purpose: none may appear anywhere
in the warehouse, the event log or the model store afterwards.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import pandas as pd

T = "2026-10-05 10:00:00"  # a plausible event time
EVENT_HEADER = ["event_id", "event_time", "user_id", "event_type", "item_id"]


@dataclass(frozen=True)
class Case:
    name: str  # path under the inbox, e.g. events/x.csv
    data: bytes
    outcome: str  # loaded | refused | unread
    rows: int | None = None  # rows read, for a loaded file
    planted: tuple[str, ...] = ()
    accepted: int | None = None  # rows accepted, where the case pins it
    extra_files: dict[str, bytes] = field(default_factory=dict)  # e.g. a mapping.json beside it (own inbox)

    @property
    def entity(self) -> str:
        return self.name.split("/")[0]


def _csv(header: list[str], rows: list[list], sep: str = ",", newline: str = "\n") -> bytes:
    lines = [sep.join(header)] + [sep.join(str(v) for v in row) for row in rows]
    return (newline.join(lines) + newline).encode("utf-8")


def _jsonl(records: list) -> bytes:
    return ("\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records) + "\n").encode()


def _event(i: int, **over) -> list:
    row = {"event_id": f"e{i}", "event_time": T, "user_id": f"c{i % 3}", "event_type": "view", "item_id": f"i{i % 4}"}
    row.update(over)
    return list(row.values())


def _parquet(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


EMAIL = "olivia.wang1987@example.com"
PHONE = "13812345678"
PHONE_DOTS = "139.8765.4321"
ID_CARD = "11010519491231002X"
BANK_CARD = "6222 0212 3456 7890 123"
NAME = "Olivia Wangsworth"
ADDRESS = "42 Larkspur Crescent"
CUSTOMER = "CUST-8812345"
NOTE = "prefers calls after 9pm to her landline"

CASES: list[Case] = [
    # ------------------------------------------------------------------ personal data
    Case("events/pii_extra_columns.csv", _csv(
        EVENT_HEADER + ["Email Address", "mobile_number", "first name", "address_line1", "customer_id", "notes"],
        [_event(201) + [EMAIL, PHONE, NAME, ADDRESS, CUSTOMER, NOTE],
         _event(202, event_type="teleport") + [EMAIL, PHONE, NAME, ADDRESS, CUSTOMER, NOTE],
         _event(203, event_time="not a time") + [EMAIL, PHONE, NAME, ADDRESS, CUSTOMER, NOTE]]),
         "loaded", rows=3, accepted=1, planted=(EMAIL, PHONE, NAME, ADDRESS, CUSTOMER, NOTE)),
    Case("events/pii_zh_columns.csv", _csv(EVENT_HEADER + ["手机号", "姓名", "身份证", "email_address", "e-mail"],
                                           [_event(211, event_type="??") + [PHONE, "王小明", ID_CARD, EMAIL, EMAIL]]),
         "loaded", rows=1, accepted=0, planted=(PHONE, "王小明", ID_CARD, EMAIL)),
    Case("events/pii_nested.jsonl", _jsonl([
        {"event_id": "n1", "event_time": T, "user_id": "c1", "event_type": "view", "item_id": "i1",
         "customer": {"email": EMAIL, "phone": PHONE}},
        {"event_id": "n2", "event_time": "later", "user_id": "c1", "event_type": "view", "item_id": "i1",
         "customer": {"email": EMAIL, "name": NAME}, "customer.email": EMAIL}]),
         "loaded", rows=2, accepted=1, planted=(EMAIL, PHONE, NAME)),
    Case("events/phone_in_price.csv", _csv(EVENT_HEADER + ["price", "quantity"],
                                           [_event(221) + [PHONE, 1], _event(222) + [1.5, EMAIL], _event(223) + [2.0, 1]]),
         "loaded", rows=3, accepted=1, planted=(PHONE, EMAIL)),
    Case("events/email_in_event_type.csv", _csv(EVENT_HEADER, [_event(231, event_type=EMAIL), _event(232)]),
         "loaded", rows=2, accepted=1, planted=(EMAIL,)),
    Case("events/email_as_user_id.csv", _csv(EVENT_HEADER, [_event(241, user_id=EMAIL), _event(242, user_id=EMAIL, event_type="x")]),
         "loaded", rows=2, accepted=1, planted=(EMAIL,)),
    Case("events/contact_in_device.csv", _csv(EVENT_HEADER + ["device"], [_event(251) + [f"iPhone of {EMAIL}"],
                                                                         _event(252) + [f"call {PHONE_DOTS}"]]),
         "loaded", rows=2, accepted=2, planted=(EMAIL, PHONE_DOTS)),
    Case("events/no_header.csv", _csv([f"{CUSTOMER}", T, EMAIL, "view", "i1"], [["e2", T, "c2", "view", "i2"]]),
         "refused", planted=(CUSTOMER, EMAIL)),
    Case("events/no_header_repeated.csv", _csv([PHONE, PHONE, EMAIL], [["a", "b", "c"]]), "refused", planted=(PHONE, EMAIL)),
    Case("support_tickets/contact_details.csv", _csv(
        ["ticket_id", "created_at", "language", "channel", "question", "answer", "intent"],
        [["t1", T, "zh", f"wechat {PHONE_DOTS}", f"我的身份证{ID_CARD}，卡号{BANK_CARD}", "已处理", "refund"],
         ["t2", T, "en", "email", "reach me at olivia＠example.org", "done", f"callback {PHONE}"],
         ["t3", T, "en", "chat", "card 4111111111111111 was charged twice", "refunded", "billing"]]),
         "loaded", rows=3, accepted=3, planted=(PHONE_DOTS, ID_CARD, BANK_CARD, "olivia＠example.org", PHONE,
                                                "4111111111111111")),
    Case("support_tickets/bad_language_with_pii.jsonl", _jsonl([
        {"ticket_id": "t9", "created_at": T, "language": "fr", "question": f"mon numéro {PHONE}", "channel": "x"}]),
         "loaded", rows=1, accepted=0, planted=(PHONE,)),
    Case("users/crm_export.csv", _csv(["user_id", "name", "email", "phone", "city", "segment", "age_band"],
                                      [["c1", NAME, EMAIL, PHONE, "Hangzhou", "deal_seeker", "25-34"],
                                       ["c2", NAME, EMAIL, PHONE, "Hangzhou", "deal_seeker", "99+"]]),
         "loaded", rows=2, accepted=1, planted=(NAME, EMAIL, PHONE)),
    Case("users/pii_in_segment.csv", _csv(["user_id", "segment", "city"], [["c3", f"vip {EMAIL}", f"call {PHONE}"]]),
         "loaded", rows=1, accepted=1, planted=(EMAIL, PHONE)),
    Case("events/pii.parquet", _parquet(pd.DataFrame({
        "event_id": ["p1", "p2"], "event_time": [T, "nope"], "user_id": ["c1", "c2"], "event_type": ["view", "view"],
        "item_id": ["i1", "i2"], "email": [EMAIL, EMAIL], "shipping_address": [ADDRESS, ADDRESS]})),
         "loaded", rows=2, accepted=1, planted=(EMAIL, ADDRESS)),
    # ------------------------------------------------------------ rows lost or doubled
    Case("events/unclosed_quote_middle.csv",
         (",".join(EVENT_HEADER) + "\n" + "qm1,%s,c1,\"view,i1\nqm2,%s,c2,view,i2\nqm3,%s,c3,view,i3\nqm4,%s,c1,view,i4\n" % (T, T, T, T))
         .encode(), "loaded", rows=4, accepted=3),
    Case("events/unclosed_quote_last_column.csv",
         (",".join(EVENT_HEADER) + "\n" + "ql1,%s,c1,view,\"i1\nql2,%s,c2,view,i2\nql3,%s,c3,view,i3\n" % (T, T, T)).encode(),
         "loaded", rows=3, accepted=2),
    Case("events/unclosed_quote_at_end.csv",
         (",".join(EVENT_HEADER) + "\n" + "qe1,%s,c1,view,i1\nqe2,%s,c2,view,\"i2\n" % (T, T)).encode(), "loaded", rows=2, accepted=1),
    Case("support_tickets/multiline_answer.csv",
         b"ticket_id,created_at,language,question,answer\n"
         + f'm1,{T},en,where is it,"It ships today.\nTracking follows."\nm2,{T},en,hello,hi\n'.encode(),
         "loaded", rows=2, accepted=2),
    Case("events/line_separator.jsonl", _jsonl([
        {"event_id": "l1", "event_time": T, "user_id": "c1", "event_type": "view", "item_id": "i1", "device": "a\u2028b"},
        {"event_id": "l2", "event_time": T, "user_id": "c1", "event_type": "view", "item_id": "i1", "device": "c\u0085d"},
        {"event_id": "l3", "event_time": T, "user_id": "c1", "event_type": "view", "item_id": "i1", "device": "e\u2029f"}]),
         "loaded", rows=3, accepted=3),
    Case("events/lone_surrogate.jsonl",
         (json.dumps({"event_id": "s1", "event_time": T, "user_id": "c1", "event_type": "view", "item_id": "i1"}) + "\n"
          + '{"event_id": "s2", "event_time": "%s", "user_id": "c1", "event_type": "view", "item_id": "\\ud83d"}\n' % T).encode(),
         "loaded", rows=2, accepted=1),
    Case("events/not_objects.jsonl", _jsonl([
        {"event_id": "o1", "event_time": T, "user_id": "c1", "event_type": "view", "item_id": "i1"}, "[1, 2]", "42", "{oops"]),
         "loaded", rows=4, accepted=1),
    Case("events/all_invalid.jsonl", b"this is not json\nnor this\n", "refused"),
    Case("events/ragged.csv", (",".join(EVENT_HEADER) + f"\nr1,{T},c1,view,i1,extra\nr2,{T},c1\nr3,{T},c1,view,i1\n").encode(),
         "loaded", rows=3, accepted=1),
    Case("events/blank_lines.csv", (",".join(EVENT_HEADER) + f"\n\nb1,{T},c1,view,i1\n\n\nb2,{T},c1,view,i2\n\n").encode(),
         "loaded", rows=2, accepted=2),
    Case("events/crlf.csv", _csv(EVENT_HEADER, [_event(11), _event(12)], newline="\r\n"), "loaded", rows=2, accepted=2),
    Case("events/bom.csv", b"\xef\xbb\xbf" + _csv(EVENT_HEADER, [_event(21)]), "loaded", rows=1, accepted=1),
    Case("events/latin1.csv", (",".join(EVENT_HEADER) + f"\nx1,{T},Müller,view,i1\n").encode("latin-1"), "refused"),
    Case("events/empty.csv", b"", "refused"),
    Case("events/header_only.csv", (",".join(EVENT_HEADER) + "\n").encode(), "loaded", rows=0, accepted=0),
    Case("events/huge_field.csv", (",".join(EVENT_HEADER) + f"\nh1,{T},c1,\"{'v' * 200_000}\nh2,{T},c1,view,i2\n").encode(),
         "loaded", rows=2, accepted=1),
    Case("events/nul_byte.csv", (",".join(EVENT_HEADER) + f"\nz1,{T},c1,vi\x00ew,i1\nz2,{T},c1,view,i2\n").encode(),
         "loaded", rows=2, accepted=1),
    Case("events/tab_separated.tsv", _csv(EVENT_HEADER, [_event(31, item_id="i,1")], sep="\t"), "loaded", rows=1, accepted=1),
    # ------------------------------------------------------------------ values
    Case("events/beyond_int64.csv", _csv(EVENT_HEADER + ["quantity"], [_event(41) + ["99999999999999999999999"],
                                                                       _event(42) + ["-9223372036854775809"],
                                                                       _event(43) + ["2"]]),
         "loaded", rows=3, accepted=1),
    Case("events/not_finite.csv", _csv(EVENT_HEADER + ["price", "dwell_seconds"],
                                       [_event(51) + ["nan", 1], _event(52) + ["inf", 1], _event(53) + ["1e400", 1],
                                        _event(54) + [3.5, "-inf"], _event(55) + [3.5, 2]]),
         "loaded", rows=5, accepted=1),
    Case("events/far_future.csv", _csv(EVENT_HEADER, [_event(61, event_time="2099-01-01 00:00:00"), _event(62)]),
         "loaded", rows=2, accepted=1),
    Case("events/epoch_zero.csv", _csv(EVENT_HEADER, [_event(71, event_time="1970-01-01 00:00:00"), _event(72)]),
         "loaded", rows=2, accepted=1),
    Case("events/duplicate_ids.csv", _csv(EVENT_HEADER, [_event(81), _event(81), _event(82)]), "loaded", rows=3, accepted=2),
    Case("events/dup_across_a.csv", _csv(EVENT_HEADER, [_event(91), _event(92)]), "loaded", rows=2, accepted=2),
    Case("events/dup_across_b.csv", _csv(EVENT_HEADER, [_event(92), _event(93)]), "loaded", rows=2, accepted=1),
    Case("products/bad_values.csv", _csv(["item_id", "title_en", "price", "discount_pct", "is_active", "stock_qty"],
                                         [["i1", "Lamp", "12.5", "10", "yes", "3"], ["i2", "Mug", "-1", "10", "true", "1"],
                                          ["i3", "Cup", "2", "99", "true", "1"], ["i4", "Pan", "2", "5", "maybe", "1"],
                                          ["i5", "Pot", "2", "5", "true", "1.5"]]),
         "loaded", rows=5, accepted=1),
    Case("events/corrupt.parquet", b"PAR1 this is not parquet PAR1", "refused"),
    Case("events/no_mapping_fits.csv", _csv(["foo", "bar"], [["1", "2"]]), "refused"),
    # ------------------------------------------------------------- wrong place or kind
    Case("events/export.xlsx", b"PK\x03\x04 not read", "unread"),
    Case("events/readme.txt", f"contact {EMAIL}".encode(), "unread", planted=(EMAIL,)),
    Case("orders/orders.csv", _csv(EVENT_HEADER, [_event(101)]), "unread"),
    Case("loose_file.csv", _csv(EVENT_HEADER, [_event(102)]), "unread"),
    Case("events/nested/deeper.csv", _csv(EVENT_HEADER, [_event(103)]), "unread"),
    # ------------------------------------------------------------- merchant mappings
    Case("events/list_mapping.csv", _csv(["ts", "who", "what", "sku", "id"], [[T, "c1", "view", "i1", "x1"]]), "refused",
         extra_files={"events/mapping.json": b'["event_time", "user_id"]'}),
    Case("events/two_to_one.csv", _csv(["ts", "when", "who", "what", "sku", "id"], [[T, T, "c1", "view", "i1", "x1"]]),
         "refused", extra_files={"events/mapping.json": json.dumps({"columns": {
             "ts": "event_time", "when": "event_time", "who": "user_id", "what": "event_type", "sku": "item_id",
             "id": "event_id"}}).encode()}),
    Case("events/broken_mapping_json.csv", _csv(["ts"], [[T]]), "refused", extra_files={"events/mapping.json": b"{not json"}),
    Case("events/mapping_ok.csv", _csv(["ts", "who", "what", "sku", "id", "email"],
                                       [[T, "c1", "pv", "i1", "x1", EMAIL], [T, "c1", "like", "i1", "x2", EMAIL]]),
         "loaded", rows=2, accepted=1, planted=(EMAIL,),
         extra_files={"events/mapping.json": json.dumps({"columns": {
             "ts": "event_time", "who": "user_id", "what": "event_type", "sku": "item_id", "id": "event_id"},
             "values": {"event_type": {"pv": "view"}}}).encode()}),
]
