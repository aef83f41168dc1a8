//! Chat enrichment: the logic behind the SQL functions `sentiment`, `char_entropy` and
//! the emote helpers (registered in every session by `exec::functions`). Plain Rust, no
//! engine: each function takes a message's text and returns a number.
//!
//! `sentiment` is a lexicon-and-rules scorer in the manner of VADER (Hutto & Gilbert,
//! 2014), written for Twitch chat: a word list with valences from -4 to 4 (ours, written
//! for this project, see `lexicon.rs`), emoji and emoticons, and the rules that matter in
//! chat: words in capitals amid lower case, letters held ("goooood"), boosters and
//! dampeners ("so", "kinda"), negation ("not good"), "but" shifting the weight to what
//! follows, exclamation marks. Emotes score too, from the emote list a project supplies
//! (a seed CSV: each emote's sentiment in [-1, 1]). The sum is squashed into [-1, 1] as
//! VADER's compound score is: `x / sqrt(x² + 15)`.

mod lexicon;

use std::collections::HashMap;

/// Emote names (case-sensitive, as Twitch matches them) and their sentiment in [-1, 1].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Emotes {
    sentiment: HashMap<String, f64>,
}

impl Emotes {
    pub fn new() -> Emotes {
        Emotes::default()
    }

    /// Adds an emote; its sentiment is clamped to [-1, 1].
    pub fn insert(&mut self, name: &str, sentiment: f64) {
        let s = if sentiment.is_finite() { sentiment.clamp(-1.0, 1.0) } else { 0.0 };
        self.sentiment.insert(name.to_owned(), s);
    }

    pub fn len(&self) -> usize {
        self.sentiment.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sentiment.is_empty()
    }

    pub fn get(&self, token: &str) -> Option<f64> {
        self.sentiment.get(token).copied()
    }

    /// Reads an emote list from CSV text with a header: a column `emote` (or `name`) and
    /// optionally `sentiment`; other columns (provider, ...) are ignored. `origin` names
    /// the file in errors.
    pub fn from_csv(text: &str, origin: &str) -> Result<Emotes, EmotesError> {
        let err = |line: usize, message: String| EmotesError { file: origin.to_owned(), line, message };
        let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
        let Some((_, header)) = lines.next() else {
            return Ok(Emotes::new());
        };
        let columns: Vec<String> = split_csv(header).iter().map(|c| c.trim().to_ascii_lowercase()).collect();
        let name_at = columns
            .iter()
            .position(|c| c == "emote" || c == "name")
            .ok_or_else(|| err(1, format!("an emote list needs a column `emote` (the emote's name); its columns are {}", columns.join(", "))))?;
        let sentiment_at = columns.iter().position(|c| c == "sentiment");
        let mut out = Emotes::new();
        for (i, line) in lines {
            let cells = split_csv(line);
            let name = cells.get(name_at).map(|s| s.trim()).unwrap_or("");
            if name.is_empty() {
                return Err(err(i + 1, "the emote name is empty".into()));
            }
            let sentiment = match sentiment_at.and_then(|at| cells.get(at)).map(|s| s.trim()) {
                None | Some("") => 0.0,
                Some(v) => v
                    .parse::<f64>()
                    .map_err(|_| err(i + 1, format!("the sentiment of `{name}` is `{v}`, not a number")))?,
            };
            out.insert(name, sentiment);
        }
        Ok(out)
    }
}

/// A line of an emote list that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct EmotesError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// Splits a CSV line, honouring double quotes.
fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cell)),
            _ => cell.push(c),
        }
    }
    out.push(cell);
    out
}

/// The tokens of a message: runs of non-whitespace.
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split_whitespace()
}

/// How many tokens of `text` are emotes.
pub fn emote_count(text: &str, emotes: &Emotes) -> i64 {
    tokens(text).filter(|t| emotes.get(t).is_some()).count() as i64
}

/// Whether `text` has at least one token and every token is an emote.
pub fn is_emote_only(text: &str, emotes: &Emotes) -> bool {
    let mut any = false;
    for t in tokens(text) {
        if emotes.get(t).is_none() {
            return false;
        }
        any = true;
    }
    any
}

