//! Twitch chat over IRC: parsing raw lines in Twitch's format (IRCv3 message tags, a
//! prefix, a command and its parameters), and turning a PRIVMSG into the chat JSON that
//! Silt produces to Kafka.
//!
//! Parsing never fails on a well-formed line: tag values are unescaped as IRCv3 says,
//! emote ranges are counted in Unicode code points (as Twitch counts them) and clamped to
//! the message when they run past it.

use serde_json::json;

/// One IRC line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IrcMessage {
    /// Tags in order, values unescaped.
    pub tags: Vec<(String, String)>,
    /// `nick!user@host`, or a server name.
    pub prefix: Option<String>,
    pub command: String,
    pub params: Vec<String>,
}

impl IrcMessage {
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The nick of the prefix (`ronni` of `ronni!ronni@ronni.tmi.twitch.tv`).
    pub fn nick(&self) -> Option<&str> {
        let p = self.prefix.as_deref()?;
        Some(p.split(['!', '@']).next().unwrap_or(p))
    }
}

/// IRCv3 tag value unescaping: `\:` is `;`, `\s` a space, `\\` a backslash, `\r` and
/// `\n` CR and LF, any other escaped character itself, and a lone trailing `\` nothing.
pub fn unescape_tag(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('\\') => out.push('\\'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Parses one line (without its CR LF); `None` when it has no command.
pub fn parse_line(line: &str) -> Option<IrcMessage> {
    let mut rest = line.trim_end_matches(['\r', '\n']);
    let mut msg = IrcMessage::default();
    if let Some(tagged) = rest.strip_prefix('@') {
        let (tags, after) = tagged.split_once(' ').unwrap_or((tagged, ""));
        for tag in tags.split(';').filter(|t| !t.is_empty()) {
            let (k, v) = tag.split_once('=').unwrap_or((tag, ""));
            msg.tags.push((k.to_owned(), unescape_tag(v)));
        }
        rest = after.trim_start_matches(' ');
    }
    if let Some(prefixed) = rest.strip_prefix(':') {
        let (prefix, after) = prefixed.split_once(' ').unwrap_or((prefixed, ""));
        msg.prefix = Some(prefix.to_owned());
        rest = after.trim_start_matches(' ');
    }
    let (command, mut params) = rest.split_once(' ').unwrap_or((rest, ""));
    if command.is_empty() {
        return None;
    }
    msg.command = command.to_ascii_uppercase();
    loop {
        params = params.trim_start_matches(' ');
        if params.is_empty() {
            break;
        }
        if let Some(trailing) = params.strip_prefix(':') {
            msg.params.push(trailing.to_owned());
            break;
        }
        let (p, after) = params.split_once(' ').unwrap_or((params, ""));
        msg.params.push(p.to_owned());
        params = after;
    }
    Some(msg)
}

/// An emote in a message: Twitch's id, and its range in code points (inclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmoteRange {
    pub id: String,
    pub start: usize,
    pub end: usize,
}

/// Twitch's `emotes` tag (`25:0-4,12-16/1902:6-10`) read against the message's text:
/// ranges past the end are clamped, reversed or malformed ones skipped, never an error.
pub fn emotes(tag: &str, text: &str) -> Vec<EmoteRange> {
    let len = text.chars().count();
    let mut out = Vec::new();
    if len == 0 {
        return out;
    }
    for group in tag.split('/').filter(|g| !g.is_empty()) {
        let Some((id, ranges)) = group.split_once(':') else {
            continue;
        };
        for r in ranges.split(',') {
            let Some((a, b)) = r.split_once('-') else {
                continue;
            };
            let (Ok(a), Ok(b)) = (a.trim().parse::<usize>(), b.trim().parse::<usize>()) else {
                continue;
            };
            if a >= len || a > b {
                continue;
            }
            out.push(EmoteRange {
                id: id.to_owned(),
                start: a,
                end: b.min(len - 1),
            });
        }
    }
    out.sort_by_key(|e| e.start);
    out
}

/// A PRIVMSG as Silt's chat JSON, keyed by channel: `(channel, json)`.
pub fn chat_json(m: &IrcMessage) -> Option<(String, String)> {
    if m.command != "PRIVMSG" || m.params.len() < 2 {
        return None;
    }
    let channel = m.params[0].trim_start_matches('#').to_ascii_lowercase();
    let raw = &m.params[1];
    // `/me` actions arrive wrapped in CTCP ACTION.
    let (text, is_action) = match raw
        .strip_prefix("\u{1}ACTION ")
        .map(|t| t.strip_suffix('\u{1}').unwrap_or(t))
    {
        Some(t) => (t.to_owned(), true),
        None => (raw.clone(), false),
    };
    let chars: Vec<char> = text.chars().collect();
    let emote_list: Vec<serde_json::Value> = emotes(m.tag("emotes").unwrap_or(""), &text)
        .into_iter()
        .map(|e| {
            let name: String = chars[e.start..=e.end].iter().collect();
            json!({"id": e.id, "name": name, "start": e.start, "end": e.end})
        })
        .collect();
    let badges: Vec<&str> = m
        .tag("badges")
        .unwrap_or("")
        .split(',')
        .filter(|b| !b.is_empty())
        .collect();
    let flag = |k: &str| m.tag(k) == Some("1");
    let user_name = m.nick().unwrap_or("").to_owned();
    let sent_at = m
        .tag("tmi-sent-ts")
        .and_then(|t| t.parse::<i64>().ok())
        .and_then(chrono::DateTime::from_timestamp_millis)
        .unwrap_or_else(chrono::Utc::now)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let value = json!({
        "id": m.tag("id").unwrap_or(""),
        "channel": channel,
        "user_id": m.tag("user-id").unwrap_or(""),
        "user_name": user_name,
        "display_name": m.tag("display-name").filter(|d| !d.is_empty()).unwrap_or(&user_name),
        "badges": badges,
        "is_subscriber": flag("subscriber") || badges.iter().any(|b| b.starts_with("subscriber/")),
        "is_mod": flag("mod") || badges.iter().any(|b| b.starts_with("moderator/") || b.starts_with("broadcaster/")),
        "is_first_msg": flag("first-msg"),
        "is_action": is_action,
        "emotes": emote_list,
        "message": text,
        "sent_at": sent_at,
    });
    Some((channel, value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Twitch's documented PRIVMSG example (dev.twitch.tv/docs/chat/irc), with its tags.
    const DOCS: &str = "@badge-info=;badges=turbo/1;color=#0D4200;display-name=ronni;emotes=25:0-4,12-16/1902:6-10;id=b34ccfc7-4977-403a-8a94-33c6bac34fb8;mod=0;room-id=1337;subscriber=0;tmi-sent-ts=1507246572675;turbo=1;user-id=1337;user-type=global_mod :ronni!ronni@ronni.tmi.twitch.tv PRIVMSG #ronni :Kappa Keepo Kappa";

    #[test]
    fn parses_twitchs_documented_privmsg() {
        let m = parse_line(DOCS).unwrap();
        assert_eq!(m.command, "PRIVMSG");
        assert_eq!(m.params, vec!["#ronni", "Kappa Keepo Kappa"]);
        assert_eq!(m.nick(), Some("ronni"));
        assert_eq!(m.tag("badge-info"), Some(""));
        assert_eq!(m.tag("user-type"), Some("global_mod"));
        let (channel, json) = chat_json(&m).unwrap();
        assert_eq!(channel, "ronni");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["emotes"][0], json!({"id": "25", "name": "Kappa", "start": 0, "end": 4}));
        assert_eq!(v["emotes"][1], json!({"id": "1902", "name": "Keepo", "start": 6, "end": 10}));
        assert_eq!(v["emotes"][2]["start"], 12);
        assert_eq!(v["sent_at"], "2017-10-05T23:36:12.675Z");
        assert_eq!(v["badges"], json!(["turbo/1"]));
    }

    #[test]
    fn unescapes_tag_values() {
        assert_eq!(unescape_tag(r"hello\sworld\:\\\r\n"), "hello world;\\\r\n");
        assert_eq!(unescape_tag(r"a\b"), "ab");
        assert_eq!(unescape_tag("trailing\\"), "trailing");
        let m = parse_line(r"@system-msg=5\sraiders\sfrom\sX;msg-id=raid :tmi.twitch.tv USERNOTICE #c").unwrap();
        assert_eq!(m.tag("system-msg"), Some("5 raiders from X"));
        assert_eq!(m.params, vec!["#c"]);
    }

    #[test]
    fn emote_ranges_count_code_points_and_are_clamped() {
        // Emoji before the emote: byte offsets would be wrong, code points are right.
        let text = "😂😂 Kappa";
        let e = emotes("25:3-7", text);
        let chars: Vec<char> = text.chars().collect();
        assert_eq!(chars[e[0].start..=e[0].end].iter().collect::<String>(), "Kappa");
        // Past the end: clamped; starting past the end, reversed, or malformed: skipped.
        assert_eq!(emotes("25:3-99", text)[0].end, 7);
        assert!(emotes("25:50-60", text).is_empty());
        assert!(emotes("25:5-2", text).is_empty());
        assert!(emotes("25:x-y,/:/1:1", text).is_empty());
        assert!(emotes("25:0-4", "").is_empty());
    }

    #[test]
    fn actions_other_commands_and_odd_lines() {
        let m = parse_line(":a!a@a.tmi.twitch.tv PRIVMSG #Chan :\u{1}ACTION waves Kappa\u{1}").unwrap();
        let (channel, json) = chat_json(&m).unwrap();
        assert_eq!(channel, "chan");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["is_action"], true);
        assert_eq!(v["message"], "waves Kappa");
        let ping = parse_line("PING :tmi.twitch.tv").unwrap();
        assert_eq!((ping.command.as_str(), ping.params[0].as_str()), ("PING", "tmi.twitch.tv"));
        assert!(chat_json(&ping).is_none());
        let welcome = parse_line(":tmi.twitch.tv 001 justinfan123 :Welcome, GLHF!").unwrap();
        assert_eq!(welcome.command, "001");
        assert_eq!(parse_line(""), None);
        assert_eq!(parse_line("@only-tags"), None);
        // A message with a colon inside, and no tags at all.
        let m = parse_line(":x!x@x PRIVMSG #c :time: 10:30").unwrap();
        assert_eq!(m.params[1], "time: 10:30");
        let (_, json) = chat_json(&m).unwrap();
        assert!(json.contains("\"emotes\":[]"));
    }
}
