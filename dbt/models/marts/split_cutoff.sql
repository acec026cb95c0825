-- The temporal split point: events at or after `cutoff` form the test window.
select
    max(event_time) as max_event_time,
    {{ dbt.dateadd('day', -(var('test_days') | int), 'max(event_time)') }} as cutoff,
    {{ var('test_days') }} as test_days
from {{ ref('stg_events') }}
