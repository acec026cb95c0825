-- Customer-service questions and answers from every source.
with unioned as (
    select * from {{ source('raw', 'support_tickets') }}
    union all by name
    select * from {{ source('raw', 'inbox_support_tickets') }}
)
select ticket_id, user_id, created_at, language, channel, question, answer, intent, item_id
from unioned
