//! Synthetic Twitch chat: short, emote-heavy messages, caps, repeated words, emoji, `/me`
//! actions, several channels of different sizes, bursts. Message `i` of seed `s` depends on
//! `(s, i)` only, so a sample of N messages is the first N of a longer one: the embedded
//! cluster holds the same messages at the same offsets every run, and growing the sample
//! only appends.

use serde_json::json;

/// Channels and how often they speak (a few big streams, a long tail).
const CHANNELS: &[(&str, u32)] = &[
    ("xqc", 30),
    ("shroud", 20),
    ("pokimane", 15),
    ("lirik", 12),
    ("summit1g", 10),
    ("sodapoppin", 8),
    ("smallstreamer", 5),
];

/// Emotes with their Twitch emote ids where they are global Twitch emotes (the others
/// come from BTTV, FFZ and 7TV, which carry no ids in IRC tags).
const EMOTES: &[(&str, Option<&str>)] = &[
    ("Kappa", Some("25")),
    ("PogChamp", Some("305954156")),
    ("LUL", Some("425618")),
    ("BibleThump", Some("86")),
    ("ResidentSleeper", Some("245")),
    ("KEKW", None),
    ("monkaS", None),
    ("Pog", None),
    ("PepeHands", None),
    ("catJAM", None),
];

const PHRASES: &[&str] = &[
    "gg",
    "nice shot",
    "what a play",
    "is this live?",
    "hello chat",
    "first time here!",
    "no way",
    "that was close",
    "lets goooo",
    "F",
    "@{user} you right",
    "why would you do that",
    "clip it",
    "how is he so good",
    "bad take tbh",
    "love this stream <3",
    "so boring today",
    "what song is this?",
    "!uptime",
    "he's cracked",
];

const EMOJI: &[&str] = &["😂", "🔥", "❤️", "💀", "👀", "😭", "🐐", "🎉"];

/// splitmix64: a fast, well-mixed 64-bit hash.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The random numbers of one message.
struct Draws {
    state: u64,
}

impl Draws {
    fn new(seed: u64, i: u64) -> Draws {
        Draws {
            state: mix(seed ^ mix(i.wrapping_mul(0x2545_f491_4f6c_dd1d))),
        }
    }

