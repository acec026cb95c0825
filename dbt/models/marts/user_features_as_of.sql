-- Per snapshot time and user: what the user had done strictly before it (the ranker's user
-- features without leaking the window it learns from). Users with no event before a
-- snapshot have no row there.
with times as (
    select as_of from {{ ref('feature_snapshot_times') }}
),
events as (
    select user_id, item_id, event_type, event_time, price, quantity, dwell_seconds, session_key
    from {{ ref('int_sessionised_events') }}
),
before as (
    select t.as_of, e.* from times t join events e on e.event_time < t.as_of
)
select
    as_of,
    user_id,
    count(*) as n_events,
    count(distinct session_key) as n_sessions,
    count(*) filter (where event_type = 'click') as n_clicks,
    count(*) filter (where event_type = 'purchase') as n_purchases,
    count(distinct item_id) as n_distinct_items,
    coalesce(sum(dwell_seconds), 0) as browse_seconds,
    cast(count(*) filter (where event_type = 'click') as double) / count(distinct session_key) as click_depth,
    cast(count(distinct session_key) filter (where event_type = 'purchase') as double) / count(distinct session_key)
        as session_conversion_rate,
    count(*) filter (where event_type = 'purchase') * 30.0
        / greatest(({{ epoch_seconds('as_of') }} - {{ epoch_seconds('min(event_time)') }}) / 86400.0, 1.0) as purchase_frequency,
    ({{ epoch_seconds('as_of') }} - {{ epoch_seconds('max(event_time)') }}) / 86400.0 as recency_days,
    coalesce(sum(price * coalesce(quantity, 1)) filter (where event_type = 'purchase'), 0) as monetary_value,
    avg(price) filter (where event_type in ('view', 'click')) as avg_price_viewed,
    count(*) filter (where event_time >= {{ dbt.dateadd('day', -7, 'as_of') }}) as events_last_7_days
from before
group by as_of, user_id
