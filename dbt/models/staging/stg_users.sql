-- One row per (pseudonymised) user.
with unioned as (
    {{ union_deliveries(
        ['user_id', 'signup_date', 'country', 'city', 'age_band', 'preferred_language', 'segment'],
        [(source('raw', 'users'), [('priority', 2)]),
         (source('raw', 'inbox_users'), [('priority', 1)])]) }}
),

newest as (
    {{ newest_delivery('unioned', 'user_id') }}
)

select
    user_id,
    signup_date,
    country,
    -- A city shared by fewer than `min_group_size` users would single a person out next to
    -- their age band and segment: such cities are released as 'other'.
    case when count(*) over (partition by city) >= {{ var('min_group_size', 10) }} then city else 'other' end as city,
    age_band,
    preferred_language,
    coalesce(segment, 'unknown') as segment
from newest
