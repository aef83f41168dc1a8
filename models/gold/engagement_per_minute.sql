-- Gold: engaging messages against the others, per channel and minute.
select
    channel,
    sent_minute,
    sum(case when is_engaging then 1 else 0 end) as engaged_messages,
    sum(case when is_engaging then 0 else 1 end) as other_messages,
    count(*) as messages
from {{ ref('chat_messages') }}
group by channel, sent_minute
