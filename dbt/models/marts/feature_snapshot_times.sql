-- When point-in-time features are taken: at the test cutoff and every day back from it for
-- `feature_snapshot_days` days (a model trained on labels from time t on may only see
-- features as of t), and just after the newest event (what serving sees).
with cut as (
    select cutoff, max_event_time from {{ ref('split_cutoff') }}
)
select cut.cutoff - to_days(cast(d.range as integer)) as as_of, 'history' as purpose, cast(d.range as integer) as days_before_cutoff
from cut cross join range(0, {{ var('feature_snapshot_days') }} + 1) as d
union all
select max_event_time + interval 1 second as as_of, 'serving' as purpose, null as days_before_cutoff
from cut
