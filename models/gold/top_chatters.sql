-- Gold: the ten most active chatters of each channel.
with per_channel as (
    select channel, user_id, count(*) as messages,
           row_number() over (partition by channel order by count(*) desc, user_id) as position
    from {{ ref('chat_messages') }}
    group by channel, user_id
)
select channel, user_id, messages, position
from per_channel
where position <= 10
