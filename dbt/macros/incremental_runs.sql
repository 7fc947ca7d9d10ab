{#-
  Incremental runs. Before `dbt build`, the engine may write two kinds of table into the run's
  own schema (target.database.target.schema):

    datamesh_run_plan (base_run varchar, reason varchar), exactly one row. base_run '' means a
      full build. Otherwise it names another schema of the same catalog (the published run) that
      holds every model of this project as this same project built it, from the source rows as
      they were then.
    changes__<catalog>__<table>, one per source table (catalog = the source's Trino catalog,
      table = its identifier): the source's columns that dbt reads, with their names and types,
      plus change_side ('old' = the row as the base run read it, 'new' = as the source holds it
      now), for the changed primary keys only.

  A mart then recomputes only the keys the changes can affect (models/changes/) and takes the
  base run's row for every other key, in the same single CREATE OR REPLACE TABLE ... AS as a full
  build. Without a plan (dbt docs generate, a build by hand, a model edit's deferred build, the
  benchmark's PostgreSQL build) or with base_run '', every model builds from all source rows.
-#}

{#- The schema of the run to build on, or '' for a full build. Called by each mart: without a
    plan table it costs nothing (dbt's relation cache, filled at the start of the build, answers
    whether it exists), with one it reads its single row. Parsing (execute false) never sees a
    plan, so each mart names the models it refs only in an incremental run in a depends_on hint,
    itself inside `if not execute`: a ref to an ephemeral model inlines it as a CTE wherever the
    ref sits, a SQL comment included, and a full build would then read the changes tables too.
    Only a build reads the plan: `dbt docs generate` of a run that still holds one (the docs site
    documents the published run) shows each model's own logic, not a union with a base run that
    may be gone by then. -#}
{% macro incremental_base() %}
  {%- if not execute or flags.WHICH not in ['build', 'run', 'retry'] -%}
    {{ return('') }}
  {%- endif -%}
  {%- set plan = adapter.get_relation(database=target.database, schema=target.schema, identifier='datamesh_run_plan') -%}
  {%- if plan is none -%}
    {{ return('') }}
  {%- endif -%}
  {%- set rows = run_query('select base_run from ' ~ plan).rows -%}
  {%- if rows | length != 1 -%}
    {{ exceptions.raise_compiler_error('incremental run: ' ~ plan ~ ' has ' ~ rows | length ~ ' rows; it must have exactly one') }}
  {%- endif -%}
  {%- set base_run = rows[0][0] -%}
  {%- if base_run is none -%}
    {{ exceptions.raise_compiler_error('incremental run: base_run is null in ' ~ plan ~ "; '' means a full build") }}
  {%- endif -%}
  {#- The name is written into the SQL of every mart: only a plain schema name of this catalog. -#}
  {%- if base_run != '' and (not modules.re.fullmatch('[a-z_][a-z0-9_]*', base_run) or base_run == target.schema | lower) -%}
    {{ exceptions.raise_compiler_error('incremental run: base_run ' ~ base_run ~ ' in ' ~ plan
          ~ ' is not the name of another schema of ' ~ target.database) }}
  {%- endif -%}
  {{ return(base_run) }}
{% endmacro %}

{#- The changes of source(source_name, table_name) that the engine wrote for this run. -#}
{% macro source_changes(source_name, table_name) %}
  {%- set original = source(source_name, table_name) -%}
  {{ return(api.Relation.create(
        database=target.database,
        schema=target.schema,
        identifier='changes__' ~ original.database | lower ~ '__' ~ original.identifier | lower)) }}
{% endmacro %}

{#- The rest of an incremental mart: the base run's rows of this model whose key the changes do not
    affect. `select *` is by position, which holds because the base run was built by this same
    project. A null in `affected` would make `not in` unknown for every row, so the affected
    models leave nulls out. -#}
{% macro unaffected_base_rows(base_run, key, affected) -%}
union all

select * from {{ api.Relation.create(database=target.database, schema=base_run, identifier=this.identifier) }}
where {{ key }} not in (select {{ key }} from {{ affected }})
{%- endmacro %}
