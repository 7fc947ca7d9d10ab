{#- An incremental run (dbt/README.md#incremental-runs) recomputes only the customers the changes
    may affect and keeps the base run's rows of all the others. -#}
{%- set base_run = incremental_base() -%}
{%- if not execute %}
-- depends_on: {{ ref('affected_customers') }}
{% endif -%}
with

payments as (

    select * from {{ ref('stg_payments') }}
    {%- if base_run %}
    -- only the payments of the affected customers' orders
    where order_id in (
        select order_id from {{ ref('stg_orders') }}
        where customer_id in (select customer_id from {{ ref('affected_customers') }})
    )
    {%- endif %}

),

orders as (

    select * from {{ ref('stg_orders') }}
    {%- if base_run %}
    where customer_id in (select customer_id from {{ ref('affected_customers') }})
    {%- endif %}

),

customer_payments as (

    select
        orders.customer_id,
        cast(sum(payments.amount) as decimal(18, 2)) as total_amount

    from payments

    inner join orders
        on payments.order_id = orders.order_id

    group by orders.customer_id

)

select * from customer_payments
{%- if base_run %}

{{ unaffected_base_rows(base_run, 'customer_id', ref('affected_customers')) }}
{%- endif %}
