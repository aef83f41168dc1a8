{{ config(severity='warn') }}
-- Warns when more than 1% of bronze rows did not parse: a producer or contract problem.
select count(*) as rows_total,
       sum(case when parse_status = 'PARSE_ERROR' then 1 else 0 end) as parse_errors
from {{ source('twitch', 'chat_bronze') }}
having sum(case when parse_status = 'PARSE_ERROR' then 1 else 0 end) > 0.01 * count(*)
