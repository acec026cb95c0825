import re

import pandas as pd

from ecom_assets.ml.recsys.storefront import reason_in, render_storefront, sample_users, storefront_cards


def test_reasons_are_said_in_the_page_language_with_the_anchor_s_own_title():
    assert reason_in("zh", "because you viewed Trail Tent 2P", "双人帐篷") == "因为您浏览过「双人帐篷」"
    assert reason_in("en", "because you viewed Trail Tent 2P", "Trail Tent 2P") == "Because you viewed Trail Tent 2P"
    assert reason_in("zh", "often bought with Bike Light", "车灯") == "常与「车灯」一起购买"
    assert reason_in("zh", "similar to Mug", None) == "与「Mug」相似"  # no anchor title: the served name
    assert reason_in("zh", "popular in the shop") == "全店热销"
    assert reason_in("zh", "popular in Camping, which you viewed") == "您浏览过的「Camping」类热销"
    assert reason_in("en", "popular with bargain hunter shoppers") == "Popular with bargain hunter shoppers"
    assert reason_in("zh", "popular in CN") == "「CN」热销"
    assert reason_in("zh", "something new") == "something new"  # an unknown form is shown as served


def test_users_are_sampled_per_segment_reproducibly():
    users = pd.DataFrame({"user_id": [f"u{i:02d}" for i in range(30)], "segment": ["a"] * 20 + ["b"] * 8 + ["c"] * 2})
    first, again = sample_users(users, 3, seed=4), sample_users(users, 3, seed=4)
    assert first.equals(again)
    assert first.groupby("segment").size().to_dict() == {"a": 3, "b": 3, "c": 2}
    assert first["user_id"].is_unique


def _cards():
    lists = pd.DataFrame({"user_id": ["u1", "u1", "u2"], "segment": ["s", "s", "t"], "rank": [1, 2, 1],
                          "item_id": ["i1", "i2", "i1"], "reason": ["because you viewed Tent <2P>", "popular in the shop",
                                                                   "popular in the shop"],
                          "anchor_item_id": ["i2", None, None]})
    catalogue = pd.DataFrame({"item_id": ["i1", "i2"], "title_en": ["Lamp", "Tent <2P>"], "title_zh": ["台灯", "双人帐篷"],
                              "price": [100.0, 300.0], "discount_pct": [0.0, 20.0], "effective_price": [100.0, 240.0],
                              "currency": ["CNY", "CNY"]})
    copy_lines = pd.DataFrame({"item_id": ["i1", "i1"], "segment": ["s", "s"], "user_language": ["zh", "en"],
                               "text": ["好用的台灯", "A lamp & more"]})
    return storefront_cards(lists, catalogue, copy_lines, ["zh", "en"], k=8)


def test_each_card_joins_the_title_price_line_and_reason_of_its_language():
    cards = _cards()
    assert len(cards) == 6  # 3 served slots x 2 languages
    zh = cards[(cards["language"] == "zh") & (cards["user_id"] == "u1")].set_index("item_id")
    assert zh.at["i1", "title"] == "台灯" and zh.at["i1", "copy"] == "好用的台灯"
    assert zh.at["i1", "reason_shown"] == "因为您浏览过「双人帐篷」"
    assert pd.isna(zh.at["i2", "copy"])  # no line for that product and segment: none shown, nothing invented
    assert cards[(cards["user_id"] == "u2")]["copy"].isna().all()  # lines are per segment


def test_the_page_escapes_text_and_marks_every_card_with_its_user_and_item():
    page = render_storefront(_cards(), "Preview", "sub")
    assert "Tent <2P>" not in page and "Tent &lt;2P&gt;" in page
    assert "A lamp &amp; more" in page
    sections = re.findall(r'<section class="shopper" lang="(\w+)" data-user="(\w+)"', page)
    assert sorted(sections) == [("en", "u1"), ("en", "u2"), ("zh", "u1"), ("zh", "u2")]
    assert page.count('class="card"') == 6
    assert "240.00 CNY" in page and "<s>300.00</s>" in page and "-20%" in page


def test_one_arm_is_drawn_per_context_by_its_propensity():
    from ecom_assets.ml.copy.arms import draw_arm_per_context

    table = pd.DataFrame({"item_id": ["a"] * 3 + ["b"] * 2, "arm": ["x", "y", "z", "x", "y"],
                          "propensity": [0.0, 1.0, 0.0, 0.25, 0.75]})
    assert draw_arm_per_context(table, ["item_id"], seed=0).set_index("item_id").at["a", "arm"] == "y"
    drawn = [draw_arm_per_context(table, ["item_id"], seed=s).set_index("item_id").at["b", "arm"] for s in range(400)]
    assert 0.65 < drawn.count("y") / len(drawn) < 0.85
    assert draw_arm_per_context(table, ["item_id"], 3).equals(draw_arm_per_context(table, ["item_id"], 3))
