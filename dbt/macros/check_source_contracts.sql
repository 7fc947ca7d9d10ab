{#-
  Source contracts: checks every source table of this project against the columns and
  data_types declared for it in models/staging/__sources.yml, BEFORE anything is built. It is
  the project's on-run-start hook, so every dbt build runs it first and builds nothing when it
  fails; it can also run alone:

      dbt run-operation check_source_contracts --vars '{...same vars as dbt build...}'

  It reads the actual columns of every source table from <catalog>.information_schema.columns
  in Trino, all in one query, and compares:
    - a declared column that is missing breaks the contract (renamed or dropped);
    - a declared column whose type differs breaks it. Types are compared by base name,
      case-insensitively; varchar and varchar(n) are the same type (a length change is not
      breaking); integer types must match exactly (integer is not bigint). A declared type
      with parameters other than varchar (e.g. decimal(18,2)) must match them too.
    - columns that are not declared are allowed (an additive change).
    - a declared PII column (meta.contains_pii: true) that the user cannot see is not checked:
      Trino's file-based access control hides a column denied to a user (`allow: false`) from
      information_schema.columns as well, and the dbt user must never read PII. It is named
      in the success line instead. A visible PII column is checked like any other.
  Every broken column is reported (one line each, naming the domain = the source name, the
  table and the column) and the operation fails; dbt exits non-zero. On success it logs one
  line per source table.
-#}
{% macro check_source_contracts() %}
  {%- if not execute -%}
    {{ return('') }}
  {%- endif -%}

  {%- set sources = graph.sources.values()
        | selectattr('package_name', 'equalto', project_name)
        | sort(attribute='unique_id') | list -%}
  {%- if sources | length == 0 -%}
    {{ exceptions.raise_compiler_error('source contract check: no sources found in project ' ~ project_name) }}
  {%- endif -%}

  {#- Every source's actual columns in one query, one branch per source, since each query to
      Trino costs a round trip of its own. -#}
  {%- set branches = [] -%}
  {%- for source in sources -%}
    {%- do branches.append(
          "select " ~ loop.index0 ~ " as source_index, column_name, data_type, ordinal_position"
          ~ " from " ~ adapter.quote(source.database | lower) ~ ".information_schema.columns"
          ~ " where table_schema = '" ~ (source.schema | lower | replace("'", "''")) ~ "'"
          ~ " and table_name = '" ~ (source.identifier | lower | replace("'", "''")) ~ "'") -%}
  {%- endfor -%}
  {%- set actual_by_source = {} -%}
  {%- for row in run_query(branches | join('\nunion all\n') ~ '\norder by source_index, ordinal_position') -%}
    {%- do actual_by_source.setdefault(row[0] | int, []).append([row[1], row[2]]) -%}
  {%- endfor -%}

  {%- set problems = [] -%}
  {%- for source in sources -%}
    {%- set source_index = loop.index0 -%}
    {%- set where = 'source contract broken: domain ' ~ source.source_name ~ ', table ' ~ source.name ~ ': ' -%}
    {%- set declared = source.columns.values() | list -%}
    {%- set source_problems = [] -%}
    {%- set hidden_pii = [] -%}

    {%- if declared | length == 0 -%}
      {%- do source_problems.append(where ~ 'no columns are declared in the contract') -%}
    {%- endif -%}
    {%- for column in declared if not column.get('data_type') -%}
      {%- do source_problems.append(where ~ 'column ' ~ column.name ~ ' has no data_type in the contract') -%}
    {%- endfor -%}

    {%- if source_problems | length == 0 -%}
      {%- set actual = {} -%}
      {%- set actual_names = [] -%}
      {%- for column_name, data_type in actual_by_source.get(source_index, []) -%}
        {%- do actual.update({column_name | lower: data_type}) -%}
        {%- do actual_names.append(column_name) -%}
      {%- endfor -%}

      {%- if actual_names | length == 0 -%}
        {%- do source_problems.append(where ~ 'table ' ~ source.database ~ '.' ~ source.schema ~ '.' ~ source.identifier
              ~ ' not found or not visible to user ' ~ target.user
              ~ ' (no columns in ' ~ source.database ~ '.information_schema.columns)') -%}
      {%- else -%}
        {%- for column in declared -%}
          {%- set name = column.name | lower -%}
          {%- set is_pii = (column.get('meta') or {}).get('contains_pii')
                or ((column.get('config') or {}).get('meta') or {}).get('contains_pii') -%}
          {%- if name not in actual and is_pii -%}
            {%- do hidden_pii.append(column.name) -%}
          {%- elif name not in actual -%}
            {%- do source_problems.append(where ~ 'column ' ~ column.name ~ ' is missing (renamed?); found columns: '
                  ~ actual_names | join(', ')) -%}
          {%- elif not source_contract_type_matches(column.data_type, actual[name]) -%}
            {%- do source_problems.append(where ~ 'column ' ~ column.name ~ ' has type ' ~ actual[name]
                  ~ ', the contract says ' ~ column.data_type) -%}
          {%- endif -%}
        {%- endfor -%}
      {%- endif -%}
    {%- endif -%}

    {%- if source_problems | length == 0 and hidden_pii | length == 0 -%}
      {{ log('source contract ok: domain ' ~ source.source_name ~ ', table ' ~ source.name
             ~ ' (' ~ declared | length ~ ' columns)', info=True) }}
    {%- elif source_problems | length == 0 -%}
      {{ log('source contract ok: domain ' ~ source.source_name ~ ', table ' ~ source.name
             ~ ' (' ~ (declared | length - hidden_pii | length) ~ ' of ' ~ declared | length ~ ' columns; '
             ~ 'not visible to user ' ~ target.user ~ ', so not checked: PII column ' ~ hidden_pii | join(', ') ~ ')', info=True) }}
    {%- endif -%}
    {%- do problems.extend(source_problems) -%}
  {%- endfor -%}

  {%- if problems | length > 0 -%}
    {{ exceptions.raise_compiler_error(problems | join('\n')) }}
  {%- endif -%}
{% endmacro %}


{#- True when a source column's actual Trino type satisfies the declared one (see above). -#}
{% macro source_contract_type_matches(declared, actual) %}
  {%- set declared_type = source_contract_normalize_type(declared) -%}
  {%- set actual_type = source_contract_normalize_type(actual) -%}
  {%- set declared_base = source_contract_base_type(declared_type) -%}
  {%- if declared_base != source_contract_base_type(actual_type) -%}
    {{ return(false) }}
  {%- elif declared_base == 'varchar' or '(' not in declared_type -%}
    {{ return(true) }}
  {%- else -%}
    {{ return(declared_type | replace(' ', '') == actual_type | replace(' ', '')) }}
  {%- endif -%}
{% endmacro %}

{#- Lower case, single spaces: ' Decimal( 18, 2 ) ' -> 'decimal( 18, 2 )'. PostgreSQL's names for
    varchar (the benchmark's centralized build reads its information_schema) are Trino's varchar. -#}
{% macro source_contract_normalize_type(data_type) %}
  {%- set spelled = (data_type | string).lower().split() | join(' ') -%}
  {{ return({'character varying': 'varchar', 'text': 'varchar'}.get(spelled, spelled)) }}
{% endmacro %}

{#- The type without its parameters: 'varchar(1024)' -> 'varchar',
    'timestamp(3) with time zone' -> 'timestamp with time zone'. -#}
{% macro source_contract_base_type(data_type) %}
  {%- if '(' not in data_type -%}
    {{ return(data_type) }}
  {%- endif -%}
  {%- set head = data_type.split('(')[0] -%}
  {%- set tail = data_type.split(')')[-1] -%}
  {{ return((head ~ ' ' ~ tail).split() | join(' ')) }}
{% endmacro %}
