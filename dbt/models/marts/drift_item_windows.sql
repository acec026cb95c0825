-- Per item and drift window: demand features whose distributions the drift check compares.
{{ config(materialized='view') }}
select
    win,
    item_id,
    count(*) filter (where event_type = 'view') as views,
    count(*) filter (where event_type = 'purchase') as purchases,
    count(distinct user_id) as users,
    avg(price) as mean_price
from {{ ref('drift_events') }}
group by win, item_id
