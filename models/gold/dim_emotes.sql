-- Gold: the emotes dimension: the emote list with how much each is used.
with tokens as (
    select channel, unnest(string_to_array(message, ' ')) as token
    from {{ ref('chat_messages') }}
),
uses as (
    select token as emote, count(*) as uses, count(distinct channel) as channels
    from tokens
    group by token
)
select e.emote, e.provider, e.sentiment, coalesce(u.uses, 0) as uses, coalesce(u.channels, 0) as channels
from {{ ref('emotes') }} e
left join uses u on u.emote = e.emote
