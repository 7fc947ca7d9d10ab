-- Money must stay exact: every money column of the insights is decimal(18, 2), never an
-- integer (lost cents) or a double (binary rounding). Returns each offending column.
{%- set money_columns = [
    (ref('stg_payments'), ['amount']),
    (ref('dim_customers'), ['customer_lifetime_value']),
    (ref('fct_orders'), ['credit_card_amount', 'coupon_amount', 'bank_transfer_amount', 'gift_card_amount', 'amount']),
] %}

{% for relation, columns in money_columns %}
select table_name, column_name, data_type
from {{ relation.database }}.information_schema.columns
where table_schema = '{{ relation.schema }}'
    and table_name = '{{ relation.identifier }}'
    and column_name in ('{{ columns | join("', '") }}')
    and not ({{ is_exact_money_type() }})
{% if not loop.last %}union all{% endif %}
{% endfor %}
