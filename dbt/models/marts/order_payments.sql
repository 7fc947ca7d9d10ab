{%- set payment_methods = ['credit_card', 'coupon', 'bank_transfer', 'gift_card'] -%}

with

payments as (

    select * from {{ ref('stg_payments') }}

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
