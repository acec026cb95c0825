-- Every training interaction ends before every test interaction starts.
-- Attached to train_interactions so that Dagster shows it as that asset's check.
{{ config(meta={'dagster': {'ref': {'name': 'train_interactions'}}}) }}
select 'overlap' as problem
from (select max(last_ts) as t from {{ ref('train_interactions') }}) train,
     (select min(first_ts) as t from {{ ref('test_interactions') }}) test
where train.t >= test.t
