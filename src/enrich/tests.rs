use super::*;

fn emotes() -> Emotes {
    Emotes::from_csv(
        "emote,provider,sentiment\nKappa,twitch,0.1\nPogChamp,twitch,0.8\nLUL,twitch,0.5\nBibleThump,twitch,-0.6\nResidentSleeper,twitch,-0.7\nmonkaS,bttv,-0.3\nCatJAM,7tv,0.6\n",
        "emotes.csv",
    )
    .unwrap()
}

fn s(text: &str) -> f64 {
    sentiment(text, &emotes())
}

/// Hand-scored chat: each message was given a score by reading it (-1 hostile or
/// miserable, 0 neutral, 1 elated); the scorer must agree on the sign, and its score must
/// be within 0.35 of ours.
#[test]
fn sentiment_agrees_with_hand_scored_chat() {
    let scored: &[(&str, f64)] = &[
        ("gg wp that was amazing", 0.85),
        ("this stream is so boring ResidentSleeper", -0.8),
        ("LMAO 😂😂", 0.75),
        ("not bad at all", 0.3),
        ("what time does the stream end", 0.0),
        ("I hate this map", -0.7),
        ("love you streamer <3", 0.85),
        ("PogChamp PogChamp PogChamp", 0.8),
        ("trash team, uninstall", -0.6),
        ("rip BibleThump", -0.55),
        ("nice clutch!!!", 0.8),
        ("the lag is unplayable", -0.75),
        ("first time here, hi everyone", 0.3),
        ("kinda mid tbh", -0.3),
        ("that was not good", -0.4),
        ("!drop", 0.0),
        ("W streamer", 0.45),
        ("L take", -0.4),
        ("thanks for the raid! 🎉", 0.8),
        ("I was bored but this is fun", 0.55),
    ];
    let mut worst = (0.0, "");
    for (text, hand) in scored {
        let got = s(text);
        assert!(
            (-1.0..=1.0).contains(&got),
            "`{text}`: {got} is outside [-1, 1]"
        );
        if *hand == 0.0 {
            assert!(got.abs() < 0.05, "`{text}`: hand-scored neutral, scored {got:.3}");
        } else {
            assert_eq!(got.signum(), hand.signum(), "`{text}`: hand-scored {hand}, scored {got:.3}");
        }
        let off = (got - hand).abs();
        if off > worst.0 {
            worst = (off, text);
        }
        assert!(off <= 0.35, "`{text}`: hand-scored {hand}, scored {got:.3}");
    }
    eprintln!("largest difference from the hand scores: {:.3} on `{}`", worst.0, worst.1);
}

#[test]
fn chat_emphasis_strengthens_sentiment() {
    // Capitals amid lower case, held letters, boosters, exclamation marks.
    assert!(s("this is GOOD") > s("this is good"));
    assert!(s("sooo goooood") > s("so good"));
    assert!(s("so good") > s("good"));
    assert!(s("good!!!") > s("good"));
    assert!(s("kinda good") < s("good"));
    assert!(s("this is TRASH") < s("this is trash"));
    // A message in capitals is shouting: stronger, but each word not as much as one
    // capitalised word amid lower case.
    assert!(s("GOOD GAME") > s("good game"));
    // Held letters find the word: "niiiiice" is "nice".
    assert!(s("niiiiice") > 0.3);
    assert!(s("noooo way") < 0.0);
}

#[test]
fn negation_and_but_turn_the_sentiment() {
    assert!(s("good") > 0.0);
    assert!(s("not good") < 0.0);
    assert!(s("not very good") < 0.0);
    assert!(s("don't like it") < 0.0);
    assert!(s("isn't bad") > 0.0);
    assert!(s("never boring") > 0.0);
    // What follows "but" weighs more.
    assert!(s("good but boring") < 0.0);
    assert!(s("boring but good") > 0.0);
}

