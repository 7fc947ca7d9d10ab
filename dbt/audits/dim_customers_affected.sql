-- The customers whose dim_customers row a change to the domains may alter, read from the domain
-- tables and their changed rows alone, apart from the dbt models: a changed customer; the
-- customer of a changed order, both as it was and as it is (an order can move to another
-- customer, or go); and the customer of each order whose payments changed, as the order is now
-- (when the order changed too, the line before has its earlier customer).
select id as customer_id from {{ changes('customers.public.customers') }}
union
select user_id as customer_id from {{ changes('orders.orders.orders') }}
union
select o.user_id as customer_id
from orders.orders.orders o
join {{ changes('payments.public.payments') }} p on p.order_id = o.id
