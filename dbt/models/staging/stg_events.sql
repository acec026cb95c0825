-- Behaviour events from every source, one row per event.
with unioned as (
    {{ union_deliveries(
        ['event_id', 'event_time', 'user_id', 'session_id', 'event_type', 'item_id', 'price', 'quantity',
         'dwell_seconds', 'device'],
        [(source('raw', 'events'), [('origin', "'source'")]),
         (source('raw', 'inbox_events'), [('origin', "'inbox'")])]) }}
)
select
    event_id,
    event_time,
    cast(event_time as date) as event_date,
    user_id,
    session_id as source_session_id,
    event_type,
    item_id,
    price,
    quantity,
    dwell_seconds,
    device,
    origin,
    _load_id as load_id
from unioned
