with

changed_orders as (

    -- both sides of each change: a deleted order (old row only) must leave the marts, a new one
    -- (new row only) enter them, and an updated one changes its own columns in fct_orders
    select id as order_id from {{ source_changes('orders', 'orders') }}

),

changed_payments as (

    -- both sides: a payment moved to another order changes the totals of both orders, a new or
    -- deleted one those of its order
    select order_id from {{ source_changes('payments', 'payments') }}

),

affected_orders as (

    select order_id from changed_orders
    union
    select order_id from changed_payments

)

-- the marts keep a base row when its key is `not in` this list, which is unknown for every row
-- once the list holds a null; a null order_id fails stg_payments' not_null test anyway
select order_id from affected_orders
where order_id is not null
