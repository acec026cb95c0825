-- One row per (pseudonymised) user.
with unioned as (
    select *, 2 as priority from {{ source('raw', 'users') }}
    union all by name
    select *, 1 as priority from {{ source('raw', 'inbox_users') }}
),

newest as (
    select *
    from unioned
    -- Newest delivery wins: the load's time first, the row within the load second (an older
    -- file's row 500 must not beat a newer file's row 3).
    qualify row_number() over (partition by user_id order by priority, _loaded_at desc nulls last, _source_row desc) = 1
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
