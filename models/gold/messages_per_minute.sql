select
    channel,
    sent_minute,
    count(*) as messages,
    count(distinct user_name) as unique_chatters,
    sum(case when is_engaging then 1 else 0 end) as engaging_messages,
    avg(emote_sentiment) as avg_emote_sentiment
from {{ ref('chat_messages') }}
group by channel, sent_minute
