-- What the copy generator learns real copy from beside the shop's own corpus: examples
-- (every staged example; the corpus asset reports how many it used).
select example_id, language, attributes, copy, item_id, source, length(copy) as copy_chars
from {{ ref('stg_copy_examples') }}
