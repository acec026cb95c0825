-- Per user and drift window: activity features whose distributions the drift check compares.
{{ config(materialized='view') }}
select
    win,
    user_id,
    count(*) as events,
    count(distinct cast(event_time as date)) as active_days,
    avg(case when event_type = 'purchase' then 1.0 else 0.0 end) as purchase_share,
    count(distinct category_l2) as categories,
    avg(price) as mean_price
from {{ ref('drift_events') }}
group by win, user_id
