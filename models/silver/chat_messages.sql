with messages as (
    select * from {{ ref('stg_chat') }}
),

tokens as (
    select message_id, unnest(string_to_array(message, ' ')) as token
    from messages
),

emote_stats as (
    select
        t.message_id,
        count(e.emote) as emote_count,
        count(*) as token_count,
        avg(e.sentiment) as emote_sentiment
    from tokens t
    left join {{ ref('emotes') }} e on e.emote = t.token
    group by t.message_id
)

select
    m.message_id,
    m.channel,
    m.user_name,
    m.sent_at,
    date_trunc('minute', m.sent_at) as sent_minute,
    m.message,
    character_length(m.message) as message_length,
    coalesce(s.emote_count, 0) as emote_count,
    coalesce(s.emote_count, 0) = s.token_count as is_emote_only,
    coalesce(s.emote_sentiment, 0.0) as emote_sentiment,
    upper(m.message) = m.message and m.message <> lower(m.message) as is_caps,
    {{ is_engaging('m.message') }} as is_engaging,
    m.is_subscriber,
    m.is_mod
from messages m
left join emote_stats s using (message_id)