/// The mean sentiment of the emotes in `text`, `None` when it has none.
pub fn emote_sentiment(text: &str, emotes: &Emotes) -> Option<f64> {
    let (sum, n) = tokens(text)
        .filter_map(|t| emotes.get(t))
        .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// Shannon entropy of the characters of `text`, in bits: 0 for "" and "aaaa", 1 for
/// "abab", log2(n) for n distinct characters each once. Spam repeats characters; this
/// measures how little it says.
pub fn char_entropy(text: &str) -> f64 {
    let mut counts: HashMap<char, usize> = HashMap::new();
    let mut n = 0usize;
    for c in text.chars() {
        *counts.entry(c).or_default() += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    let n = n as f64;
    let h = counts
        .values()
        .map(|&k| {
            let p = k as f64 / n;
            -p * p.log2()
        })
        .sum::<f64>();
    // -0.0 for a single repeated character.
    h.max(0.0)
}

// VADER's constants: the scaling of a negated word, a capitalised word's emphasis, the
// squashing constant, and what one `!` adds (a booster's weight is in the lexicon).
const NEGATE: f64 = -0.74;
const CAPS: f64 = 0.733;
const ALPHA: f64 = 15.0;
const EXCLAIM: f64 = 0.292;
/// An emote's sentiment in [-1, 1], in lexicon units (a strong emote weighs as a
/// strong word).
const EMOTE_SCALE: f64 = 3.0;
/// Letters held ("sooo goood") add emphasis, as capitals do, but less.
const HELD: f64 = 0.4;

/// The sentiment of a chat message, in [-1, 1]: 0 for neutral or empty text.
pub fn sentiment(text: &str, emotes: &Emotes) -> f64 {
    let raw: Vec<&str> = tokens(text).collect();
    if raw.is_empty() {
        return 0.0;
    }
    // Capitals emphasise a word only amid lower case: a message all in capitals is
    // shouting, which weighs every word a little.
    let cased: Vec<bool> = raw.iter().map(|t| is_caps(t)).collect();
    let words_with_letters = raw.iter().filter(|t| t.chars().any(char::is_alphabetic)).count();
    let caps_words = cased.iter().filter(|c| **c).count();
    let shouting = words_with_letters > 0 && caps_words == words_with_letters;
    let mixed = caps_words > 0 && !shouting;

    let norm: Vec<Word> = raw.iter().map(|t| Word::of(t)).collect();
    let mut valences: Vec<f64> = Vec::with_capacity(raw.len());
    for (i, t) in raw.iter().enumerate() {
        let mut v = 0.0;
        if let Some(e) = emotes.get(t) {
            v = e * EMOTE_SCALE;
        } else if let Some(e) = lexicon::emoji_valence(t) {
            v = e;
        } else if let Some(base) = norm[i].valence {
            v = base;
            if cased[i] && mixed {
                v += CAPS * v.signum();
            } else if shouting {
                v += CAPS * 0.5 * v.signum();
            }
            if norm[i].held {
                v += HELD * v.signum();
            }
            // Boosters and dampeners up to three words before.
            for (back, scale) in [(1usize, 1.0), (2, 0.95), (3, 0.9)] {
                if i < back {
                    break;
                }
                if let Some(b) = lexicon::booster(&norm[i - back].text) {
                    let mut b = b * scale;
                    if cased[i - back] && mixed {
                        b += CAPS * b.signum() * 0.5;
                    }
                    v += b * v.signum();
                }
            }
            // Negation up to three words before ("not good", "not very good", "never
            // that fun").
            if (1..=3).any(|back| i >= back && lexicon::is_negation(&norm[i - back].text)) {
                v *= NEGATE;
            }
        }
        valences.push(v);
    }
    // "but": what follows weighs more than what came before.
    if let Some(at) = norm.iter().position(|w| w.text == "but") {
        for (i, v) in valences.iter_mut().enumerate() {
            if i < at {
                *v *= 0.5;
            } else if i > at {
                *v *= 1.5;
            }
        }
    }
    let mut sum: f64 = valences.iter().sum();
    // Exclamation marks amplify whatever the message says (up to four).
    let bangs = text.chars().filter(|c| *c == '!').count().min(4) as f64;
    if sum != 0.0 {
        sum += bangs * EXCLAIM * sum.signum();
    }
    let score = sum / (sum * sum + ALPHA).sqrt();
    score.clamp(-1.0, 1.0)
}

/// A word as looked up: lower case, outer punctuation trimmed, held letters reduced.
struct Word {
    text: String,
    valence: Option<f64>,
    /// A letter was held three times or more ("goooood").
    held: bool,
}

impl Word {
    fn of(token: &str) -> Word {
        // Emoticons are punctuation: look them up as they are.
        if let Some(v) = lexicon::valence(token) {
            return Word { text: token.to_owned(), valence: Some(v), held: false };
        }
        let trimmed: String = token
            .trim_matches(|c: char| !c.is_alphanumeric() && c != '\'')
            .to_lowercase();
        if let Some(v) = lexicon::valence(&trimmed) {
            return Word { text: trimmed, valence: Some(v), held: false };
        }
        // Held letters: runs of three or more, reduced to two ("goood" -> "good"), then
        // to one ("niiice" -> "niice" -> "nice").
        let (two, held) = squeeze(&trimmed, 2);
        if held {
            if let Some(v) = lexicon::valence(&two) {
                return Word { text: two, valence: Some(v), held };
            }
            let (one, _) = squeeze(&trimmed, 1);
            if let Some(v) = lexicon::valence(&one) {
                return Word { text: one, valence: Some(v), held };
            }
            return Word { text: two, valence: None, held };
        }
        Word { text: trimmed, valence: None, held: false }
    }
}

/// `s` with every run of a character longer than two cut to `keep`; whether any was.
fn squeeze(s: &str, keep: usize) -> (String, bool) {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut held = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut j = i;
        while j < chars.len() && chars[j] == c {
            j += 1;
        }
        let run = j - i;
        if run > 2 {
            held = true;
            out.extend(std::iter::repeat_n(c, keep));
        } else {
            out.extend(std::iter::repeat_n(c, run));
        }
        i = j;
    }
    (out, held)
}

/// A word in capitals: at least two letters, none of them lower case.
fn is_caps(token: &str) -> bool {
    let letters = token.chars().filter(|c| c.is_alphabetic()).count();
    letters >= 2 && !token.chars().any(char::is_lowercase)
}

#[cfg(test)]
mod tests;
