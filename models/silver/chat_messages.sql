-- Silver: every valid chat message from bronze, its JSON as columns, enriched. A streaming
-- table: each run reads only the bronze rows appended since the last one.
with parsed as (
    select
        topic,
        "partition",
        "offset",
        json_extract_string(payload, '$.id') as message_id,
        lower(json_extract_string(payload, '$.channel')) as channel,
        json_extract_string(payload, '$.user_id') as user_id,
        json_extract_string(payload, '$.user_name') as user_name,
        coalesce(json_extract(payload, '$.badges'), '[]') as badges,
        coalesce(cast(json_extract_string(payload, '$.is_subscriber') as boolean), false) as is_subscriber,
        coalesce(cast(json_extract_string(payload, '$.is_mod') as boolean), false) as is_mod,
        coalesce(cast(json_extract_string(payload, '$.is_first_msg') as boolean), false) as is_first_message,
        cast(json_extract_string(payload, '$.sent_at') as timestamp) as sent_at,
        json_extract_string(payload, '$.message') as message,
        ingest_ts
    from {{ source('twitch', 'chat_bronze') }}
    where parse_status = 'OK'
)

select
    topic,
    "partition",
    "offset",
    message_id,
    channel,
    user_id,
    user_name,
    badges,
    is_subscriber,
    is_mod,
    is_first_message,
    sent_at,
    date_trunc('minute', sent_at) as sent_minute,
    message,
    character_length(message) as message_length,
    sentiment(message) as sentiment,
    char_entropy(message) as char_entropy,
    emote_count(message) as emote_count,
    is_emote_only(message) as is_emote_only,
    ({{ is_engaging('message') }} or is_first_message) as is_engaging,
    ingest_ts
from parsed
