//! dbt's version specifiers for Hub packages (`dbt_common.semver`), ported rule for rule so
//! that a `version:` range picks the version `dbt deps` picks: `1.3.0`, `>=1.0.0`, `<2.0.0`
//! (a list is their intersection), prereleases left out unless asked for.

use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Matcher {
    Exact,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

/// One specifier: a matcher and a version, or unbounded (no limit on that side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Specifier {
    matcher: Matcher,
    major: u64,
    minor: u64,
    patch: u64,
    prerelease: Option<String>,
    build: Option<String>,
    unbounded: bool,
}

/// Versions that cannot all hold at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no version satisfies all of {0}")]
pub struct Incompatible(pub String);

impl Specifier {
    fn unbounded() -> Specifier {
        Specifier {
            matcher: Matcher::Exact,
            major: 0,
            minor: 0,
            patch: 0,
            prerelease: None,
            build: None,
            unbounded: true,
        }
    }

    /// Parses `[matcher]major.minor.patch[-prerelease][+build]`, as dbt's regular
    /// expression does.
    pub fn parse(text: &str) -> Result<Specifier, String> {
        let bad = || format!("\"{text}\" is not a valid semantic version");
        let (matcher, rest) = [
            (">=", Matcher::GreaterOrEqual),
            ("<=", Matcher::LessOrEqual),
            (">", Matcher::Greater),
            ("<", Matcher::Less),
            ("=", Matcher::Exact),
        ]
        .into_iter()
        .find_map(|(p, m)| text.strip_prefix(p).map(|r| (m, r)))
        .unwrap_or((Matcher::Exact, text));
        let (rest, build) = match rest.split_once('+') {
            Some((r, b)) => {
                let ok = b.split('.').all(|p| p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
                if !ok {
                    return Err(bad());
                }
                (r, Some(b.to_owned()))
            }
            None => (rest, None),
        };
        let number = |s: &str| -> Option<u64> {
            if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        };
        let mut parts = rest.splitn(3, '.');
        let major = parts.next().and_then(number).ok_or_else(bad)?;
        let minor = parts.next().and_then(number).ok_or_else(bad)?;
        let last = parts.next().ok_or_else(bad)?;
        // The patch ends at the first character that is not a digit; a prerelease may
        // follow, with or without a `-`.
        let digits = last.find(|c: char| !c.is_ascii_digit()).unwrap_or(last.len());
        let patch = number(&last[..digits]).ok_or_else(bad)?;
        let tail = &last[digits..];
        let prerelease = match tail.strip_prefix('-').unwrap_or(tail) {
            "" if tail.is_empty() => None,
            "" => return Err(bad()),
            p => {
                let ok = p.split('.').all(|id| {
                    !id.is_empty()
                        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                        && (!id.chars().all(|c| c.is_ascii_digit()) || id == "0" || !id.starts_with('0'))
                });
                if !ok {
                    return Err(bad());
                }
                Some(p.to_owned())
            }
        };
        Ok(Specifier {
            matcher,
            major,
            minor,
            patch,
            prerelease,
            build,
            unbounded: false,
        })
    }

    pub fn is_prerelease(&self) -> bool {
        self.prerelease.is_some()
    }

    fn is_exact(&self) -> bool {
        !self.unbounded && self.matcher == Matcher::Exact
    }

    fn is_lower_bound(&self) -> bool {
        matches!(self.matcher, Matcher::Greater | Matcher::GreaterOrEqual)
    }

    fn is_upper_bound(&self) -> bool {
        matches!(self.matcher, Matcher::Less | Matcher::LessOrEqual)
    }

    fn to_range(&self) -> Range {
        let mut range = Range::any();
        match self.matcher {
            Matcher::Exact => {
                range.start = self.clone();
                range.end = self.clone();
            }
            Matcher::Greater | Matcher::GreaterOrEqual => range.start = self.clone(),
            Matcher::Less | Matcher::LessOrEqual => range.end = self.clone(),
        }
        range
    }

    /// dbt's `VersionSpecifier.compare`, matchers included.
    fn compare(&self, other: &Specifier) -> Ordering {
        if self.unbounded || other.unbounded {
            return Ordering::Equal;
        }
        for (a, b) in [(self.major, other.major), (self.minor, other.minor), (self.patch, other.patch)] {
            match a.cmp(&b) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        match (&self.prerelease, &other.prerelease) {
            (None, None) => {}
            // A release below `<x.y.z` keeps prereleases of x.y.z out.
            (None, Some(_)) if self.matcher == Matcher::Less => return Ordering::Less,
            (None, Some(_)) => return Ordering::Greater,
            (Some(_), None) => return Ordering::Less,
            (Some(a), Some(b)) => match natural_cmp(a, b) {
                Ordering::Equal => {}
                o => return o,
            },
        }
        use Matcher::*;
        let (m, o) = (self.matcher, other.matcher);
        if (m == GreaterOrEqual && o == LessOrEqual) || (m == LessOrEqual && o == GreaterOrEqual) {
            return Ordering::Equal;
        }
        if (m == Less && o == LessOrEqual) || (o == Greater && m == GreaterOrEqual) || (self.is_upper_bound() && other.is_lower_bound()) {
            return Ordering::Less;
        }
        if (o == Less && m == LessOrEqual) || (m == Greater && o == GreaterOrEqual) || (self.is_lower_bound() && other.is_upper_bound()) {
            return Ordering::Greater;
        }
        Ordering::Equal
    }
}

/// Prerelease tags compared part by part, numbers below words, then by length.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let number = |s: &str| (!s.is_empty() && s.chars().all(|c| c.is_ascii_digit())).then(|| s.parse::<u128>().unwrap_or(u128::MAX));
    for (x, y) in a.split('.').zip(b.split('.')) {
        let o = match (number(x), number(y)) {
            (Some(i), Some(j)) => i.cmp(&j),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// A range of versions: from `start` to `end`, either unbounded.
#[derive(Debug, Clone)]
pub struct Range {
    start: Specifier,
    end: Specifier,
}

impl Range {
    fn any() -> Range {
        Range {
            start: Specifier::unbounded(),
            end: Specifier::unbounded(),
        }
    }

    fn combine_lower(a: &Specifier, b: &Specifier) -> Option<Specifier> {
        if b.unbounded {
            return Some(a.clone());
        }
        if a.unbounded {
            return Some(b.clone());
        }
        let with_exact = |lower: &Specifier, exact: &Specifier| {
            let c = lower.compare(exact);
            (c == Ordering::Less || (c == Ordering::Equal && lower.matcher == Matcher::GreaterOrEqual)).then(|| exact.clone())
        };
        match (a.is_exact(), b.is_exact()) {
            (false, false) => Some(if a.compare(b) == Ordering::Less { b.clone() } else { a.clone() }),
            (true, _) => with_exact(b, a),
            (false, true) => with_exact(a, b),
        }
    }

    fn combine_upper(a: &Specifier, b: &Specifier) -> Option<Specifier> {
        if b.unbounded {
            return Some(a.clone());
        }
        if a.unbounded {
            return Some(b.clone());
        }
        let with_exact = |upper: &Specifier, exact: &Specifier| {
            let c = upper.compare(exact);
            (c == Ordering::Greater || (c == Ordering::Equal && upper.matcher == Matcher::LessOrEqual)).then(|| exact.clone())
        };
        match (a.is_exact(), b.is_exact()) {
            (false, false) => Some(if a.compare(b) == Ordering::Greater { b.clone() } else { a.clone() }),
            (true, _) => with_exact(b, a),
            (false, true) => with_exact(a, b),
        }
    }

    fn reduce(&self, other: &Range) -> Option<Range> {
        let (start, end) = if self.start.is_exact() && other.start.is_exact() {
            let same = (self.start.compare(&other.start) == Ordering::Equal).then(|| self.start.clone())?;
            (same.clone(), same)
        } else {
            (Self::combine_lower(&self.start, &other.start)?, Self::combine_upper(&self.end, &other.end)?)
        };
        if start.compare(&end) == Ordering::Greater {
            return None;
        }
        Some(Range { start, end })
    }
}

/// The intersection of the specifiers (dbt's `reduce_versions`).
pub fn reduce(specs: &[Specifier]) -> Result<Range, Incompatible> {
    let Some((last, rest)) = specs.split_last() else {
        return Ok(Range::any());
    };
    let mut range = last.to_range();
    for s in rest {
        range = range.reduce(&s.to_range()).ok_or_else(|| {
            let shown: Vec<String> = specs.iter().map(ToString::to_string).collect();
            Incompatible(format!("[{}]", shown.join(", ")))
        })?;
    }
    Ok(range)
}

fn satisfies(version: &Specifier, range: &Range) -> bool {
    let mut specs = vec![version.clone()];
    if !range.start.unbounded {
        specs.push(range.start.clone());
    }
    if !range.end.unbounded {
        specs.push(range.end.clone());
    }
    specs.len() == 1 || reduce(&specs).is_ok()
}

/// The highest of `available` in `range` (dbt's `resolve_to_specific_version`).
pub fn resolve<'a>(range: &Range, available: &'a [String]) -> Option<&'a str> {
    let mut best: Option<(Specifier, &str)> = None;
    for text in available {
        let Ok(v) = Specifier::parse(text) else { continue };
        if satisfies(&v, range) && best.as_ref().is_none_or(|(b, _)| b.compare(&v) == Ordering::Less) {
            best = Some((v, text));
        }
    }
    best.map(|(_, t)| t)
}

/// The versions that may be installed, lowest first: prereleases only when asked for
/// (dbt's `filter_installable`).
pub fn installable(versions: &[String], prerelease: bool) -> Vec<String> {
    let mut out: Vec<(Specifier, &String)> = versions
        .iter()
        .filter_map(|t| Specifier::parse(t).ok().map(|v| (v, t)))
        .filter(|(v, _)| prerelease || !v.is_prerelease())
        .collect();
    out.sort_by(|a, b| a.0.compare(&b.0));
    out.into_iter().map(|(_, t)| t.clone()).collect()
}

/// Whether `version` satisfies every specifier (dbt's `versions_compatible`).
pub fn compatible(version: &str, specs: &[Specifier]) -> bool {
    let Ok(v) = Specifier::parse(version) else { return false };
    let mut all = vec![v];
    all.extend(specs.iter().cloned());
    reduce(&all).is_ok()
}

impl std::fmt::Display for Specifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = match self.matcher {
            Matcher::Exact => "=",
            Matcher::Greater => ">",
            Matcher::GreaterOrEqual => ">=",
            Matcher::Less => "<",
            Matcher::LessOrEqual => "<=",
        };
        write!(f, "{m}{}.{}.{}", self.major, self.minor, self.patch)?;
        if let Some(p) = &self.prerelease {
            write!(f, "-{p}")?;
        }
        if let Some(b) = &self.build {
            write!(f, "+{b}")?;
        }
        Ok(())
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.start.unbounded, self.end.unbounded) {
            (true, true) => f.write_str("ANY"),
            (false, true) => write!(f, "{}", self.start),
            (true, false) => write!(f, "{}", self.end),
            (false, false) => write!(f, "{}, {}", self.start, self.end),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(list: &[&str]) -> Vec<Specifier> {
        list.iter().map(|s| Specifier::parse(s).unwrap()).collect()
    }

    fn pick(list: &[&str], available: &[&str]) -> Option<String> {
        let range = reduce(&specs(list)).unwrap();
        let available: Vec<String> = installable(&available.iter().map(|s| s.to_string()).collect::<Vec<_>>(), false);
        resolve(&range, &available).map(str::to_owned)
    }

    #[test]
    fn picks_the_highest_version_in_range_as_dbt_does() {
        let hub = ["0.9.6", "1.0.0", "1.1.1", "1.3.0", "1.3.1-b1", "2.0.0"];
        assert_eq!(pick(&[">=1.0.0", "<2.0.0"], &hub).as_deref(), Some("1.3.0"));
        assert_eq!(pick(&["1.1.1"], &hub).as_deref(), Some("1.1.1"));
        assert_eq!(pick(&[">1.3.0"], &hub).as_deref(), Some("2.0.0"));
        assert_eq!(pick(&["<=1.0.0"], &hub).as_deref(), Some("1.0.0"));
        // Two packages asking for overlapping ranges get the highest in both.
        assert_eq!(pick(&[">=0.9.0", "<1.2.0", ">=1.0.0", "<2.0.0"], &hub).as_deref(), Some("1.1.1"));
        assert_eq!(pick(&[">=3.0.0"], &hub), None);
    }

    #[test]
    fn incompatible_ranges_and_bad_versions_are_errors() {
        assert!(reduce(&specs(&["1.0.0", "1.1.0"])).is_err());
        assert!(reduce(&specs(&[">=2.0.0", "<1.0.0"])).is_err());
        assert!(Specifier::parse("1.0").is_err());
        assert!(Specifier::parse("~>1.0.0").is_err());
        assert!(Specifier::parse("01.0.0").is_err());
        assert_eq!(Specifier::parse(">=1.2.3-rc.1+b5").unwrap().to_string(), ">=1.2.3-rc.1+b5");
    }

    #[test]
    fn prereleases_only_when_asked_and_below_their_release() {
        let all: Vec<String> = ["1.0.0", "1.1.0-a1", "1.1.0-b2", "1.1.0"].iter().map(|s| s.to_string()).collect();
        assert_eq!(installable(&all, false), ["1.0.0", "1.1.0"]);
        assert_eq!(installable(&all, true), ["1.0.0", "1.1.0-a1", "1.1.0-b2", "1.1.0"]);
        let range = reduce(&specs(&["<1.1.0"])).unwrap();
        let with_pre = installable(&all, true);
        assert_eq!(resolve(&range, &with_pre), Some("1.0.0"));
        assert!(compatible("1.11.0", &specs(&[">=1.3.0", "<2.0.0"])));
        assert!(!compatible("1.11.0", &specs(&[">=2.0.0"])));
    }
}
