{#
  Aggregate events into (user, item) interactions. Each event counts with its type's
  weight, decayed by half every `half_life_days` before `reference_time`:
      weight = sum_e w(type_e) * 2^(-(reference_time - t_e) / half_life)
#}
{% macro event_weight(event_type_column) -%}
    case {{ event_type_column }}
    {%- for event_type, weight in var('event_weights').items() %}
        when '{{ event_type }}' then {{ weight }}
    {%- endfor %}
        else 0.0 end
{%- endmacro %}

{% macro aggregate_interactions(events_relation, reference_time) -%}
select
    user_id,
    item_id,
    sum({{ event_weight('event_type') }}
        * pow(0.5, ({{ epoch_seconds(reference_time) }} - {{ epoch_seconds('event_time') }}) / 86400.0 / {{ var('half_life_days') }})) as weight,
    sum({{ event_weight('event_type') }}) as raw_weight,
    count(*) as n_events,
    count(*) filter (where event_type = 'view') as n_views,
    count(*) filter (where event_type = 'click') as n_clicks,
    count(*) filter (where event_type = 'add_to_cart') as n_carts,
    count(*) filter (where event_type = 'purchase') as n_purchases,
    min(event_time) as first_ts,
    max(event_time) as last_ts
from {{ events_relation }}
group by user_id, item_id
having sum({{ event_weight('event_type') }}) > 0
{%- endmacro %}
