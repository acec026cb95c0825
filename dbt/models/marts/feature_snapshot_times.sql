-- When point-in-time features are taken: at the test cutoff and every day back from it for
-- `feature_snapshot_days` days (a model trained on labels from time t on may only see
-- features as of t), and just after the newest event (what serving sees).
with cut as (
    select cutoff, max_event_time from {{ ref('split_cutoff') }}
)
{% for days_before in range((var('feature_snapshot_days') | int) + 1) -%}
select {{ dbt.dateadd('day', -days_before, 'cutoff') }} as as_of, 'history' as purpose,
       cast({{ days_before }} as integer) as days_before_cutoff
from cut
union all
{% endfor -%}
select {{ dbt.dateadd('second', 1, 'max_event_time') }} as as_of, 'serving' as purpose,
       cast(null as integer) as days_before_cutoff
from cut
