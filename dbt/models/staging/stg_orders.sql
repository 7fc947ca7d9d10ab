with

source as (

    select * from {{ source('orders', 'orders') }}

),

renamed as (

    select

        ----------  ids
        id as order_id,
        user_id as customer_id,

        ---------- text
        status,

        ---------- dates
        order_date

    from source

)

select * from renamed
