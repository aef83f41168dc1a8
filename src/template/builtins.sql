{#- Silt's versions of dbt's global macros, in DataFusion SQL.
    Each is dispatched as in dbt: a project can override `default__x` or `datafusion__x`,
    or define `x` itself. Call them as `dbt.x(...)` or plainly as `x(...)`. -#}

{% macro generate_schema_name(custom_schema_name=none, node=none) -%}
    {{ return(adapter.dispatch('generate_schema_name', 'dbt')(custom_schema_name, node)) }}
{%- endmacro %}

{% macro default__generate_schema_name(custom_schema_name, node) -%}
    {%- set default_schema = target.schema -%}
    {%- if custom_schema_name is none -%}
        {{ default_schema }}
    {%- else -%}
        {{ default_schema }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}

{% macro generate_schema_name_for_env(custom_schema_name, node) -%}
    {%- set default_schema = target.schema -%}
    {%- if target.name == 'prod' and custom_schema_name is not none -%}
        {{ custom_schema_name | trim }}
    {%- else -%}
        {{ default_schema }}
    {%- endif -%}
{%- endmacro %}

{% macro generate_alias_name(custom_alias_name=none, node=none) -%}
    {{ return(adapter.dispatch('generate_alias_name', 'dbt')(custom_alias_name, node)) }}
{%- endmacro %}

{% macro default__generate_alias_name(custom_alias_name=none, node=none) -%}
    {%- if custom_alias_name -%}
        {{ custom_alias_name | trim }}
    {%- elif node.version -%}
        {{ return(node.name ~ "_v" ~ (node.version | string | replace(".", "_"))) }}
    {%- else -%}
        {{ node.name }}
    {%- endif -%}
{%- endmacro %}

{% macro generate_database_name(custom_database_name=none, node=none) -%}
    {%- if custom_database_name is none -%}{{ target.database }}{%- else -%}{{ custom_database_name | trim }}{%- endif -%}
{%- endmacro %}

{% macro current_timestamp() -%}now(){%- endmacro %}
{% macro current_timestamp_backcompat() -%}now(){%- endmacro %}
{% macro current_timestamp_in_utc_backcompat() -%}now(){%- endmacro %}

{% macro type_string() -%}varchar{%- endmacro %}
{% macro type_timestamp() -%}timestamp{%- endmacro %}
{% macro type_float() -%}double{%- endmacro %}
{% macro type_numeric() -%}decimal(28, 6){%- endmacro %}
{% macro type_bigint() -%}bigint{%- endmacro %}
{% macro type_int() -%}integer{%- endmacro %}
{% macro type_boolean() -%}boolean{%- endmacro %}

{% macro cast(field, type) -%}cast({{ field }} as {{ type }}){%- endmacro %}
{% macro safe_cast(field, type) -%}try_cast({{ field }} as {{ type }}){%- endmacro %}
{% macro cast_bool_to_text(field) -%}cast({{ field }} as varchar){%- endmacro %}

{% macro concat(fields) -%}concat({{ fields | join(', ') }}){%- endmacro %}
{% macro hash(field) -%}md5(cast({{ field }} as varchar)){%- endmacro %}
{% macro length(expression) -%}length({{ expression }}){%- endmacro %}
{% macro position(substring_text, string_text) -%}strpos({{ string_text }}, {{ substring_text }}){%- endmacro %}
{% macro replace(field, old_chars, new_chars) -%}replace({{ field }}, {{ old_chars }}, {{ new_chars }}){%- endmacro %}
{% macro right(string_text, length_expression) -%}right({{ string_text }}, {{ length_expression }}){%- endmacro %}
{% macro split_part(string_text, delimiter_text, part_number) -%}split_part({{ string_text }}, {{ delimiter_text }}, {{ part_number }}){%- endmacro %}
{% macro escape_single_quotes(expression) -%}{{ expression | replace("'", "''") }}{%- endmacro %}
{% macro string_literal(value) -%}'{{ value }}'{%- endmacro %}

{% macro date_trunc(datepart, date) -%}date_trunc('{{ datepart }}', {{ date }}){%- endmacro %}
{% macro dateadd(datepart, interval, from_date_or_timestamp) -%}
    dateadd('{{ datepart }}', {{ interval }}, {{ from_date_or_timestamp }})
{%- endmacro %}
{% macro datediff(first_date, second_date, datepart) -%}
    datediff('{{ datepart }}', {{ first_date }}, {{ second_date }})
{%- endmacro %}
{% macro last_day(date, datepart) -%}
    cast(dateadd('day', -1, dateadd('{{ datepart }}', 1, date_trunc('{{ datepart }}', {{ date }}))) as date)
{%- endmacro %}

{% macro listagg(measure, delimiter_text="','", order_by_clause=none, limit_num=none) -%}
    {%- if limit_num -%}
    array_to_string(array_slice(array_agg({{ measure }}{% if order_by_clause %} {{ order_by_clause }}{% endif %}), 1, {{ limit_num }}), {{ delimiter_text }})
    {%- else -%}
    string_agg({{ measure }}, {{ delimiter_text }}{% if order_by_clause %} {{ order_by_clause }}{% endif %})
    {%- endif -%}
{%- endmacro %}
{% macro bool_or(expression) -%}bool_or({{ expression }}){%- endmacro %}
{% macro any_value(expression) -%}any_value({{ expression }}){%- endmacro %}

{% macro except() -%}except{%- endmacro %}
{% macro intersect() -%}intersect{%- endmacro %}

{% macro array_construct(inputs=[], data_type=none) -%}make_array({{ inputs | join(', ') }}){%- endmacro %}
{% macro array_append(array, new_element) -%}array_append({{ array }}, {{ new_element }}){%- endmacro %}
{% macro array_concat(array_1, array_2) -%}array_concat({{ array_1 }}, {{ array_2 }}){%- endmacro %}

{% macro generate_series(upper_bound) -%}
    select value as generated_number from generate_series(1, {{ upper_bound }})
{%- endmacro %}

{% macro date_spine(datepart, start_date, end_date) -%}
    select date_{{ datepart }} from (
        select cast(unnest(range(cast({{ start_date }} as timestamp), cast({{ end_date }} as timestamp), interval '1 {{ datepart }}')) as {% if datepart in ['day', 'week', 'month', 'quarter', 'year'] %}date{% else %}timestamp{% endif %}) as date_{{ datepart }}
    ) as spine
{%- endmacro %}

{#- dbt's hook helpers: a hook as JSON text that says whether it runs inside the node's
    transaction (Silt keeps dbt's order: outside ones before pre-hooks, after post-hooks). -#}
{% macro make_hook_config(sql, inside_transaction) -%}
{{ tojson({"sql": sql, "transaction": inside_transaction}) }}
{%- endmacro %}
{% macro before_begin(sql) -%}{{ make_hook_config(sql, inside_transaction=False) }}{%- endmacro %}
{% macro in_transaction(sql) -%}{{ make_hook_config(sql, inside_transaction=True) }}{%- endmacro %}
{% macro after_commit(sql) -%}{{ make_hook_config(sql, inside_transaction=False) }}{%- endmacro %}

{#- dbt's set_sql_header: the block's SQL becomes the model's `sql_header` config, run in
    the model's own session before its query. -#}
{% macro set_sql_header(config) -%}
  {{ config.set('sql_header', caller()) }}
{%- endmacro %}

{#- dbt's statement block: runs its body on the warehouse when executing and keeps the
    result for load_result(name). -#}
{%- macro statement(name=None, fetch_result=False, auto_begin=True, language='sql') -%}
  {%- if execute -%}
    {%- set sql = caller() -%}
    {%- set res, table = adapter.execute(sql, auto_begin=auto_begin, fetch=fetch_result) -%}
    {%- if name is not none -%}
      {{ store_result(name, response=res, agate_table=table) }}
    {%- endif -%}
  {%- endif -%}
{%- endmacro %}
{% macro noop_statement(name=None, message=None, code=None, rows_affected=None, res=None) -%}
  {%- set sql = caller() -%}
  {%- if name is not none -%}{{ store_result(name, response=message) }}{%- endif -%}
{%- endmacro %}

{#- dbt's get_intervals_between: how many `datepart`s lie between two dates, asked of the
    warehouse (1 while parsing, when nothing runs). -#}
{% macro get_intervals_between(start_date, end_date, datepart) -%}
    {%- call statement('get_intervals_between', fetch_result=True) %}
        select {{ dbt.datediff(start_date, end_date, datepart) }}
    {%- endcall -%}
    {%- set value_list = load_result('get_intervals_between') -%}
    {%- if value_list and value_list['data'] -%}
        {{ return(value_list['data'][0][0]) }}
    {%- else -%}
        {{ return(1) }}
    {%- endif -%}
{%- endmacro %}

{#- dbt's get_powers_of_two: the smallest n with 2^n >= upper_bound. -#}
{% macro get_powers_of_two(upper_bound) -%}
    {%- if upper_bound <= 0 -%}
        {{ exceptions.raise_compiler_error("upper bound must be positive") }}
    {%- endif -%}
    {%- for _ in range(1, 100) -%}
        {%- if upper_bound <= 2 ** loop.index -%}{{ return(loop.index) }}{%- endif -%}
    {%- endfor -%}
{%- endmacro %}

{#- dbt's date(year, month, day): a date literal. -#}
{% macro date(year, month, day) -%}
    {%- set m = month | string -%}{%- set d = day | string -%}
    cast('{{ year }}-{{ "0" ~ m if m | length < 2 else m }}-{{ "0" ~ d if d | length < 2 else d }}' as date)
{%- endmacro %}
