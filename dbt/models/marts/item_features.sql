-- One row per product: funnel rates (per session, so always within [0, 1]), popularity, price band.
with events as (
    select * from {{ ref('int_sessionised_events') }}
),
per_session as (
    select
        item_id,
        session_key,
        bool_or(event_type = 'view') as viewed,
        bool_or(event_type = 'click') as clicked,
        bool_or(event_type = 'add_to_cart') as carted,
        bool_or(event_type = 'purchase') as purchased
    from events
    group by item_id, session_key
),
funnel as (
    select
        item_id,
        count(*) as sessions,
        count(*) filter (where viewed) as view_sessions,
        count(*) filter (where viewed and clicked) as click_sessions,
        count(*) filter (where carted) as cart_sessions,
        count(*) filter (where purchased) as purchase_sessions
    from per_session
    group by item_id
),
counts as (
    select
        item_id,
        count(*) filter (where event_type = 'view') as views,
        count(*) filter (where event_type = 'click') as clicks,
        count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
        count(*) filter (where event_type = 'purchase') as purchases,
        coalesce(sum(quantity) filter (where event_type = 'purchase'), 0) as units_sold,
        coalesce(sum(price * coalesce(quantity, 1)) filter (where event_type = 'purchase'), 0) as revenue,
        count(distinct user_id) as n_users,
        sum({{ event_weight('event_type') }}) as interaction_weight
    from events
    group by item_id
),
items as (
    select item_id from {{ ref('stg_products') }}
    union
    select item_id from counts
)
select
    i.item_id,
    p.title_en,
    p.title_zh,
    p.category_l1,
    p.category_l2,
    p.category_path,
    p.brand,
    p.price,
    p.discount_pct,
    p.effective_price,
    p.is_active,
    p.stock_qty,
    p.launch_date,
    case when p.price is null then null
         else ntile(5) over (partition by p.category_l2, p.price is null order by p.price, i.item_id) end as price_band,
    coalesce(c.views, 0) as views,
    coalesce(c.clicks, 0) as clicks,
    coalesce(c.add_to_carts, 0) as add_to_carts,
    coalesce(c.purchases, 0) as purchases,
    coalesce(c.units_sold, 0) as units_sold,
    coalesce(c.revenue, 0) as revenue,
    coalesce(c.n_users, 0) as n_users,
    coalesce(f.sessions, 0) as sessions,
    cast(f.click_sessions as double) / nullif(f.view_sessions, 0) as ctr,
    cast(f.cart_sessions as double) / nullif(f.sessions, 0) as add_to_cart_rate,
    cast(f.purchase_sessions as double) / nullif(f.sessions, 0) as conversion_rate,
    coalesce(c.interaction_weight, 0) as interaction_weight,
    rank() over (order by coalesce(c.interaction_weight, 0) desc) as popularity_rank
from items i
left join {{ ref('stg_products') }} p using (item_id)
left join counts c using (item_id)
left join funnel f using (item_id)
