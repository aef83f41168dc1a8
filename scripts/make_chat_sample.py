"""Writes seeds/chat_sample.csv: deterministic synthetic Twitch chat for the reference
project, until the Kafka ingester feeds bronze (issue 4). Short, emote-heavy messages,
caps, repeats, several channels, bursts.

    python3 scripts/make_chat_sample.py > seeds/chat_sample.csv
"""

import csv
import random
import sys
from datetime import datetime, timedelta

rng = random.Random(42)
channels = ["shroud", "pokimane", "xqc", "lirik"]
users = [f"viewer_{i:03d}" for i in range(60)]
emotes = ["Kappa", "PogChamp", "LUL", "KEKW", "monkaS", "Pog", "BibleThump", "ResidentSleeper", "PepeHands", "catJAM"]
phrases = ["gg", "nice shot", "what a play", "is this live?", "hello chat", "first time here!", "no way",
           "that was close", "lets goooo", "F", "@{user} you right", "why would you do that", "clip it",
           "how is he so good", "bad take tbh", "love this stream <3", "so boring today"]

w = csv.writer(sys.stdout, lineterminator="\n")
w.writerow(["message_id", "channel", "user_name", "sent_at", "message", "is_subscriber", "is_mod"])
start = datetime(2024, 3, 1, 20, 0, 0)
t = start
for i in range(1, 601):
    # Bursts: most gaps are short, a few are long.
    t += timedelta(seconds=rng.choice([1, 1, 2, 3, 5, 8, 30]))
    channel = rng.choice(channels)
    user = rng.choice(users)
    kind = rng.random()
    if kind < 0.3:
        msg = " ".join(rng.choice(emotes) for _ in range(rng.randint(1, 4)))
    elif kind < 0.4:
        msg = rng.choice(phrases).upper() + "!!!"
    else:
        msg = rng.choice(phrases).replace("{user}", rng.choice(users))
        if rng.random() < 0.4:
            msg += " " + rng.choice(emotes)
    w.writerow([i, channel, user, t.strftime("%Y-%m-%d %H:%M:%S"), msg, str(rng.random() < 0.3).lower(), str(rng.random() < 0.05).lower()])
