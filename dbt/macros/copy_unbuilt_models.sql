{#-
  A model edit rebuilds only what it changed: the caller runs

      dbt build --select state:modified+ --defer --state <the last run's target> \
        --vars '{copy_unbuilt_from: <the last run's schema>, ...}'

  and dbt reads every model it does not build from that run. This hook then copies each of
  those models into the new run's schema, a table with CREATE TABLE ... AS SELECT (a copy, not
  a reference) and a view with its own definition, so that the new run holds every model by
  itself and the last run can be dropped once the new one is published. Without the variable,
  or when anything in the build failed, it does nothing.
-#}
{% macro copy_unbuilt_models(results) %}
  {%- set from_schema = var('copy_unbuilt_from', '') -%}
  {%- if not execute or not from_schema -%}
    {{ return('') }}
  {%- endif -%}
  {%- if results | selectattr('status', 'in', ['error', 'fail', 'skipped']) | list | length > 0 -%}
    {{ log('copy_unbuilt_models: the build failed, nothing copied from ' ~ from_schema, info=True) }}
    {{ return('') }}
  {%- endif -%}
  {#- dbt creates the run's schema only when it builds a model; an edit to a test alone builds none. -#}
  {%- do adapter.create_schema(api.Relation.create(database=target.database, schema=target.schema)) -%}
  {%- set built = results | map(attribute='node') | map(attribute='unique_id') | list -%}
  {#- An ephemeral model (models/changes/) has no relation in any run: it is inlined into the models that read it. -#}
  {%- set models = graph.nodes.values()
        | selectattr('resource_type', 'equalto', 'model')
        | selectattr('package_name', 'equalto', project_name)
        | rejectattr('config.materialized', 'equalto', 'ephemeral')
        | sort(attribute='unique_id') | list -%}
  {%- set definitions_query -%}
    select table_name, view_definition from {{ target.database }}.information_schema.views
    where table_schema = '{{ from_schema }}'
  {%- endset -%}
  {%- set definitions = {} -%}
  {%- for row in run_query(definitions_query).rows -%}
    {%- do definitions.update({row[0]: row[1]}) -%}
  {%- endfor -%}
  {%- for model in models if model.unique_id not in built -%}
    {%- set copy = api.Relation.create(database=target.database, schema=target.schema, identifier=model.alias) -%}
    {%- set original = api.Relation.create(database=target.database, schema=from_schema, identifier=model.alias) -%}
    {%- if model.config.materialized == 'view' -%}
      {%- if model.alias not in definitions -%}
        {{ exceptions.raise_compiler_error('copy_unbuilt_models: view ' ~ original ~ ' not found') }}
      {%- endif -%}
      {#- A view over another model names that model in the last run's schema; the copy reads its own run's. -#}
      {%- do run_query('create or replace view ' ~ copy ~ ' as ' ~ definitions[model.alias] | replace(from_schema, target.schema)) -%}
    {%- else -%}
      {%- do run_query('create or replace table ' ~ copy ~ ' as select * from ' ~ original) -%}
    {%- endif -%}
    {{ log('copied ' ~ model.config.materialized ~ ' ' ~ model.alias ~ ' from ' ~ from_schema, info=True) }}
  {%- endfor -%}
{% endmacro %}
