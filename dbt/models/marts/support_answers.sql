-- Everything a customer-service reply can be: the FAQ's canonical answers, and the
-- answers agents wrote on tickets that match no FAQ answer in the ticket's language (one
-- row per distinct text, named after the first ticket that carried it). Text is compared
-- case- and space-insensitively.
with faq as (
    select answer_id, language, answer, category, 'faq' as source, question,
           {{ answer_key('answer') }} as answer_key
    from {{ ref('stg_faq') }}
),
agent as (
    select t.ticket_id, t.language, t.answer, t.intent, t.created_at,
           {{ answer_key('t.answer') }} as answer_key
    from {{ ref('stg_support_tickets') }} t
    where t.answer is not null and trim(t.answer) <> ''
),
unmatched as (
    select a.*, row_number() over (partition by language, answer_key order by created_at, ticket_id) as nth_ticket
    from agent a
    where not exists (select 1 from faq f where f.language = a.language and f.answer_key = a.answer_key)
      -- an answer to a tagged FAQ intent is that FAQ answer (filled by hand), not a new one
      and not exists (select 1 from faq f where f.language = a.language and f.answer_id = a.intent)
),
new_answers as (
    select 'ticket:' || ticket_id as answer_id, language, answer, intent as category, 'ticket' as source,
           cast(null as varchar) as question, answer_key
    from unmatched
    where nth_ticket = 1
)
select answer_id, language, answer, category, source, question, answer_key from faq
union all
select answer_id, language, answer, category, source, question, answer_key from new_answers
