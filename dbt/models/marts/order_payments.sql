{#- An incremental run (dbt/README.md#incremental-runs) recomputes only the orders the changes may
    affect and keeps the base run's rows of all the others. -#}
{%- set payment_methods = ['credit_card', 'coupon', 'bank_transfer', 'gift_card'] -%}
{%- set base_run = incremental_base() -%}
{%- if not execute %}
-- depends_on: {{ ref('affected_orders') }}
{% endif -%}
with

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
        cast(sum(case when payment_method = '{{ payment_method }}' then amount else 0 end) as decimal(18, 2))
            as {{ payment_method }}_amount,
        {% endfor %}
        cast(sum(amount) as decimal(18, 2)) as total_amount

    from payments

    group by order_id

)

select * from order_payments
{%- if base_run %}

{{ unaffected_base_rows(base_run, 'order_id', ref('affected_orders')) }}
{%- endif %}
