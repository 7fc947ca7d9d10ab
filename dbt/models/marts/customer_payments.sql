with

payments as (

    select * from {{ ref('stg_payments') }}

),

orders as (

    select * from {{ ref('stg_orders') }}

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
