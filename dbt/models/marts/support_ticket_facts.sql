-- Per ticket, the account facts a reply may state, as of when the ticket was asked: the
-- customer's newest purchase and newest refund before it (item and time). A reply slot
-- with no fact hands the ticket to a person; nothing is guessed.
with purchases as (
    select user_id, item_id, event_time from {{ ref('stg_events') }} where event_type = 'purchase'
),
refunds as (
    select user_id, item_id, event_time from {{ ref('stg_events') }} where event_type = 'refund'
),
tickets as (
    select ticket_id, user_id, created_at from {{ ref('stg_support_tickets') }}
),
with_order as (
    select t.ticket_id, t.user_id, t.created_at, p.item_id as last_order_item_id, p.event_time as last_order_at
    from tickets t asof left join purchases p on t.user_id = p.user_id and t.created_at >= p.event_time
)
select o.ticket_id, o.user_id, o.created_at, o.last_order_item_id, o.last_order_at,
       r.item_id as last_refund_item_id, r.event_time as last_refund_at
from with_order o asof left join refunds r on o.user_id = r.user_id and o.created_at >= r.event_time
