{#- Converts integer cents to exact dollars as decimal(18, 2); never integer or floating-point division.
    In Trino, decimal(18, 2) / integer is decimal(18, 2) (scale max(2, 0)), and every cent value
    divides exactly, so 1234 becomes 12.34. The outer cast pins the type for downstream models. -#}
{% macro cents_to_dollars(column_name) -%}
    cast(cast({{ column_name }} as decimal(18, 2)) / 100 as decimal(18, 2))
{%- endmacro %}
