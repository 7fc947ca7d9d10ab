{#- A condition on a row of information_schema.columns: true when the column is decimal(18, 2).
    Trino spells the whole type in data_type; PostgreSQL (the benchmark's centralized build of
    the same project) says numeric and keeps precision and scale apart. -#}
{% macro is_exact_money_type() -%}
    {{ return(adapter.dispatch('is_exact_money_type')()) }}
{%- endmacro %}

{% macro default__is_exact_money_type() -%}
    data_type = 'decimal(18,2)'
{%- endmacro %}

{% macro postgres__is_exact_money_type() -%}
    data_type = 'numeric' and numeric_precision = 18 and numeric_scale = 2
{%- endmacro %}
