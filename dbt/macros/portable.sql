{#
  The few expressions the engines spell differently, dispatched by adapter (dbt's
  adapter.dispatch): DuckDB is the default, Trino the distributed target. Everything else
  in the models is SQL both read; dates move with dbt's own cross-database dateadd. The
  dialect test (ecom_assets_tests/test_dbt_portability.py) compiles every model for Trino
  and refuses DuckDB-only syntax.
#}

{# Seconds since 1970 as a double, fractions kept (durations, decay ages). #}
{% macro epoch_seconds(timestamp) -%}
    {{ return(adapter.dispatch('epoch_seconds', 'ecom_assets')(timestamp)) }}
{%- endmacro %}
{% macro default__epoch_seconds(timestamp) -%}epoch({{ timestamp }}){%- endmacro %}
{% macro trino__epoch_seconds(timestamp) -%}to_unixtime({{ timestamp }}){%- endmacro %}

{# Every run of white space as one space (DuckDB replaces only the first match without 'g'). #}
{% macro collapse_whitespace(text) -%}
    {{ return(adapter.dispatch('collapse_whitespace', 'ecom_assets')(text)) }}
{%- endmacro %}
{% macro default__collapse_whitespace(text) -%}regexp_replace({{ text }}, '\s+', ' ', 'g'){%- endmacro %}
{% macro trino__collapse_whitespace(text) -%}regexp_replace({{ text }}, '\s+', ' '){%- endmacro %}

{# The comparable form of an answer text: lower case, trimmed, white space collapsed. #}
{% macro answer_key(text) -%}lower(trim({{ collapse_whitespace(text) }})){%- endmacro %}
