-- Events that say a user wanted an item: those whose type carries a positive weight in
-- the `event_weights` var (view, click, add_to_cart, purchase), the one definition every
-- model reads. A view: no copy of the events is stored.
{{ config(materialized='view') }}
select user_id, item_id, event_time, event_type
from {{ ref('stg_events') }}
where {{ event_weight('event_type') }} > 0
