{#-
  dbt's unit test materialization for Trino, without its temporary table. dbt's own creates an
  empty table of the model's columns only to read their types back, then drops it: two Iceberg
  commits, about two seconds, on the build's critical path (the model waits for its unit test,
  and the marts for the model). Here the model's columns come from a `limit 0` query, and their
  types from one more: typeof() of each column on a row of NULLs, which Trino types exactly as
  the table would be (decimal(18,2), not decimal). Everything after that is dbt's own
  materialization (dbt-core 1.11, macros/materializations/tests/unit.sql) unchanged.
-#}
{%- materialization unit, adapter='trino' -%}

  {% set relations = [] %}
  {% set sql_header = config.get('sql_header') if flags.REQUIRE_SQL_HEADER_IN_TEST_CONFIGS else none %}

  {% set expected_rows = config.get('expected_rows') %}
  {% set expected_sql = config.get('expected_sql') %}
  {% set tested_expected_column_names = expected_rows[0].keys() if (expected_rows | length ) > 0 else get_columns_in_query(sql) %}

  {%- set model_columns = get_columns_in_query(sql) -%}
  {%- set types_sql -%}
    select
    {%- for column_name in model_columns %}
      typeof(tested.{{ adapter.quote(column_name) }}){{ "," if not loop.last }}
    {%- endfor %}
    from (values 1) as one_row (x)
    left join ({{ get_empty_subquery_sql(sql) }}) as tested on true
  {%- endset -%}
  {%- set types = run_query(types_sql).rows[0] -%}
  {%- set column_name_to_data_types = {} -%}
  {%- set column_name_to_quoted = {} -%}
  {%- for column_name in model_columns -%}
  {%-   do column_name_to_data_types.update({column_name | lower: types[loop.index0]}) -%}
  {%-   do column_name_to_quoted.update({column_name | lower: adapter.quote(column_name)}) -%}
  {%- endfor -%}

  {%- set expected_column_names_quoted = [] -%}
  {%- for column_name in tested_expected_column_names -%}
  {%-   do expected_column_names_quoted.append(column_name_to_quoted[column_name|lower]) -%}
  {%- endfor -%}

  {% if not expected_sql %}
  {%   set expected_sql = get_expected_sql(expected_rows, column_name_to_data_types, column_name_to_quoted) %}
  {% endif %}
  {% set unit_test_sql = get_unit_test_sql(sql, expected_sql, expected_column_names_quoted) %}

  {% call statement('main', fetch_result=True) -%}

    {% if sql_header %}{{ sql_header }}{% endif %}
    {{ unit_test_sql }}

  {%- endcall %}

  {{ return({'relations': relations}) }}

{%- endmaterialization -%}
