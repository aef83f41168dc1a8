-- Gold: how chat feels over time: messages per sentiment band, per channel and minute.
select
    channel,
    sent_minute,
    case
        when sentiment <= -0.05 then 'negative'
        when sentiment >= 0.05 then 'positive'
        else 'neutral'
    end as sentiment_band,
    count(*) as messages,
    avg(sentiment) as avg_sentiment
from {{ ref('chat_messages') }}
group by 1, 2, 3
