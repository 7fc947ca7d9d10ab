{#-
  Tables with an enforced contract in ONE statement, so publishing stays a single Iceberg commit.

  dbt-trino 1.11 builds a contracted table in two statements:
      create or replace table t (col type, ...);   -- commit 1: t is now EMPTY
      insert into t select ...;                     -- commit 2: the rows
  Between the two commits readers see an empty table, and when the insert fails (a source that
  went away, a cast that overflows) the published table stays empty instead of keeping its
  previous version. Trino cannot combine a typed column list with AS (`create table t (a bigint)
  as select` is a syntax error), so for `on_table_exists: replace` this builds

      create or replace table t as select cast(col as <contract type>) as col, ... from (<model>)

  after dbt's own pre-flight check (get_assert_columns_equivalent: the model's columns must
  match the contract by name, number and base type, checked with a `limit 0` query before any
  DDL). The casts pin the parameters dbt's check does not compare (varchar(n) -> varchar,
  decimal precision and scale), so the table has exactly the contract's column types.

  Everything else (no contract, on_table_exists other than replace, or a contract with
  constraints, which need the column-definition DDL) goes to dbt-trino's own macro unchanged.
-#}
{% macro trino__create_table_as(temporary, relation, sql, on_exists=None) -%}
  {%- set contract_config = config.get('contract') -%}
  {%- set has_constraints = model.get('constraints')
        or model['columns'].values() | selectattr('constraints') | list | length > 0 -%}
  {%- if not (contract_config and contract_config.enforced) or on_exists != 'replace' or has_constraints -%}
    {{ return(dbt.trino__create_table_as(temporary, relation, sql, on_exists)) }}
  {%- endif -%}

  {{ get_assert_columns_equivalent(sql) }}
  create or replace table {{ relation }}
    {{ comment(model.get('description')) }}
    {{ properties(temporary) }}
  as
    select
    {%- for column in model['columns'].values() %}
      {%- set name = adapter.quote(column['name']) if column.get('quote') else column['name'] %}
        cast({{ name }} as {{ column['data_type'] }}) as {{ name }}{{ "," if not loop.last }}
    {%- endfor %}
    from (
        {{ sql }}
    ) as model_subq
  ;
{%- endmacro %}
