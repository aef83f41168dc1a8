{# True when a message mentions, asks or reacts in one of the configured ways. #}
{% macro is_engaging(message_column, words=none) -%}
    {%- set words = words or var('engagement_words') -%}
    (
    {%- for w in words %}
        strpos(lower({{ message_column }}), '{{ w | lower }}') > 0{% if not loop.last %} or{% endif %}
    {%- endfor %}
    )
{%- endmacro %}
