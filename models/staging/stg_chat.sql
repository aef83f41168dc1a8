-- Chat as it arrives: one row per message, typed.
select
    message_id,
    lower(channel) as channel,
    user_name,
    sent_at,
    message,
    is_subscriber,
    is_mod
from {{ ref('chat_sample') }}
