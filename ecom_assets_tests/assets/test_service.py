"""The service group on the tiny shop (the `built` warehouse): replies in both languages,
hand-offs with reasons, quality by language, and no personal data anywhere."""

import json

import pandas as pd

from ecom_assets.resources import ShopDataSource
from ecom_assets_tests.conftest import TINY_SHOP, query


def test_replies_cover_the_new_tickets_in_both_languages(built):
    replies = query(built, "SELECT * FROM serving.support_replies")
    tickets = query(built, "SELECT ticket_id FROM staging.stg_support_tickets "
                           "WHERE created_at >= (SELECT cutoff FROM marts.split_cutoff)")
    assert set(replies["ticket_id"]) == set(tickets["ticket_id"]) and len(replies)
    assert set(replies["language"]) == {"en", "zh"}
    assert replies["confidence"].between(0, 1).all()
    handed = replies[replies["handed_off"]]
    assert handed["reason"].notna().all() and handed["text"].isna().all()
    answered = replies[~replies["handed_off"]]
    assert len(answered) and answered["text"].notna().all() and answered["reason"].isna().all()
    assert not answered["text"].str.contains(r"\{[a-z_]+\}").any(), "every account slot of an answer is filled"
    registry = query(built, "SELECT name, status, metrics FROM ml.model_registry WHERE name = 'support_encoder'")
    assert (registry["status"] == "champion").sum() == 1 and "MRR" in json.loads(registry["metrics"].iloc[0])
    assert set(replies["model_version"]) == set(query(built, "SELECT model_version FROM ml.faq_index")["model_version"])


def test_questions_with_personal_data_are_handed_off(built):
    judged = query(built, """
        SELECT r.handed_off, r.reason, t.question FROM serving.support_replies r
        JOIN staging.stg_support_tickets t USING (ticket_id)""")
    personal = judged[judged["question"].str.contains(r"\[(?:email|phone)\]")]
    assert len(personal), "the tiny shop's customers type e-mails and phones into some questions"
    assert personal["handed_off"].all() and (personal["reason"] == "personal data in the question").all()


def test_no_raw_email_or_phone_reaches_any_table(built):
    users = ShopDataSource(**TINY_SHOP).shop.users()
    secrets = set(users["email"].dropna()) | set(users["phone"].dropna())
    with built["warehouse"].connect(read_only=True) as con:
        columns = con.execute("SELECT table_schema, table_name, column_name FROM information_schema.columns "
                              "WHERE data_type = 'VARCHAR'").fetchall()
        for schema, table, column in columns:
            values = con.execute(f'SELECT DISTINCT "{column}" FROM "{schema}"."{table}" WHERE "{column}" IS NOT NULL').fetchall()
            text = "\n".join(v[0] for v in values)
            leaked = [s for s in secrets if s in text]
            assert not leaked, f"{schema}.{table}.{column} holds raw personal data"


def test_quality_report_reads_by_language(built):
    quality = query(built, "SELECT * FROM monitoring.support_quality")
    langs = quality[quality["scope"] == "language"].set_index("value")
    assert set(langs.index) == {"en", "zh"}
    assert ((langs["coverage"] >= 0) & (langs["coverage"] <= 1)).all()
    overall = quality[quality["scope"] == "all"].iloc[0]
    assert 0 <= overall["aurc"] <= 1 and overall["questions"] == len(query(built, """
        SELECT ticket_id FROM serving.support_replies JOIN marts.support_pairs USING (ticket_id)"""))
    pd.testing.assert_series_equal(quality["model_version"].drop_duplicates().reset_index(drop=True),
                                   query(built, "SELECT DISTINCT model_version FROM serving.support_replies")["model_version"],
                                   check_names=False)
