-- Ad copy written from attribute lists, from the inbox (AdvertiseGen files, a merchant's
-- copywriters' exports): one row per example, its newest delivery.
with newest as (
    {{ newest_delivery(source('raw', 'inbox_copy_examples'), 'example_id',
                       order_by='_loaded_at desc nulls last, _source_row desc') }}
)
select example_id, language, trim(attributes) as attributes, trim(copy) as copy, item_id, source
from newest
