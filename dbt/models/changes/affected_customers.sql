with

changed_customers as (

    -- a customer's own columns are dim_customers' columns; a deleted customer (old row only)
    -- must leave it, a new one (new row only) enter it
    select id as customer_id from {{ source_changes('customers', 'customers') }}

),

changed_order_customers as (

    -- both sides of each changed order: an order moved to another customer changes the order
    -- counts, dates and payment totals of both, a deleted order those of its last customer, a
    -- new one those of its customer
    select user_id as customer_id from {{ source_changes('orders', 'orders') }}

),

changed_payments as (

    -- both sides: a payment moved to another order changes both orders' customers
    select order_id from {{ source_changes('payments', 'payments') }}

),

paying_customers as (

    -- a changed payment counts towards the customer who holds its order now; when the order
    -- itself changed hands, its customer in the base run is in changed_order_customers, and
    -- otherwise it is this same customer
    select customer_id from {{ ref('stg_orders') }}
    where order_id in (select order_id from changed_payments)

),

affected_customers as (

    select customer_id from changed_customers
    union
    select customer_id from changed_order_customers
    union
    select customer_id from paying_customers

)

-- the marts keep a base row when its key is `not in` this list, which is unknown for every row
-- once the list holds a null; a null customer_id fails stg_orders' not_null test anyway
select customer_id from affected_customers
where customer_id is not null
