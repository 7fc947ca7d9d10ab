{#- An incremental run (dbt/README.md#incremental-runs) recomputes only the orders the changes may
    affect and keeps the base run's rows of all the others. -#}
{%- set payment_methods = ['credit_card', 'coupon', 'bank_transfer', 'gift_card'] -%}
{%- set base_run = incremental_base() -%}
{%- if not execute %}
-- depends_on: {{ ref('affected_orders') }}
{% endif -%}
with

orders as (

    select * from {{ ref('stg_orders') }}
    {%- if base_run %}
    where order_id in (select order_id from {{ ref('affected_orders') }})
    {%- endif %}

),

payments as (

    select * from {{ ref('stg_payments') }}
    {%- if base_run %}
    where order_id in (select order_id from {{ ref('affected_orders') }})
    {%- endif %}

),

order_payments as (

    select
        order_id,

        {% for payment_method in payment_methods -%}
        sum(case when payment_method = '{{ payment_method }}' then amount else 0 end)
            as {{ payment_method }}_amount,
        {% endfor %}
        sum(amount) as total_amount

    from payments

    group by order_id

),

final as (

    select
        orders.order_id,
        orders.customer_id,
        orders.order_date,
        orders.status,

        -- an order without payments has 0.00 for every amount
        {% for payment_method in payment_methods -%}
        cast(coalesce(order_payments.{{ payment_method }}_amount, 0) as decimal(18, 2))
            as {{ payment_method }}_amount,
        {% endfor %}
        cast(coalesce(order_payments.total_amount, 0) as decimal(18, 2)) as amount

    from orders

    left join order_payments
        on orders.order_id = order_payments.order_id

)

select * from final
{%- if base_run %}

{{ unaffected_base_rows(base_run, 'order_id', ref('affected_orders')) }}
{%- endif %}
