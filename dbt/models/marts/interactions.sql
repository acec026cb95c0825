-- (user, item) interaction strength over all events, decayed towards the newest event.
{{ aggregate_interactions(ref('stg_events'), "(select max(event_time) from " ~ ref('stg_events') ~ ")") }}
