-- The audit of fct_orders: each order's payments split by method, recomputed from the domain
-- tables alone, apart from the dbt models. Payments are integer cents; dollars are exact.
with

paid_per_order as (
    select
        order_id,
        sum(amount) as cents,
        sum(amount) filter (where payment_method = 'credit_card') as credit_card_cents,
        sum(amount) filter (where payment_method = 'coupon') as coupon_cents,
        sum(amount) filter (where payment_method = 'bank_transfer') as bank_transfer_cents,
        sum(amount) filter (where payment_method = 'gift_card') as gift_card_cents
    from payments.public.payments
    group by order_id
)

select
    o.id as order_id,
    o.user_id as customer_id,
    o.order_date,
    o.status,
    cast(coalesce(paid.credit_card_cents, 0) as decimal(38, 2)) / 100 as credit_card_amount,
    cast(coalesce(paid.coupon_cents, 0) as decimal(38, 2)) / 100 as coupon_amount,
    cast(coalesce(paid.bank_transfer_cents, 0) as decimal(38, 2)) / 100 as bank_transfer_amount,
    cast(coalesce(paid.gift_card_cents, 0) as decimal(38, 2)) / 100 as gift_card_amount,
    cast(coalesce(paid.cents, 0) as decimal(38, 2)) / 100 as amount
from orders.orders.orders o
left join paid_per_order paid on paid.order_id = o.id
