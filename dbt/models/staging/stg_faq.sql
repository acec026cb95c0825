-- The knowledge base from every source, one row per answer id and language: an answer
-- delivered again (edited, re-exported) keeps its newest delivery; the inbox wins over the
-- configured source, as for tickets.
with unioned as (
    select *, 2 as priority from {{ source('raw', 'faq') }}
    union all by name
    select *, 1 as priority from {{ source('raw', 'inbox_faq') }}
)
select answer_id, language, question, answer, category, updated_at
from unioned
qualify row_number() over (partition by answer_id, language
                           order by priority, _loaded_at desc nulls last, _source_row desc) = 1
