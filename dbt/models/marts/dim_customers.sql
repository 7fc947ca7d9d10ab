{#- An incremental run (dbt/README.md#incremental-runs) recomputes only the customers the changes
    may affect and keeps the base run's rows of all the others. -#}
{%- set base_run = incremental_base() -%}
{%- if not execute %}
-- depends_on: {{ ref('affected_customers') }}
{% endif -%}
with

customers as (

    select * from {{ ref('stg_customers') }}
    {%- if base_run %}
    where customer_id in (select customer_id from {{ ref('affected_customers') }})
    {%- endif %}

),

customer_orders as (

    select * from {{ ref('customer_orders') }}
    {%- if base_run %}
    where customer_id in (select customer_id from {{ ref('affected_customers') }})
    {%- endif %}

),

customer_payments as (

    select * from {{ ref('customer_payments') }}
    {%- if base_run %}
    where customer_id in (select customer_id from {{ ref('affected_customers') }})
    {%- endif %}

),

final as (

    select
        customers.customer_id,
        customers.first_name,
        customers.last_name,
        customer_orders.first_order,
        customer_orders.most_recent_order,
        customer_orders.number_of_orders,
        -- null when the customer has no orders or payments
        customer_payments.total_amount as customer_lifetime_value

    from customers

    left join customer_orders
        on customers.customer_id = customer_orders.customer_id

    left join customer_payments
        on customers.customer_id = customer_payments.customer_id

)

select * from final
{%- if base_run %}

{{ unaffected_base_rows(base_run, 'customer_id', ref('affected_customers')) }}
{%- endif %}
