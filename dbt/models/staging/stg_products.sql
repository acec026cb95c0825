-- One row per product; a product delivered by both the source and the inbox keeps the inbox version.
with unioned as (
    select *, 'source' as origin, 2 as priority from {{ source('raw', 'products') }}
    union all by name
    select *, 'inbox' as origin, 1 as priority from {{ source('raw', 'inbox_products') }}
)
select
    item_id,
    title_en,
    title_zh,
    description_en,
    description_zh,
    coalesce(category_l1, 'Unknown') as category_l1,
    coalesce(category_l2, 'Unknown') as category_l2,
    coalesce(category_l1, 'Unknown') || ' > ' || coalesce(category_l2, 'Unknown') as category_path,
    brand,
    price,
    coalesce(discount_pct, 0) as discount_pct,
    round(price * (1 - coalesce(discount_pct, 0) / 100.0), 2) as effective_price,
    coalesce(currency, 'CNY') as currency,
    stock_qty,
    coalesce(is_active, true) as is_active,
    rating,
    launch_date,
    origin
from unioned
-- Newest delivery wins: the load's time first, the row within the load second (an older
-- file's row 500 must not beat a newer file's row 3).
qualify row_number() over (partition by item_id order by priority, _loaded_at desc nulls last, _source_row desc) = 1
