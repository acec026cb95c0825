-- Customer-service questions and answers from every source, one row per ticket: a ticket
-- delivered again (answered since, re-exported) keeps its newest delivery.
with unioned as (
    select *, 2 as priority from {{ source('raw', 'support_tickets') }}
    union all by name
    select *, 1 as priority from {{ source('raw', 'inbox_support_tickets') }}
)
select ticket_id, user_id, created_at, language, channel, question, answer, intent, item_id
from unioned
qualify row_number() over (partition by ticket_id order by priority, _loaded_at desc nulls last, _source_row desc) = 1
