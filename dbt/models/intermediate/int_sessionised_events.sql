-- Sessions from behaviour, not from the source: a user's events more than
-- `session_gap_minutes` apart start a new session (sources such as RetailRocket have none).
with ordered as (
    select
        *,
        lag(event_time) over (partition by user_id order by event_time, event_id) as previous_time
    from {{ ref('stg_events') }}
),
flagged as (
    select
        *,
        case
            when previous_time is null
              or event_time > {{ dbt.dateadd('minute', var('session_gap_minutes'), 'previous_time') }} then 1
            else 0
        end as starts_session
    from ordered
)
select
    event_id, event_time, event_date, user_id, source_session_id, event_type, item_id, price, quantity,
    dwell_seconds, device, origin, load_id,
    user_id || ':' || cast(
        sum(starts_session) over (partition by user_id order by event_time, event_id rows unbounded preceding)
        as varchar) as session_key
from flagged
