//! The word list behind `sentiment`: valences from -4 (most negative) to 4, written for
//! this project for the language of Twitch chat (gaming slang, abbreviations, emoticons).
//! Emotes are not here: they come from the project's emote list, so a channel tunes them
//! by editing data.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

const WORDS: &[(&str, f64)] = &[
    // Positive: praise, fun, hype.
    ("good", 1.9), ("great", 3.1), ("nice", 1.8), ("niice", 2.0), ("cool", 1.3), ("awesome", 3.1),
    ("amazing", 2.8), ("incredible", 2.9), ("insane", 1.8), ("sick", 1.4), ("dope", 1.7),
    ("fire", 1.5), ("lit", 1.6), ("epic", 2.3), ("legendary", 2.6), ("beautiful", 2.9),
    ("perfect", 2.7), ("best", 3.2), ("better", 1.9), ("love", 3.2), ("loved", 2.9),
    ("loving", 2.9), ("lovely", 2.8), ("like", 1.3), ("likes", 1.3), ("liked", 1.4),
    ("enjoy", 2.2), ("enjoying", 2.3), ("fun", 2.3), ("funny", 1.9), ("hilarious", 2.2),
    ("happy", 2.7), ("glad", 2.0), ("excited", 2.2), ("hype", 2.1), ("hyped", 2.2),
    ("pog", 2.4), ("poggers", 2.5), ("pogchamp", 2.5), ("poggies", 2.3), ("based", 1.5),
    ("clutch", 2.3), ("goat", 2.6), ("king", 1.9), ("queen", 1.9), ("legend", 2.4),
    ("win", 2.8), ("wins", 2.7), ("won", 2.7), ("winning", 2.5), ("w", 1.8), ("dub", 1.9),
    ("gg", 1.9), ("ggs", 1.9), ("ggwp", 2.1), ("wp", 1.6), ("ez", 0.9), ("clean", 1.3),
    ("smooth", 1.3), ("skill", 1.6), ("skilled", 1.9), ("talented", 2.3), ("genius", 2.6),
    ("smart", 1.7), ("wholesome", 2.5), ("cute", 2.0), ("sweet", 2.0), ("wow", 2.3),
    ("omg", 1.1), ("yay", 2.4), ("yes", 1.7), ("yess", 1.9), ("yeah", 1.2), ("yep", 0.8),
    ("lol", 1.8), ("lmao", 2.0), ("lmfao", 2.0), ("rofl", 2.0), ("haha", 2.0), ("hahaha", 2.2),
    ("hehe", 1.5), ("xd", 1.6), ("kek", 1.5), ("thanks", 1.9), ("thank", 1.5), ("thx", 1.6),
    ("ty", 1.6), ("tysm", 2.1), ("welcome", 2.0), ("congrats", 2.4), ("congratulations", 2.6),
    ("gratz", 2.2), ("grats", 2.2), ("respect", 2.1), ("support", 1.7), ("proud", 2.2),
    ("hero", 2.3), ("blessed", 2.4), ("peace", 2.1), ("calm", 1.3), ("chill", 1.2),
    ("relaxing", 1.8), ("comfy", 1.9), ("cozy", 1.9), ("fresh", 1.3), ("strong", 1.6),
    ("powerful", 1.8), ("impressive", 2.4), ("brilliant", 2.8), ("fantastic", 3.0),
    ("wonderful", 3.0), ("excellent", 3.0), ("masterpiece", 3.0), ("banger", 2.3),
    ("vibe", 1.4), ("vibes", 1.4), ("vibing", 1.8), ("jam", 1.4), ("bop", 1.7),
    ("ok", 0.6), ("okay", 0.6), ("fine", 0.8), ("decent", 1.2), ("solid", 1.4),
    ("lucky", 1.8), ("luck", 1.3), ("glhf", 1.9), ("gl", 1.3), ("hf", 1.3), ("hi", 0.7),
    ("hello", 0.9), ("hey", 0.6), ("agreed", 1.2), ("true", 0.7),
    ("real", 0.5), ("facts", 0.9), ("carry", 1.3), ("carried", 1.0),
    ("saved", 1.8), ("save", 1.2), ("heal", 1.2), ("safe", 1.5), ("free", 1.3),
    ("helpful", 2.0), ("help", 0.6), ("please", 0.7), ("pls", 0.4), ("sub", 0.8),
    ("subbed", 1.5), ("hyperpog", 2.6), ("goated", 2.6), ("cracked", 1.9), ("unreal", 1.7),
    // Negative: complaint, insult, loss.
    ("bad", -2.5), ("worse", -2.1), ("worst", -3.1), ("terrible", -3.0), ("awful", -3.0),
    ("horrible", -3.0), ("trash", -2.6), ("garbage", -2.6), ("rubbish", -2.2), ("crap", -2.2),
    ("shit", -2.3), ("shitty", -2.6), ("sucks", -2.3), ("suck", -2.2), ("sucked", -2.2),
    ("hate", -3.2), ("hated", -3.0), ("hates", -3.0), ("hating", -2.6), ("dislike", -1.8),
    ("boring", -2.1), ("bored", -1.7), ("lame", -1.9), ("cringe", -2.0), ("cringy", -2.0),
    ("yikes", -1.6), ("ugly", -2.3), ("stupid", -2.4), ("dumb", -2.1), ("idiot", -2.5),
    ("noob", -1.5), ("nub", -1.3), ("bot", -1.2), ("toxic", -2.5), ("annoying", -2.1),
    ("annoyed", -2.0), ("angry", -2.4), ("mad", -1.9), ("rage", -2.2), ("raging", -2.2),
    ("tilted", -1.9), ("tilt", -1.6), ("salty", -1.5), ("sad", -2.1), ("sadge", -1.9),
    ("cry", -1.7), ("crying", -1.9), ("cried", -1.8), ("depressing", -2.6), ("depressed", -2.6),
    ("unlucky", -1.6), ("rip", -1.4), ("dead", -1.6), ("die", -2.0), ("died", -1.8),
    ("death", -2.2), ("kill", -1.6), ("lose", -2.0), ("lost", -1.8), ("loses", -1.9),
    ("losing", -2.0), ("loss", -1.9), ("l", -1.6), ("fail", -2.2), ("failed", -2.2),
    ("fails", -2.0), ("throw", -1.4), ("throwing", -1.7), ("threw", -1.6), ("choke", -1.8),
    ("choked", -2.0), ("feed", -1.1), ("feeding", -1.7), ("int", -1.5), ("inting", -1.8),
    ("lag", -1.7), ("laggy", -1.9), ("lagging", -1.8), ("buffering", -1.5), ("broken", -2.0),
    ("bug", -1.3), ("buggy", -1.8), ("glitch", -1.2), ("scam", -2.6), ("scammed", -2.5),
    ("rigged", -2.1), ("cheater", -2.6), ("cheating", -2.5), ("cheat", -2.1), ("hack", -1.3),
    ("hacker", -2.0), ("ban", -1.6), ("banned", -1.8), ("report", -1.1), ("reported", -1.3),
    ("wtf", -1.5), ("omfg", -1.2), ("ffs", -1.9), ("smh", -1.6), ("ugh", -1.8),
    ("meh", -0.9), ("mid", -1.2), ("overrated", -1.6), ("washed", -1.7), ("weak", -1.6),
    ("pathetic", -2.7), ("disgusting", -2.9), ("gross", -2.2), ("nasty", -1.3),
    ("wrong", -1.7), ("mistake", -1.6), ("problem", -1.3), ("problems", -1.4), ("pain", -2.0),
    ("painful", -2.3), ("hurt", -2.1), ("sorry", -0.7), ("worried", -1.7), ("scary", -1.8),
    ("scared", -1.9), ("afraid", -1.9), ("nervous", -1.3), ("stress", -1.8), ("stressful", -2.0),
    ("waste", -2.0), ("wasted", -2.0), ("useless", -2.4), ("pointless", -1.9), ("unfair", -2.1),
    ("cancer", -2.5), ("clown", -1.7), ("clowns", -1.7), ("ratio", -1.0), ("copium", -0.9),
    ("cope", -1.0), ("seethe", -1.6), ("malding", -1.5), ("sadness", -2.2), ("unplayable", -2.4),
    ("no", -1.2), ("nope", -1.1), ("nah", -0.8), ("never", -0.5), ("ruined", -2.4), ("ruin", -2.1),
    // Emoticons (looked up as typed).
    (":)", 2.0), (":-)", 2.0), (":D", 2.3), (":-D", 2.3), (";)", 1.6), (";-)", 1.6), (":P", 1.4),
    (":p", 1.4), ("<3", 2.3), ("<33", 2.5), ("^^", 1.6), ("^_^", 1.8),
    (":3", 1.5), ("=)", 1.8), (":(", -2.0), (":-(", -2.0), (":'(", -2.3), (":/", -1.0),
    (":-/", -1.0), (":|", -0.6), ("D:", -1.9), (">:(", -2.5), ("</3", -2.5), ("-_-", -1.1),
];

