-- One row per behavioural session.
select
    session_key,
    min(user_id) as user_id,  -- one user per session key
    min(event_time) as session_start,
    max(event_time) as session_end,
    {{ epoch_seconds('max(event_time)') }} - {{ epoch_seconds('min(event_time)') }} as duration_seconds,
    count(*) as n_events,
    count(*) filter (where event_type = 'view') as n_views,
    count(*) filter (where event_type = 'click') as n_clicks,
    count(*) filter (where event_type = 'add_to_cart') as n_carts,
    count(*) filter (where event_type = 'purchase') as n_purchases,
    coalesce(sum(dwell_seconds), 0) as dwell_seconds,
    coalesce(sum(price * coalesce(quantity, 1)) filter (where event_type = 'purchase'), 0) as revenue,
    count(*) filter (where event_type = 'purchase') > 0 as converted
from {{ ref('int_sessionised_events') }}
group by session_key
