{{ config(materialized='incremental', unique_key=['channel', 'emote'], incremental_strategy='merge') }}
-- Emote use per channel, merged run after run.
with tokens as (
    select channel, unnest(string_to_array(message, ' ')) as token
    from {{ ref('chat_messages') }}
)
select t.channel, e.emote, e.provider, count(*) as uses
from tokens t
join {{ ref('emotes') }} e on e.emote = t.token
group by t.channel, e.emote, e.provider
