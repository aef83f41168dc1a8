select
    user_name,
    count(*) as messages,
    count(distinct channel) as channels,
    min(sent_at) as first_seen,
    max(sent_at) as last_seen,
    bool_or(is_subscriber) as is_subscriber,
    sum(case when is_emote_only then 1 else 0 end) / count(*) as emote_only_share,
    rank() over (order by count(*) desc) as activity_rank
from {{ ref('chat_messages') }}
group by user_name