    fn next(&mut self) -> u64 {
        self.state = mix(self.state);
        self.state
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// One generated chat message: its Kafka key (the channel) and JSON value.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    pub key: String,
    pub value: String,
}

/// The time of message `i`: the sample starts 2024-03-01 20:00:00 UTC; chat comes in
/// bursts (a burst every 64 messages fills a few seconds, quiet stretches between).
fn sent_at_millis(seed: u64, i: u64) -> i64 {
    const START: i64 = 1_709_323_200_000;
    let burst = i / 64;
    let within = i % 64;
    let gap = Draws::new(seed ^ 0x5eed, burst).below(20_000) as i64;
    START + burst as i64 * 25_000 + gap / 4 + within as i64 * 60
}

/// Message `i` of the chat generated from `seed`.
pub fn message(seed: u64, i: u64) -> ChatMessage {
    let mut d = Draws::new(seed, i);
    let total: u32 = CHANNELS.iter().map(|c| c.1).sum();
    let mut roll = d.below(total as u64) as u32;
    let mut channel = CHANNELS[0].0;
    for (name, weight) in CHANNELS {
        if roll < *weight {
            channel = name;
            break;
        }
        roll -= weight;
    }
    // A few hundred regulars and a long tail of one-time chatters.
    let user_no = if d.chance(70) {
        d.below(300)
    } else {
        300 + d.below(5_000)
    };
    let user_name = format!("viewer_{user_no:04}");
    let mut text_parts: Vec<String> = Vec::new();
    let kind = d.below(100);
    if kind < 35 {
        // Emote spam, often the same emote repeated.
        let e = d.pick(EMOTES).0;
        let n = 1 + d.below(4);
        for _ in 0..n {
            text_parts.push(if d.chance(70) { e.to_owned() } else { d.pick(EMOTES).0.to_owned() });
        }
    } else if kind < 45 {
        text_parts.push(format!("{}!!!", d.pick(PHRASES).to_uppercase()));
    } else if kind < 52 {
        let word = *d.pick(&["LETS GO", "W", "L", "OMEGALUL", "no", "yes"]);
        let n = 2 + d.below(5);
        text_parts.push(vec![word; n as usize].join(" "));
    } else {
        let other = format!("viewer_{:04}", d.below(300));
        text_parts.push(d.pick(PHRASES).replace("{user}", &other));
        if d.chance(40) {
            text_parts.push(d.pick(EMOTES).0.to_owned());
        }
    }
    if d.chance(12) {
        text_parts.push((*d.pick(EMOJI)).to_owned());
    }
    let message = text_parts.join(" ");
    let is_action = d.chance(3);
    // Emote ranges as Twitch sends them: code point positions, inclusive.
    let mut emotes = Vec::new();
    let mut pos = 0usize;
    for word in message.split(' ') {
        let len = word.chars().count();
        if let Some((name, Some(id))) = EMOTES.iter().find(|(n, _)| *n == word) {
            emotes.push(json!({"id": id, "name": name, "start": pos, "end": pos + len - 1}));
        }
        pos += len + 1;
    }
    let is_subscriber = user_no < 300 && d.chance(35);
    let is_mod = user_no < 20 && d.chance(50);
    let mut badges = Vec::new();
    if is_mod {
        badges.push("moderator/1".to_owned());
    }
    if is_subscriber {
        badges.push(format!("subscriber/{}", 1 + d.below(36)));
    }
    let sent_at = chrono::DateTime::from_timestamp_millis(sent_at_millis(seed, i))
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let value = json!({
        "id": format!("{:016x}-{i:08}", mix(seed ^ i)),
        "channel": channel,
        "user_id": format!("{}", 100_000 + user_no),
        "user_name": user_name,
        "display_name": user_name.replace("viewer", "Viewer"),
        "badges": badges,
        "is_subscriber": is_subscriber,
        "is_mod": is_mod,
        "is_first_msg": user_no >= 300 && d.chance(30),
        "is_action": is_action,
        "emotes": emotes,
        "message": message,
        "sent_at": sent_at,
    });
    ChatMessage {
        key: channel.to_owned(),
        value: value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_chat_and_longer_samples_extend_shorter_ones() {
        let a: Vec<ChatMessage> = (0..200).map(|i| message(7, i)).collect();
        let b: Vec<ChatMessage> = (0..200).map(|i| message(7, i)).collect();
        assert_eq!(a, b);
        assert_ne!(message(8, 0), message(7, 0));
        // Realistic: several channels, emotes in many messages, mostly short.
        let channels: std::collections::HashSet<&str> = a.iter().map(|m| m.key.as_str()).collect();
        assert!(channels.len() >= 5, "{channels:?}");
        let with_emotes = a.iter().filter(|m| EMOTES.iter().any(|(e, _)| m.value.contains(e))).count();
        assert!(with_emotes > 60, "{with_emotes}");
        for m in &a {
            let v: serde_json::Value = serde_json::from_str(&m.value).unwrap();
            assert!(v["message"].as_str().unwrap().chars().count() < 120);
            assert!(chrono::DateTime::parse_from_rfc3339(v["sent_at"].as_str().unwrap()).is_ok());
        }
    }

    #[test]
    fn emote_ranges_count_code_points() {
        for i in 0..500 {
            let m = message(3, i);
            let v: serde_json::Value = serde_json::from_str(&m.value).unwrap();
            let text: Vec<char> = v["message"].as_str().unwrap().chars().collect();
            for e in v["emotes"].as_array().unwrap() {
                let (s, end) = (e["start"].as_u64().unwrap() as usize, e["end"].as_u64().unwrap() as usize);
                let got: String = text[s..=end].iter().collect();
                assert_eq!(got, e["name"].as_str().unwrap());
            }
        }
    }
}
