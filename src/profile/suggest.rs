//! "Did you mean …?" for misspelt keys and values.

/// The candidate closest to `word`, if it is close enough to be a plausible typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|&(distance, c)| {
            distance > 0 || c != word // a pure case difference is worth suggesting
        })
        .filter(|&(distance, c)| distance <= (c.chars().count().max(3) / 3).max(1))
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, c)| c)
}

/// `; did you mean `x`?` when a candidate is close, else an empty string.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(word, candidates)
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

/// `a, b or c`, each in backticks.
pub fn one_of(candidates: &[&str]) -> String {
    let quoted: Vec<String> = candidates.iter().map(|c| format!("`{c}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_words_only() {
        let boards = ["pi2", "pi3", "pi3plus", "pi4", "pi5", "zero2w"];
        assert_eq!(closest("pi33", boards), Some("pi3"));
        assert_eq!(closest("zero2", boards), Some("zero2w"));
        assert_eq!(closest("PI4", boards), Some("pi4"));
        assert_eq!(closest("raspberry", boards), None);
        assert_eq!(
            closest("hostnmae", ["hostname", "timezone"]),
            Some("hostname")
        );
        assert_eq!(one_of(&["a", "b", "c"]), "`a`, `b` or `c`");
    }
}
