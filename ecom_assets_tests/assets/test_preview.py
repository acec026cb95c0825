import re

from ecom_assets_tests.conftest import query


def _newest_page(built):
    pages = sorted((built["warehouse"].resolved_path.parent / "reports").glob("storefront_*.html"))
    assert pages, "the demo run rendered no storefront preview"
    return pages[-1].read_text(encoding="utf-8")


def test_the_storefront_shows_each_sampled_shopper_their_served_items_in_both_languages(built):
    page = _newest_page(built)
    sections = re.findall(r'<section class="shopper" lang="(\w+)" data-user="([^"]+)".*?</section>', page, flags=re.S)
    assert {lang for lang, _ in sections} == {"zh", "en"}
    served = query(built, "SELECT user_id, item_id FROM serving.recommendations")
    served = set(zip(served["user_id"], served["item_id"]))
    shown = []
    for block in re.findall(r'<section class="shopper".*?</section>', page, flags=re.S):
        user = re.search(r'data-user="([^"]+)"', block).group(1)
        shown += [(user, item) for item in re.findall(r'data-item="([^"]+)"', block)]
    assert shown and set(shown) <= served, sorted(set(shown) - served)[:5]
    segments = query(built, "SELECT DISTINCT u.segment FROM serving.recommendations r JOIN marts.user_features u "
                            "USING (user_id)")["segment"]
    users = {u for _, u in sections}
    assert len(users) >= len(segments)  # at least one shopper of every segment
    assert re.search(r"[\u4e00-\u9fff]", page), "no Chinese on the page"
    assert 'class="copy"' in page and 'class="why"' in page


def test_the_storefront_reasons_name_the_anchor_in_the_page_language(built):
    page = _newest_page(built)
    zh_blocks = re.findall(r'<section class="shopper" lang="zh".*?</section>', page, flags=re.S)
    reasons = [r for block in zh_blocks for r in re.findall(r'<div class="why">([^<]*)</div>', block)]
    assert reasons and all(not r.lower().startswith(("because you viewed", "often bought", "similar to")) for r in reasons)
