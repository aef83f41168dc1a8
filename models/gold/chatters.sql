-- Gold: the chatters dimension, one row per user.
select
    user_id,
    max(user_name) as user_name,
    count(*) as messages,
    count(distinct channel) as channels,
    min(sent_at) as first_seen,
    max(sent_at) as last_seen,
    bool_or(is_subscriber) as is_subscriber,
    bool_or(is_mod) as is_mod,
    avg(sentiment) as avg_sentiment,
    rank() over (order by count(*) desc) as activity_rank
from {{ ref('chat_messages') }}
group by user_id
