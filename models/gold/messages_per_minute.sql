-- Gold: chat volume per channel and minute.
select
    channel,
    sent_minute,
    count(*) as messages,
    count(distinct user_id) as unique_chatters,
    avg(sentiment) as avg_sentiment
from {{ ref('chat_messages') }}
group by channel, sent_minute
