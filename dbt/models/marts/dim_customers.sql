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

orders as (

    select * from {{ ref('stg_orders') }}
    {%- if base_run %}
    where customer_id in (select customer_id from {{ ref('affected_customers') }})
    {%- endif %}

),

payments as (

    select * from {{ ref('stg_payments') }}
    {%- if base_run %}
    -- only the payments of the affected customers' orders
    where order_id in (select order_id from orders)
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

),

customer_payments as (

    select
        orders.customer_id,
        sum(payments.amount) as total_amount

    from payments

    inner join orders
        on payments.order_id = orders.order_id

    group by orders.customer_id

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
        cast(customer_payments.total_amount as decimal(18, 2)) as customer_lifetime_value

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