/// Words that strengthen (positive) or soften (negative) the sentiment word after them.
const BOOSTERS: &[(&str, f64)] = &[
    ("very", 0.293), ("so", 0.293), ("soo", 0.293), ("really", 0.293), ("rly", 0.293),
    ("extremely", 0.293), ("super", 0.293), ("absolutely", 0.293), ("completely", 0.293),
    ("totally", 0.293), ("truly", 0.293), ("hella", 0.293), ("mad", 0.293),
    ("fucking", 0.293), ("fking", 0.293), ("freaking", 0.293), ("damn", 0.293),
    ("insanely", 0.293), ("incredibly", 0.293), ("most", 0.293), ("too", 0.293),
    ("such", 0.2), ("literally", 0.2), ("actually", 0.1),
    ("kinda", -0.293), ("kind", -0.293), ("sorta", -0.293), ("somewhat", -0.293),
    ("slightly", -0.293), ("barely", -0.293), ("hardly", -0.293), ("little", -0.293),
    ("bit", -0.293), ("almost", -0.293), ("partly", -0.293), ("marginally", -0.293),
];

/// Words that invert what follows them.
const NEGATIONS: &[&str] = &[
    "not", "no", "never", "nothing", "nobody", "none", "neither", "nor", "nowhere",
    "without", "isnt", "isn't", "aint", "ain't", "arent", "aren't", "wasnt", "wasn't",
    "werent", "weren't", "dont", "don't", "doesnt", "doesn't", "didnt", "didn't", "cant",
    "can't", "cannot", "couldnt", "couldn't", "wont", "won't", "wouldnt", "wouldn't",
    "shouldnt", "shouldn't", "hasnt", "hasn't", "havent", "haven't", "hadnt", "hadn't",
    "nah", "nope",
];

