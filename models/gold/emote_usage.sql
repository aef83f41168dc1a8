-- Gold: emote use per channel.
with tokens as (
    select channel, unnest(string_to_array(message, ' ')) as token
    from {{ ref('chat_messages') }}
)
select t.channel, e.emote, count(*) as uses
from tokens t
join {{ ref('dim_emotes') }} e on e.emote = t.token
group by t.channel, e.emote
