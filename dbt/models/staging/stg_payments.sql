with

source as (

    select * from {{ source('payments', 'payments') }}

),

renamed as (

    select

        ----------  ids
        id as payment_id,
        order_id,

        ---------- text
        payment_method,

        ---------- numerics
        -- cents -> exact dollars, decimal(18, 2)
        {{ cents_to_dollars('amount') }} as amount

    from source

)

select * from renamed