/// Emoji, as chat uses them: 💀 and 😭 are mostly laughter in chat, not grief.
const EMOJI: &[(&str, f64)] = &[
    ("😂", 2.2), ("🤣", 2.4), ("😆", 2.0), ("😄", 2.2), ("😃", 2.2), ("😀", 2.0), ("😁", 2.1),
    ("😊", 2.2), ("🙂", 1.3), ("😉", 1.5), ("😍", 2.8), ("🥰", 2.8), ("😘", 2.3), ("😎", 1.9),
    ("🤩", 2.8), ("🥳", 2.7), ("🎉", 2.5), ("🎊", 2.3), ("❤", 2.8), ("❤️", 2.8), ("💕", 2.6),
    ("💖", 2.7), ("💜", 2.5), ("💙", 2.4), ("💚", 2.4), ("🧡", 2.4), ("💛", 2.4), ("🖤", 1.5),
    ("👍", 1.9), ("👏", 2.1), ("🙌", 2.3), ("💪", 1.9), ("🔥", 2.2), ("💯", 2.1), ("✨", 1.6),
    ("⭐", 1.5), ("🏆", 2.4), ("🙏", 1.7), ("👌", 1.7), ("🤝", 1.5), ("🐐", 2.4), ("😅", 0.8),
    ("💀", 1.2), ("😭", 0.6), ("🤔", -0.2), ("😐", -0.4), ("😑", -0.7), ("😬", -0.9),
    ("🙄", -1.6), ("😒", -1.7), ("😞", -2.0), ("😔", -1.8), ("😟", -1.7), ("😢", -2.1),
    ("😥", -1.7), ("😩", -1.7), ("😫", -1.8), ("😤", -1.5), ("😠", -2.5), ("😡", -2.8),
    ("🤬", -3.0), ("👎", -2.1), ("💩", -2.0), ("🤮", -2.6), ("🤢", -2.2), ("😱", -1.3),
    ("😨", -1.8), ("😰", -1.8), ("💔", -2.6), ("🤡", -1.6), ("🗑", -2.0), ("🗑️", -2.0),
];

static WORD_MAP: LazyLock<HashMap<&'static str, f64>> = LazyLock::new(|| WORDS.iter().copied().collect());
static BOOSTER_MAP: LazyLock<HashMap<&'static str, f64>> = LazyLock::new(|| BOOSTERS.iter().copied().collect());
static NEGATION_SET: LazyLock<HashSet<&'static str>> = LazyLock::new(|| NEGATIONS.iter().copied().collect());
static EMOJI_MAP: LazyLock<HashMap<&'static str, f64>> = LazyLock::new(|| EMOJI.iter().copied().collect());

/// A word's valence (lower case, or an emoticon as typed).
pub fn valence(word: &str) -> Option<f64> {
    WORD_MAP.get(word).copied()
}

pub fn booster(word: &str) -> Option<f64> {
    BOOSTER_MAP.get(word).copied()
}

pub fn is_negation(word: &str) -> bool {
    NEGATION_SET.contains(word)
}

/// The valence of a token made of emoji: their sum ("😂😂" weighs more than "😂"), `None`
/// when it holds none (or anything else).
pub fn emoji_valence(token: &str) -> Option<f64> {
    if token.is_ascii() {
        return None;
    }
    let mut sum = 0.0;
    let mut found = false;
    let mut rest = token;
    'outer: while !rest.is_empty() {
        // Longest match first (emoji with a variation selector are two code points).
        for take in (1..=rest.chars().count().min(3)).rev() {
            let end = rest.char_indices().nth(take).map_or(rest.len(), |(i, _)| i);
            if let Some(v) = EMOJI_MAP.get(&rest[..end]) {
                sum += v;
                found = true;
                rest = &rest[end..];
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        // Variation selectors and joiners between emoji.
        if matches!(c, '\u{FE0F}' | '\u{200D}') || (c as u32) >= 0x1F3FB && (c as u32) <= 0x1F3FF {
            rest = &rest[c.len_utf8()..];
            continue;
        }
        return None;
    }
    // Repeats add, with diminishing weight: "😂😂😂😂😂" is not five times "😂".
    found.then(|| sum.signum() * sum.abs().min(4.0))
}

#[cfg(test)]
pub(super) fn all_words() -> impl Iterator<Item = (&'static str, f64)> {
    WORDS.iter().copied()
}