#[test]
fn emotes_and_emoji_carry_sentiment() {
    let none = Emotes::new();
    // Without the list an emote is an unknown word.
    assert_eq!(sentiment("BibleThump", &none), 0.0);
    assert!(s("PogChamp") > 0.5);
    assert!(s("BibleThump") < -0.3);
    // Case matters for emotes, as in Twitch.
    assert_eq!(s("biblethump"), 0.0);
    assert!(s("😂") > 0.3);
    assert!(s("😡😡") < -0.5);
    assert!(s("😡😡") < s("😡"));
    assert!(s("❤️") > 0.3, "an emoji with a variation selector");
    assert!(s("👍🏽") > 0.3, "an emoji with a skin tone");
    assert!(s(":)") > 0.3 && s(":(") < -0.3 && s("<3") > 0.3);
    // Emoji mixed with letters in one token are not guessed at.
    assert_eq!(lexicon::emoji_valence("a😂"), None);
}

#[test]
fn sentiment_is_bounded_and_defined_everywhere() {
    for text in ["", "   ", "\u{0}", "🤷", "ＧＯＯＤ", "!!!!!!!!", "?", "good ".repeat(500).as_str(), "a\u{301}"] {
        let v = s(text);
        assert!(v.is_finite() && (-1.0..=1.0).contains(&v), "`{text}`: {v}");
    }
    assert_eq!(s(""), 0.0);
    assert_eq!(s("!!!"), 0.0, "exclamation marks alone say nothing");
    assert!(s(&"love ".repeat(200)) > 0.99);
    assert!(s(&"hate ".repeat(200)) < -0.99);
}

#[test]
fn lexicon_values_are_in_range_and_lower_case() {
    for (w, v) in lexicon::all_words() {
        assert!((-4.0..=4.0).contains(&v) && v != 0.0, "{w}: {v}");
        if w.chars().all(char::is_alphabetic) {
            assert_eq!(w, w.to_lowercase(), "words are looked up in lower case");
        }
    }
}

#[test]
fn char_entropy_of_chat() {
    assert_eq!(char_entropy(""), 0.0);
    assert_eq!(char_entropy("aaaa"), 0.0);
    assert!((char_entropy("abab") - 1.0).abs() < 1e-12);
    assert!((char_entropy("abcd") - 2.0).abs() < 1e-12);
    // Characters, not bytes: four distinct emoji are two bits.
    assert!((char_entropy("😂🔥💀🎉") - 2.0).abs() < 1e-12);
    // Spam says less than a sentence.
    assert!(char_entropy("LULLULLULLULLUL") < char_entropy("that play was actually insane"));
}

#[test]
fn emote_helpers() {
    let e = emotes();
    assert_eq!(emote_count("PogChamp PogChamp LUL nice", &e), 3);
    assert_eq!(emote_count("pogchamp", &e), 0);
    assert_eq!(emote_count("", &e), 0);
    assert!(is_emote_only("PogChamp  LUL", &e));
    assert!(!is_emote_only("PogChamp nice", &e));
    assert!(!is_emote_only("", &e));
    assert!(!is_emote_only("   ", &e));
    assert!(!is_emote_only("😂", &e), "emoji are not emotes");
    assert_eq!(emote_sentiment("nice", &e), None);
    let v = emote_sentiment("PogChamp BibleThump", &e).unwrap();
    assert!((v - 0.1).abs() < 1e-12, "{v}");
}

#[test]
fn emote_lists_are_read_from_csv_with_their_errors() {
    let e = Emotes::from_csv("name,sentiment\n\"Kappa\",0.2\nPepeHands,-2\nEZ,\n", "x.csv").unwrap();
    assert_eq!(e.len(), 3);
    assert_eq!(e.get("Kappa"), Some(0.2));
    assert_eq!(e.get("PepeHands"), Some(-1.0), "clamped to [-1, 1]");
    assert_eq!(e.get("EZ"), Some(0.0));
    assert_eq!(
        Emotes::from_csv("provider,score\ntwitch,1\n", "seeds/emotes.csv").unwrap_err().to_string(),
        "seeds/emotes.csv:1: an emote list needs a column `emote` (the emote's name); its columns are provider, score"
    );
    assert_eq!(
        Emotes::from_csv("emote,sentiment\nKappa,high\n", "seeds/emotes.csv").unwrap_err().to_string(),
        "seeds/emotes.csv:2: the sentiment of `Kappa` is `high`, not a number"
    );
}
