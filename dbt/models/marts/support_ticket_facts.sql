-- Per ticket, the account facts a reply may state, as of when the ticket was asked: the
-- customer's newest purchase and newest refund before it (item and time). A reply slot
-- with no fact hands the ticket to a person; nothing is guessed.
with tickets as (
    select ticket_id, user_id, created_at from {{ ref('stg_support_tickets') }}
),
account_events as (
    select
        t.ticket_id,
        e.event_type,
        e.item_id,
        e.event_time,
        row_number() over (partition by t.ticket_id, e.event_type order by e.event_time desc, e.item_id) as newest_first
    from tickets t
    join {{ ref('stg_events') }} e
      on e.user_id = t.user_id and e.event_time <= t.created_at and e.event_type in ('purchase', 'refund')
),
newest as (
    select * from account_events where newest_first = 1
)
select t.ticket_id, t.user_id, t.created_at,
       o.item_id as last_order_item_id, o.event_time as last_order_at,
       r.item_id as last_refund_item_id, r.event_time as last_refund_at
from tickets t
left join newest o on o.ticket_id = t.ticket_id and o.event_type = 'purchase'
left join newest r on r.ticket_id = t.ticket_id and r.event_type = 'refund'
