-- Interactions from events before the split cutoff, decayed towards the cutoff.
{% set train_events %}(select e.* from {{ ref('stg_events') }} e, {{ ref('split_cutoff') }} s where e.event_time < s.cutoff){% endset %}
{{ aggregate_interactions(train_events, "(select cutoff from " ~ ref('split_cutoff') ~ ")") }}
