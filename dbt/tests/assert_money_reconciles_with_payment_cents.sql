-- Money must not drift between the payments domain (integer cents) and the insights:
-- order totals and customer lifetime values both add up to exactly the cents paid, and
-- each order's amount is exactly the sum of its per-method amounts.
with

source_cents as (

    select coalesce(sum(amount), 0) as cents
    from {{ source('payments', 'payments') }}

),

orders_total as (

    select
        coalesce(sum(amount), 0) as dollars,
        sum(case when amount <> credit_card_amount + coupon_amount + bank_transfer_amount + gift_card_amount then 1 else 0 end)
            as split_mismatches
    from {{ ref('fct_orders') }}

),

customers_total as (

    select coalesce(sum(customer_lifetime_value), 0) as dollars
    from {{ ref('dim_customers') }}

)

select
    source_cents.cents as source_cents,
    orders_total.dollars as fct_orders_dollars,
    customers_total.dollars as dim_customers_dollars,
    orders_total.split_mismatches

from source_cents
cross join orders_total
cross join customers_total

where orders_total.dollars * 100 <> source_cents.cents
    or customers_total.dollars * 100 <> source_cents.cents
    or orders_total.split_mismatches > 0
