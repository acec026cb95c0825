-- Every training interaction ends before every test interaction starts.
select 'overlap' as problem
from (select max(last_ts) as t from {{ ref('train_interactions') }}) train,
     (select min(first_ts) as t from {{ ref('test_interactions') }}) test
where train.t >= test.t
