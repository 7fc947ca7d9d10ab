{#-
  The data tests of an incremental run read only the rows its changes can have altered.

  dbt hands every generic test its model through get_where_subquery(); this project's version adds
  to the test's own `where` the model's scope from incremental_test_scopes(), in an incremental
  build only. The rows outside a scope are those the base run's tests passed: the engine's plan
  proved that every source row outside the changed keys is the one the base run read, and each
  mart keeps the base run's row for every key it does not recompute. So a test on the scope fails
  exactly when the same test on the whole model would:

  - not_null, accepted_values, columns_not_null look at one row at a time; a null key is always in
    the scope.
  - unique: a repeated key is repeated within its own key, and the scope holds a key whole.
  - relationships: a child row breaks either because it changed, or because its parent changed
    (a deleted customer, say), so each scope also holds the rows that name a changed parent.

  A model without a scope, and every singular test (the money tests read every row, which is what
  fails a run that a payment written during dbt would otherwise leave half in), are tested whole.
-#}
{% macro get_where_subquery(relation) -%}
  {%- set where = config.get('where', '') -%}
  {%- set scope = incremental_test_scope(relation) -%}
  {%- if not scope -%}
    {%- if where -%}
      {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
  {%- endif -%}
  {#- One select per condition of the scope, each row in the first whose condition it meets: a
      single condition each, which Trino turns into a filter on the domain's own scan, where the
      conditions joined by `or` would have it read every row. -#}
  {%- set selects = [] -%}
  {%- for condition in scope -%}
    {%- set conditions = [where] if where else [] -%}
    {%- do conditions.append(condition) -%}
    {%- for earlier in scope[:loop.index0] -%}
      {%- do conditions.append('not coalesce(' ~ earlier ~ ', false)') -%}
    {%- endfor -%}
    {%- do selects.append('select * from ' ~ relation ~ ' where (' ~ conditions | join(') and (') ~ ')') -%}
  {%- endfor -%}
  {%- do return('(' ~ selects | join(' union all ') ~ ') dbt_subquery') -%}
{%- endmacro %}

{#- The scope of a model of this run in an incremental build, as a list of conditions on its rows (a row is in it when it meets any); [] otherwise. -#}
{% macro incremental_test_scope(relation) -%}
  {%- if relation.schema is none or relation.schema | lower != target.schema | lower -%}
    {%- do return([]) -%}
  {%- endif -%}
  {%- if not incremental_base() -%}
    {%- do return([]) -%}
  {%- endif -%}
  {%- do return(incremental_test_scopes().get(relation.identifier | lower, [])) -%}
{%- endmacro %}

{#- Each model's scope: its rows whose key changed or is null, or whose parent's key changed. -#}
{% macro incremental_test_scopes() -%}
  {%- set customers = source_changes('customers', 'customers') -%}
  {%- set orders = source_changes('orders', 'orders') -%}
  {%- set payments = source_changes('payments', 'payments') -%}
  {#- Not ref(): at run time dbt refuses a ref that the test's parse did not record. -#}
  {%- set stg_orders = api.Relation.create(database=target.database, schema=target.schema, identifier='stg_orders') -%}
  {%- do return({
    'stg_customers': [
      'customer_id is null',
      'customer_id in (select id from ' ~ customers ~ ')',
    ],
    'stg_orders': [
      'order_id is null',
      'order_id in (select id from ' ~ orders ~ ')',
      'customer_id in (select id from ' ~ customers ~ ')',
    ],
    'stg_payments': [
      'payment_id is null',
      'payment_id in (select id from ' ~ payments ~ ')',
      'order_id in (select id from ' ~ orders ~ ')',
    ],
    'fct_orders': [
      'order_id is null',
      'order_id in (select id from ' ~ orders ~ ')',
      'order_id in (select order_id from ' ~ payments ~ ')',
      'customer_id in (select id from ' ~ customers ~ ')',
    ],
    'dim_customers': [
      'customer_id is null',
      'customer_id in (select id from ' ~ customers ~ ')',
      'customer_id in (select user_id from ' ~ orders ~ ')',
      'customer_id in (select customer_id from ' ~ stg_orders ~ ' where order_id in (select order_id from ' ~ payments ~ '))',
    ],
  }) -%}
{%- endmacro %}
