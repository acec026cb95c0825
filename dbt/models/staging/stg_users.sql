-- One row per (pseudonymised) user.
with unioned as (
    select *, 2 as priority from {{ source('raw', 'users') }}
    union all by name
    select *, 1 as priority from {{ source('raw', 'inbox_users') }}
)
select
    user_id,
    signup_date,
    country,
    city,
    age_band,
    preferred_language,
    coalesce(segment, 'unknown') as segment
from unioned
qualify row_number() over (partition by user_id order by priority, _source_row desc) = 1
