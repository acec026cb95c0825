"""The page a shopper would see: a storefront preview of the served lists.

For a sample of users per segment, their recommended items as cards (title, price, the
discount when on sale, the published ad line and the reason the list gives), in each
language the shop speaks. A marketer reads it to judge the recommendations and the copy
together; the browser tests read its `data-*` attributes to check that every card is an
item the serving table holds for that user.

Pure functions over frames: `sample_users` picks the users, `storefront_cards` joins what
each card shows, `render_storefront` writes the HTML (one file, no scripts, no external
resources, so it opens from disk or as a CI artefact).
"""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd

LANGUAGE_NAMES = {"en": "English", "zh": "中文"}
# Fonts with CJK glyphs first: without one a browser draws Chinese as empty boxes.
FONT_STACK = '"WenQuanYi Micro Hei", "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif'

_REASONS = [  # (the served English reason, English, Chinese, whether {x} is an item); {x}: the anchor or the place
    (re.compile(r"^often bought with (?P<x>.+)$"), "Often bought with {x}", "常与「{x}」一起购买", True),
    (re.compile(r"^because you viewed (?P<x>.+)$"), "Because you viewed {x}", "因为您浏览过「{x}」", True),
    (re.compile(r"^similar to (?P<x>.+)$"), "Similar to {x}", "与「{x}」相似", True),
    (re.compile(r"^popular in the shop$"), "Popular in the shop", "全店热销", False),
    (re.compile(r"^popular in (?P<x>.+), which you viewed$"), "Popular in {x}, which you viewed", "您浏览过的「{x}」类热销",
     False),
    (re.compile(r"^popular with (?P<x>.+) shoppers$"), "Popular with {x} shoppers", "「{x}」顾客喜爱", False),
    (re.compile(r"^popular in (?P<x>.+)$"), "Popular in {x}", "「{x}」热销", False),
]


def reason_in(language: str, reason: str, anchor_title: str | None = None) -> str:
    """The served reason (ml.recsys.explanations writes it in English) in `language`; an
    anchor item is named by its title in that language when given. A reason of an unknown
    form is shown as served."""
    for pattern, english, chinese, names_item in _REASONS:
        match = pattern.match(reason or "")
        if match:
            x = match.groupdict().get("x", "")
            if names_item and anchor_title:
                x = anchor_title
            return (chinese if language == "zh" else english).format(x=x)
    return reason or ""


def sample_users(users: pd.DataFrame, per_segment: int, seed: int) -> pd.DataFrame:
    """`per_segment` users of each segment (user_id, segment), drawn with `seed`, among the
    users `users` holds (those with a served list)."""
    rng = np.random.default_rng(seed)
    picked = []
    for segment, group in users.sort_values("user_id").groupby("segment", sort=True):
        take = min(per_segment, len(group))
        picked.append(group.iloc[np.sort(rng.choice(len(group), size=take, replace=False))])
    return pd.concat(picked, ignore_index=True) if picked else users.iloc[:0]


def storefront_cards(lists: pd.DataFrame, catalogue: pd.DataFrame, copy_lines: pd.DataFrame, languages: list[str],
                     k: int) -> pd.DataFrame:
    """One row per (user, language, rank <= k): what the card shows.

    `lists`: user_id, segment, rank, item_id, reason, anchor_item_id (the served lists of the
    sampled users); `catalogue`: item_id, title_<lang>, price, discount_pct, effective_price,
    currency; `copy_lines`: item_id, segment, user_language, text (the line each product,
    segment and shopper language is shown; a product without one shows none)."""
    top = lists[lists["rank"] <= k]
    titles = catalogue.set_index("item_id")
    frames = []
    for language in languages:
        cards = top.merge(catalogue[["item_id", f"title_{language}", "price", "discount_pct", "effective_price", "currency"]]
                          .rename(columns={f"title_{language}": "title"}), on="item_id", how="left")
        lines = copy_lines[copy_lines["user_language"] == language][["item_id", "segment", "text"]]
        cards = cards.merge(lines.rename(columns={"text": "copy"}), on=["item_id", "segment"], how="left")
        title_col = f"title_{language}"
        cards["reason_shown"] = [
            reason_in(language, r, str(titles.at[a, title_col]) if isinstance(a, str) and a in titles.index else None)
            for r, a in zip(cards["reason"], cards["anchor_item_id"])]
        frames.append(cards.assign(language=language))
    return pd.concat(frames, ignore_index=True).sort_values(["segment", "user_id", "language", "rank"], ignore_index=True)


def _price(row) -> str:
    currency = html.escape(str(row.currency or ""))
    if row.discount_pct and row.discount_pct > 0:
        return (f'<span class="now">{row.effective_price:,.2f} {currency}</span> <s>{row.price:,.2f}</s> '
                f'<span class="off">-{row.discount_pct:.0f}%</span>')
    return f'<span class="now">{row.price:,.2f} {currency}</span>'


def render_storefront(cards: pd.DataFrame, title: str, subtitle: str) -> str:
    """The preview as one HTML page: a section per user and language, a card per item."""
    parts = [f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: {FONT_STACK}; margin: 24px; color: #222; background: #fafafa; }}
h1 {{ font-size: 22px; margin-bottom: 4px; }} .sub {{ color: #666; margin-bottom: 20px; }}
section {{ background: white; border: 1px solid #ddd; border-radius: 8px; padding: 12px 16px; margin-bottom: 18px; }}
section h2 {{ font-size: 16px; margin: 0 0 10px 0; }} .cards {{ display: flex; flex-wrap: wrap; gap: 10px; }}
.card {{ width: 220px; border: 1px solid #e5e5e5; border-radius: 6px; padding: 10px; }}
.card .t {{ font-weight: bold; font-size: 14px; }} .card .copy {{ margin: 6px 0; font-size: 13px; color: #0b5394; }}
.card .why {{ font-size: 12px; color: #666; }} .now {{ font-weight: bold; }} .off {{ color: #c00; }}
.rank {{ color: #999; font-size: 12px; }}
</style></head><body>
<h1>{html.escape(title)}</h1><div class="sub">{html.escape(subtitle)}</div>"""]
    for (segment, user, language), page in cards.groupby(["segment", "user_id", "language"], sort=False):
        name = LANGUAGE_NAMES.get(language, language)
        parts.append(f'<section class="shopper" lang="{html.escape(language)}" data-user="{html.escape(str(user))}" '
                     f'data-language="{html.escape(language)}"><h2>{html.escape(str(segment).replace("_", " "))} · '
                     f'{html.escape(str(user)[:10])} · {html.escape(name)}</h2><div class="cards">')
        for row in page.itertuples():
            copy_line = f'<div class="copy">{html.escape(str(row.copy))}</div>' if isinstance(row.copy, str) else ""
            parts.append(f'<div class="card" data-item="{html.escape(str(row.item_id))}" data-rank="{int(row.rank)}">'
                         f'<div class="rank">#{int(row.rank)}</div><div class="t">{html.escape(str(row.title))}</div>'
                         f'<div class="price">{_price(row)}</div>{copy_line}'
                         f'<div class="why">{html.escape(str(row.reason_shown))}</div></div>')
        parts.append("</div></section>")
    parts.append("</body></html>")
    return "\n".join(parts)
