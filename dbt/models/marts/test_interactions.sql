-- Interactions from the test window, with flags for users and items unseen in training.
{% set test_events %}(select e.* from {{ ref('stg_events') }} e, {{ ref('split_cutoff') }} s where e.event_time >= s.cutoff){% endset %}
with test as (
    {{ aggregate_interactions(test_events, "(select max_event_time from " ~ ref('split_cutoff') ~ ")") }}
)
select
    t.*,
    t.user_id in (select user_id from {{ ref('train_interactions') }}) as user_in_train,
    t.item_id in (select item_id from {{ ref('train_interactions') }}) as item_in_train
from test t
