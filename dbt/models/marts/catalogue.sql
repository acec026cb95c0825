-- One row per item (every product, and every item seen only in events): what the text,
-- recommend and copy steps read about it, and whether it may be offered at all.
select
    f.item_id,
    f.title_en,
    f.title_zh,
    p.description_en,
    p.description_zh,
    f.category_l1,
    f.category_l2,
    f.category_path,
    f.brand,
    f.price,
    f.discount_pct,
    f.effective_price,
    p.currency,
    f.price_band,
    f.is_active,
    f.stock_qty,
    -- Hidden or out-of-stock items are never recommended or shown as similar. Items known
    -- only from events carry no flags and count as offerable.
    coalesce(f.is_active, true) and coalesce(f.stock_qty, 1) > 0 as is_offerable
from {{ ref('item_features') }} f
left join {{ ref('stg_products') }} p using (item_id)
