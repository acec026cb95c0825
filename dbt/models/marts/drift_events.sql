-- The two windows the drift checks compare: `current` from the test cutoff on, and
-- `reference`, the `drift_reference_days` days before it (0: as long as the current
-- window, so that per-user and per-item counts compare like with like). Events outside
-- both windows are left out.
{{ config(materialized='view') }}
with bounds as (
    select
        cutoff,
        {% if var('drift_reference_days') | float > 0 -%}
        {{ dbt.dateadd('day', -(var('drift_reference_days') | int), 'cutoff') }}
        {%- else -%}
        cutoff - (max_event_time - cutoff)
        {%- endif %} as reference_start
    from {{ ref('split_cutoff') }}
),
labelled as (
    select
        e.*,
        p.category_l2,
        case when e.event_time >= b.cutoff then 'current'
             when e.event_time >= b.reference_start then 'reference' end as win
    from {{ ref('stg_events') }} e
    cross join bounds b
    left join {{ ref('stg_products') }} p using (item_id)
)
select * from labelled where win is not null
