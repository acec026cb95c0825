-- One row per known user: behaviour, value and taste features for the models.
with reference as (
    select max(event_time) as reference_time from {{ ref('stg_events') }}
),
events as (
    select e.*, p.category_l2
    from {{ ref('int_sessionised_events') }} e
    left join {{ ref('stg_products') }} p using (item_id)
),
behaviour as (
    select
        user_id,
        count(*) as n_events,
        count(distinct session_key) as n_sessions,
        count(*) filter (where event_type = 'view') as n_views,
        count(*) filter (where event_type = 'click') as n_clicks,
        count(*) filter (where event_type = 'add_to_cart') as n_carts,
        count(*) filter (where event_type = 'purchase') as n_purchases,
        count(distinct item_id) as n_distinct_items,
        coalesce(sum(dwell_seconds), 0) as browse_seconds,
        coalesce(sum(price * coalesce(quantity, 1)) filter (where event_type = 'purchase'), 0)
            - coalesce(sum(price * coalesce(quantity, 1)) filter (where event_type = 'refund'), 0) as monetary_value,
        avg(price) filter (where event_type in ('view', 'click')) as avg_price_viewed,
        min(event_time) as first_event_time,
        max(event_time) as last_event_time
    from events
    group by user_id
),
sessions as (
    select
        user_id,
        avg(duration_seconds) as avg_session_seconds,
        avg(n_clicks) as click_depth,
        avg(n_events) as avg_events_per_session,
        avg(case when converted then 1.0 else 0.0 end) as session_conversion_rate
    from {{ ref('int_sessions') }}
    group by user_id
),
category_weights as (
    select user_id, category_l2, sum({{ event_weight('event_type') }}) as w
    from events
    where category_l2 is not null
    group by user_id, category_l2
),
ranked_categories as (
    select
        user_id,
        category_l2,
        round(w / sum(w) over (partition by user_id), 4) as share,
        row_number() over (partition by user_id order by w desc, category_l2) as category_rank
    from category_weights
    where w > 0
),
category_affinity as (
    select
        user_id,
        array_agg(category_l2 order by category_rank) filter (where category_rank <= 3) as top_categories,
        array_agg(share order by category_rank) filter (where category_rank <= 3) as top_category_shares
    from ranked_categories
    group by user_id
),
all_users as (
    select user_id from {{ ref('stg_users') }}
    union
    select user_id from behaviour
)
select
    a.user_id,
    u.segment,
    u.country,
    u.preferred_language,
    u.age_band,
    u.signup_date,
    coalesce(b.n_events, 0) as n_events,
    coalesce(b.n_sessions, 0) as n_sessions,
    coalesce(b.n_views, 0) as n_views,
    coalesce(b.n_clicks, 0) as n_clicks,
    coalesce(b.n_carts, 0) as n_carts,
    coalesce(b.n_purchases, 0) as n_purchases,
    coalesce(b.n_distinct_items, 0) as n_distinct_items,
    coalesce(b.browse_seconds, 0) as browse_seconds,
    coalesce(s.avg_session_seconds, 0) as avg_session_seconds,
    coalesce(s.click_depth, 0) as click_depth,
    coalesce(s.avg_events_per_session, 0) as avg_events_per_session,
    coalesce(s.session_conversion_rate, 0) as session_conversion_rate,
    -- purchases per 30 days of observed activity
    coalesce(b.n_purchases, 0) * 30.0
        / greatest(({{ epoch_seconds('r.reference_time') }} - {{ epoch_seconds('b.first_event_time') }}) / 86400.0, 1.0)
        as purchase_frequency,
    ({{ epoch_seconds('r.reference_time') }} - {{ epoch_seconds('b.last_event_time') }}) / 86400.0 as recency_days,
    coalesce(b.monetary_value, 0) as monetary_value,
    b.avg_price_viewed,
    c.top_categories,
    c.top_category_shares,
    c.top_categories[1] as top_category,
    b.first_event_time,
    b.last_event_time
from all_users a
cross join reference r
left join {{ ref('stg_users') }} u using (user_id)
left join behaviour b using (user_id)
left join sessions s using (user_id)
left join category_affinity c using (user_id)
