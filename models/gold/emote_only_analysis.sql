-- Gold: messages made only of emotes against the others, per channel.
select
    channel,
    is_emote_only,
    count(*) as messages,
    avg(emote_count) as avg_emotes,
    avg(message_length) as avg_length,
    avg(sentiment) as avg_sentiment,
    avg(char_entropy) as avg_char_entropy
from {{ ref('chat_messages') }}
group by channel, is_emote_only
