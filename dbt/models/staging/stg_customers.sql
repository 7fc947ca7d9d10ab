with

source as (

    -- email is PII: it is never read, so it cannot reach the insights
    select
        id,
        first_name,
        last_name

    from {{ source('customers', 'customers') }}

),

renamed as (

    select

        ----------  ids
        id as customer_id,

        ---------- text
        first_name,
        last_name

    from source

)

select * from renamed
