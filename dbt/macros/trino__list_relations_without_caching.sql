{#-
  The relations of one schema, as dbt's cache lists them before a build: dbt-trino's own macro
  with the join to system.metadata.materialized_views left out. This project builds no
  materialized view (staging models are views, marts are tables), and that join roughly doubles
  the listing's time on the Iceberg catalog, on the critical path of every build. A materialized
  view someone made by hand in a run schema would be listed as a table; dbt would then replace it
  with the model's view or table, as it does a table.
-#}
{% macro trino__list_relations_without_caching(relation) %}
  {% call statement('list_relations_without_caching', fetch_result=True) -%}
    select
      t.table_catalog as database,
      t.table_name as name,
      t.table_schema as schema,
      case when t.table_type = 'BASE TABLE' then 'table'
           when t.table_type = 'VIEW' then 'view'
           else t.table_type
      end as table_type
    from {{ relation.information_schema() }}.tables t
    where t.table_schema = '{{ relation.schema | lower }}'
  {% endcall %}
  {{ return(load_result('list_relations_without_caching').table) }}
{% endmacro %}
