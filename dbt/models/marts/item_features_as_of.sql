-- Per snapshot time and item: its popularity and funnel strictly before that time, and its
-- age. Items with no event before a snapshot have no row there.
with times as (
    select as_of from {{ ref('feature_snapshot_times') }}
),
events as (
    select user_id, item_id, event_type, event_time from {{ ref('int_sessionised_events') }}
),
before as (
    select t.as_of, e.* from times t join events e on e.event_time < t.as_of
),
counts as (
    select
        as_of,
        item_id,
        count(*) filter (where event_type = 'view') as views,
        count(*) filter (where event_type = 'click') as clicks,
        count(*) filter (where event_type = 'purchase') as purchases,
        count(distinct user_id) as n_users,
        count(*) filter (where event_time >= {{ dbt.dateadd('day', -7, 'as_of') }}) as events_last_7_days,
        sum({{ event_weight('event_type') }}
            * pow(0.5, ({{ epoch_seconds('as_of') }} - {{ epoch_seconds('event_time') }}) / 86400.0 / {{ var('half_life_days') }})) as decayed_weight,
        min(event_time) as first_event_time
    from before
    group by as_of, item_id
)
select
    c.as_of,
    c.item_id,
    c.views,
    c.clicks,
    c.purchases,
    c.n_users,
    c.events_last_7_days,
    c.decayed_weight,
    cast(c.clicks as double) / nullif(c.views, 0) as ctr,
    cast(c.purchases as double) / nullif(c.views, 0) as conversion_rate,
    ({{ epoch_seconds('c.as_of') }}
     - {{ epoch_seconds('least(c.first_event_time, coalesce(cast(p.launch_date as timestamp), c.first_event_time))') }})
        / 86400.0 as age_days
from counts c
left join {{ ref('stg_products') }} p using (item_id)
