{#-
  Not null, for several columns of a model in one query: one scan instead of one test per column.
  Fails with one row that counts the null rows of each listed column, so the stored failure
  shows which column holds them. dbt's own not_null does the same for one column.
-#}
{% test columns_not_null(model, column_names) %}

with

null_rows as (

    select
        {% for column_name in column_names -%}
        sum(case when {{ column_name }} is null then 1 else 0 end) as {{ column_name }}_null_rows{{ "," if not loop.last }}
        {% endfor %}
    from {{ model }}

)

select * from null_rows
where {% for column_name in column_names -%}
    {{ column_name }}_null_rows > 0{{ " or " if not loop.last }}
{%- endfor %}

{% endtest %}
