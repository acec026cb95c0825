-- Ad copy written from attribute lists, from the inbox (AdvertiseGen files, a merchant's
-- copywriters' exports): one row per example, its newest delivery.
select example_id, language, trim(attributes) as attributes, trim(copy) as copy, item_id, source
from {{ source('raw', 'inbox_copy_examples') }}
qualify row_number() over (partition by example_id order by _loaded_at desc nulls last, _source_row desc) = 1
