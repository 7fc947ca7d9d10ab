{#- An incremental run (dbt/README.md#incremental-runs) recomputes only the customers the changes
    may affect and keeps the base run's rows of all the others. -#}
{%- set base_run = incremental_base() -%}
{%- if not execute %}
-- depends_on: {{ ref('affected_customers') }}
{% endif -%}
with

orders as (

    select * from {{ ref('stg_orders') }}
    {%- if base_run %}
    where customer_id in (select customer_id from {{ ref('affected_customers') }})
    {%- endif %}

),

customer_orders as (

    select
        customer_id,
        min(order_date) as first_order,
        max(order_date) as most_recent_order,
        count(order_id) as number_of_orders

    from orders

    group by customer_id

)

select * from customer_orders
{%- if base_run %}

{{ unaffected_base_rows(base_run, 'customer_id', ref('affected_customers')) }}
{%- endif %}
