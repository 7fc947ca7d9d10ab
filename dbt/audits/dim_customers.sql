-- The audit of dim_customers: each customer's orders and lifetime value, recomputed from the
-- domain tables alone, apart from the dbt models. Payments are integer cents; dollars are exact.
with

orders_per_customer as (
    select user_id, min(order_date) as first_order, max(order_date) as most_recent_order, count(*) as number_of_orders
    from orders.orders.orders
    group by user_id
),

paid_per_customer as (
    select o.user_id, sum(p.amount) as cents
    from payments.public.payments p
    join orders.orders.orders o on p.order_id = o.id
    group by o.user_id
)

select
    c.id as customer_id,
    c.first_name,
    c.last_name,
    oc.first_order,
    oc.most_recent_order,
    oc.number_of_orders,
    cast(pc.cents as decimal(38, 2)) / 100 as customer_lifetime_value
from customers.public.customers c
left join orders_per_customer oc on oc.user_id = c.id
left join paid_per_customer pc on pc.user_id = c.id
