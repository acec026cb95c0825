-- One row per product; a product delivered by both the source and the inbox keeps the inbox version.
with unioned as (
    {{ union_deliveries(
        ['item_id', 'title_en', 'title_zh', 'description_en', 'description_zh', 'category_l1', 'category_l2', 'brand',
         'price', 'discount_pct', 'currency', 'stock_qty', 'is_active', 'rating', 'launch_date'],
        [(source('raw', 'products'), [('origin', "'source'"), ('priority', 2)]),
         (source('raw', 'inbox_products'), [('origin', "'inbox'"), ('priority', 1)])]) }}
),
newest as (
    {{ newest_delivery('unioned', 'item_id') }}
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
from newest
