{#- Silt's built-in generic data tests: dbt's four, and the tests of dbt_utils, in
    DataFusion SQL. Each returns the failing rows. As in dbt, `test_x` dispatches to
    `datafusion__test_x` or `default__test_x`, so a project can override either, or define
    its own test of the same name. -#}

{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {{ return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}

{% macro should_store_failures() -%}
    {%- set store = config.get('store_failures') -%}
    {%- if store is none -%}
        {%- set store = config.get('store_failures_as') in ['table', 'view'] -%}
    {%- endif -%}
    {{ return(store) }}
{%- endmacro %}

{% test not_null(model, column_name) %}
    {{ return(adapter.dispatch('test_not_null', 'dbt')(model, column_name)) }}
{% endtest %}
{% macro default__test_not_null(model, column_name) %}
{% set column_list = '*' if should_store_failures() else column_name %}
select {{ column_list }}
from {{ model }}
where {{ column_name }} is null
{% endmacro %}

{% test unique(model, column_name) %}
    {{ return(adapter.dispatch('test_unique', 'dbt')(model, column_name)) }}
{% endtest %}
{% macro default__test_unique(model, column_name) %}
select
    {{ column_name }} as unique_field,
    count(*) as n_records
from {{ model }}
where {{ column_name }} is not null
group by {{ column_name }}
having count(*) > 1
{% endmacro %}

{% test accepted_values(model, column_name, values, quote=True) %}
    {{ return(adapter.dispatch('test_accepted_values', 'dbt')(model, column_name, values, quote)) }}
{% endtest %}
{% macro default__test_accepted_values(model, column_name, values, quote=True) %}
with all_values as (
    select
        {{ column_name }} as value_field,
        count(*) as n_records
    from {{ model }}
    group by {{ column_name }}
)
select *
from all_values
where value_field not in (
    {% for value in values -%}
        {% if quote -%}
        '{{ value | string | replace("'", "''") }}'
        {%- else -%}
        {{ value }}
        {%- endif -%}
        {%- if not loop.last -%},{%- endif %}
    {%- endfor %}
)
{% endmacro %}

{% test relationships(model, column_name, to, field) %}
    {{ return(adapter.dispatch('test_relationships', 'dbt')(model, column_name, to, field)) }}
{% endtest %}
{% macro default__test_relationships(model, column_name, to, field) %}
with child as (
    select {{ column_name }} as from_field
    from {{ model }}
    where {{ column_name }} is not null
),
parent as (
    select {{ field }} as to_field
    from {{ to }}
)
select
    from_field
from child
left join parent
    on child.from_field = parent.to_field
where parent.to_field is null
{% endmacro %}

{#- dbt_utils' tests, as dbt_utils 1.x writes them. -#}

{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}
with meet_condition as (
  select *
  from {{ model }}
),
validation_errors as (
  select *
  from meet_condition
  where
    -- never true: makes any combination of the conditions below valid SQL
    1 = 2
  {%- if min_value is not none %}
    or not {{ column_name }} > {{- "=" if inclusive }} {{- min_value }}
  {%- endif %}
  {%- if max_value is not none %}
    or not {{ column_name }} < {{- "=" if inclusive }} {{- max_value }}
  {%- endif %}
)
select *
from validation_errors
{% endtest %}

{% test expression_is_true(model, expression, column_name=none) %}
{#- dbt_utils selects `1` unless failures are stored; the rows themselves say more when
    a failure is shown, and counting them costs the same. -#}
select *
from {{ model }}
{% if column_name is none %}
where not({{ expression }})
{%- else %}
where not({{ column_name }} {{ expression }})
{%- endif %}
{% endtest %}

{% test unique_combination_of_columns(model, combination_of_columns, quote_columns=false) %}
{%- if quote_columns -%}
    {%- set columns_csv = combination_of_columns | map('tojson') | join(', ') -%}
{%- else -%}
    {%- set columns_csv = combination_of_columns | join(', ') -%}
{%- endif %}
with validation_errors as (
    select
        {{ columns_csv }}
    from {{ model }}
    group by {{ columns_csv }}
    having count(*) > 1
)
select *
from validation_errors
{% endtest %}

{% test not_empty(model, column_name=none) %}
select 1 as empty_relation
where not exists (
    select 1 from {{ model }}
    {%- if column_name is not none %} where {{ column_name }} is not null{% endif %}
)
{% endtest %}

{% test recency(model, field, datepart, interval, ignore_time_component=false, group_by_columns=[]) %}
{%- set threshold = 'cast(' ~ dbt.dateadd(datepart, interval * -1, dbt.current_timestamp()) ~ ' as ' ~ ('date' if ignore_time_component else dbt.type_timestamp()) ~ ')' -%}
{%- set select_gb_cols = '' -%}
{%- set groupby_gb_cols = '' -%}
{%- if group_by_columns | length > 0 -%}
    {%- set select_gb_cols = group_by_columns | join(', ') ~ ', ' -%}
    {%- set groupby_gb_cols = 'group by ' ~ group_by_columns | join(', ') -%}
{%- endif %}
with recency as (
    select
      {{ select_gb_cols }}
      {% if ignore_time_component -%}
        cast(max({{ field }}) as date) as most_recent
      {%- else -%}
        cast(max({{ field }}) as {{ dbt.type_timestamp() }}) as most_recent
      {%- endif %}
    from {{ model }}
    {{ groupby_gb_cols }}
)
select
    {{ select_gb_cols }}
    most_recent,
    {{ threshold }} as threshold
from recency
where most_recent < {{ threshold }}
    or most_recent is null
{% endtest %}

{% test not_empty_string(model, column_name, trim_whitespace=true) %}
with all_values as (
    select
        {% if trim_whitespace -%}
        trim({{ column_name }}) as {{ column_name }}
        {%- else -%}
        {{ column_name }}
        {%- endif %}
    from {{ model }}
)
select *
from all_values
where {{ column_name }} = ''
{% endtest %}

{% test at_least_one(model, column_name, group_by_columns=[]) %}
{%- set select_gb_cols = '' -%}
{%- set groupby_gb_cols = '' -%}
{%- if group_by_columns | length > 0 -%}
    {%- set select_gb_cols = group_by_columns | join(', ') ~ ', ' -%}
    {%- set groupby_gb_cols = 'group by ' ~ group_by_columns | join(', ') -%}
{%- endif %}
select *
from (
    select
        {{ select_gb_cols }}
        count({{ column_name }}) as filler_column
    from {{ model }}
    {{ groupby_gb_cols }}
    having count({{ column_name }}) = 0
) validation_errors
{% endtest %}

{% test not_constant(model, column_name, group_by_columns=[]) %}
{%- set select_gb_cols = '' -%}
{%- set groupby_gb_cols = '' -%}
{%- if group_by_columns | length > 0 -%}
    {%- set select_gb_cols = group_by_columns | join(', ') ~ ', ' -%}
    {%- set groupby_gb_cols = 'group by ' ~ group_by_columns | join(', ') -%}
{%- endif %}
select
    {{ select_gb_cols }}
    count(distinct {{ column_name }}) as filler_column
from {{ model }}
{{ groupby_gb_cols }}
having count(distinct {{ column_name }}) = 1
{% endtest %}

{% test not_accepted_values(model, column_name, values, quote=true) %}
with all_values as (
    select distinct
        {{ column_name }} as value_field
    from {{ model }}
),
validation_errors as (
    select value_field
    from all_values
    where value_field in (
        {% for value in values -%}
            {% if quote -%}
            '{{ value | string | replace("'", "''") }}'
            {%- else -%}
            {{ value }}
            {%- endif -%}
            {%- if not loop.last -%},{%- endif %}
        {%- endfor %}
    )
)
select *
from validation_errors
{% endtest %}

{% test not_null_proportion(model, column_name, at_least, at_most=1.0, group_by_columns=[]) %}
{%- set select_gb_cols = '' -%}
{%- set groupby_gb_cols = '' -%}
{%- if group_by_columns | length > 0 -%}
    {%- set select_gb_cols = group_by_columns | join(', ') ~ ', ' -%}
    {%- set groupby_gb_cols = 'group by ' ~ group_by_columns | join(', ') -%}
{%- endif %}
with validation as (
    select
        {{ select_gb_cols }}
        sum(case when {{ column_name }} is null then 0 else 1 end) / cast(count(*) as double) as not_null_proportion
    from {{ model }}
    {{ groupby_gb_cols }}
),
validation_errors as (
    select
        {{ select_gb_cols }}
        not_null_proportion
    from validation
    where not_null_proportion < {{ at_least }} or not_null_proportion > {{ at_most }}
)
select *
from validation_errors
{% endtest %}
