-- The orders whose fct_orders row a change to the domains may alter: a changed order, as it was
-- and as it is, and the order of a changed payment, as the payment was and as it is (a payment
-- can move to another order). A customer's change alters no column of fct_orders.
select id as order_id from {{ changes('orders.orders.orders') }}
union
select order_id from {{ changes('payments.public.payments') }}
