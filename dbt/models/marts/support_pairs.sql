-- Answered tickets as (question, answer id) pairs: what the support encoder trains and is
-- validated on, and what the replies are judged against. The answer id is the answer the
-- agent's text matches in the ticket's language; else the FAQ answer named by the ticket's
-- intent tag (an agent fills an account template by hand, so the texts differ). Questions
-- were scrubbed of personal data at the door.
with answers as (
    select answer_id, language, answer_key from {{ ref('support_answers') }}
),
tickets as (
    select ticket_id, user_id, created_at, language, channel, question, intent, item_id,
           {{ answer_key('answer') }} as answer_key
    from {{ ref('stg_support_tickets') }}
    where answer is not null and trim(answer) <> ''
)
select t.ticket_id, t.user_id, t.created_at, t.language, t.channel, t.question, t.intent, t.item_id,
       coalesce(by_text.answer_id, by_intent.answer_id) as answer_id
from tickets t
left join answers by_text on by_text.language = t.language and by_text.answer_key = t.answer_key
left join answers by_intent on by_intent.language = t.language and by_intent.answer_id = t.intent
where coalesce(by_text.answer_id, by_intent.answer_id) is not null
