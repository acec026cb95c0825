-- The knowledge base from every source, one row per answer id and language: an answer
-- delivered again (edited, re-exported) keeps its newest delivery; the inbox wins over the
-- configured source, as for tickets.
with unioned as (
    {{ union_deliveries(
        ['answer_id', 'language', 'question', 'answer', 'category', 'updated_at'],
        [(source('raw', 'faq'), [('priority', 2)]),
         (source('raw', 'inbox_faq'), [('priority', 1)])]) }}
),
newest as (
    {{ newest_delivery('unioned', 'answer_id, language') }}
)
select answer_id, language, question, answer, category, updated_at
from newest
