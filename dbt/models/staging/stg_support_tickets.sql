-- Customer-service questions and answers from every source, one row per ticket: a ticket
-- delivered again (answered since, re-exported) keeps its newest delivery.
with unioned as (
    {{ union_deliveries(
        ['ticket_id', 'user_id', 'created_at', 'language', 'channel', 'question', 'answer', 'intent', 'item_id'],
        [(source('raw', 'support_tickets'), [('priority', 2)]),
         (source('raw', 'inbox_support_tickets'), [('priority', 1)])]) }}
),
newest as (
    {{ newest_delivery('unioned', 'ticket_id') }}
)
select ticket_id, user_id, created_at, language, channel, question, answer, intent, item_id
from newest
