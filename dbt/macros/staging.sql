{#
  The rows of one entity's raw tables (the configured source and the inbox) under one
  column list, each table's rows tagged with constants (`tags`: (name, SQL value) pairs):
  what DuckDB's `union all by name` did, spelled so that every engine reads it. `columns`
  are the entity's raw columns (ecom_assets/schema.py; the dialect test checks the two
  agree); the load columns every raw table carries come along.
#}
{% macro union_deliveries(columns, deliveries) -%}
{%- for relation, tags in deliveries %}
    select {{ columns | join(', ') }}, _load_id, _source_row, _loaded_at
        {%- for name, value in tags %}, {{ value }} as {{ name }}{% endfor %}
    from {{ relation }}
    {%- if not loop.last %}
    union all
    {%- endif %}
{%- endfor %}
{%- endmacro %}

{#
  One row per `partition_by` key: the newest delivery. The inbox wins over the configured
  source (`priority` 1 before 2), then the load's time, then the row within the load (an
  older file's row 500 must not beat a newer file's row 3). What DuckDB's `qualify` did.
#}
{% macro newest_delivery(relation, partition_by, order_by='priority, _loaded_at desc nulls last, _source_row desc') -%}
    select * from (
        select *, row_number() over (partition by {{ partition_by }} order by {{ order_by }}) as delivery_rank
        from {{ relation }}
    ) ranked
    where delivery_rank = 1
{%- endmacro %}
