//! Ansible host ranges: `web[01:20].example.org` (leading zeros kept),
//! `node-[a:f]`, a stride `[01:20:2]`, several ranges in one pattern, as
//! Ansible expands them. Pure.

/// Most hosts one pattern may give: a typo such as `[0:9999999]` is refused
/// rather than imported.
pub const MAX_HOSTS: usize = 100_000;

const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Every host name `pattern` stands for, in order; a pattern without `[` is
/// itself.
pub fn expand(pattern: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    expand_into(pattern, &mut names)?;
    Ok(names)
}

fn expand_into(pattern: &str, names: &mut Vec<String>) -> Result<(), String> {
    let Some((head, rest)) = pattern.split_once('[') else {
        if names.len() >= MAX_HOSTS {
            return Err(format!("gives more than {MAX_HOSTS} hosts"));
        }
        names.push(pattern.to_string());
        return Ok(());
    };
    let (range, tail) = rest
        .split_once(']')
        .ok_or_else(|| "has a '[' without its ']'".to_string())?;
    for item in range_items(range)? {
        expand_into(&format!("{head}{item}{tail}"), names)?;
    }
    Ok(())
}

/// The values of one `begin:end[:step]`.
fn range_items(range: &str) -> Result<Vec<String>, String> {
    let bounds: Vec<&str> = range.split(':').collect();
    let (begin, end, step) = match bounds[..] {
        [begin, end] => (begin, end, "1"),
        [begin, end, step] => (begin, end, step),
        _ => {
            return Err(format!(
                "[{range}]: a range is [begin:end] or [begin:end:step]"
            ))
        }
    };
    let begin = if begin.is_empty() { "0" } else { begin };
    if end.is_empty() {
        return Err(format!("[{range}]: the range has no end"));
    }
    let step = step
        .parse::<usize>()
        .ok()
        .filter(|s| *s > 0)
        .ok_or_else(|| format!("[{range}]: the step must be a number of at least 1"))?;
    match (letter_index(begin), letter_index(end)) {
        (Some(first), Some(last)) => letters(range, first, last, step),
        _ => numbers(range, begin, end, step),
    }
}

fn letter_index(bound: &str) -> Option<usize> {
    let mut chars = bound.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => LETTERS.find(c),
        _ => None,
    }
}

fn letters(range: &str, first: usize, last: usize, step: usize) -> Result<Vec<String>, String> {
    if first > last {
        return Err(format!("[{range}]: the range begins after its end"));
    }
    Ok(LETTERS[first..=last]
        .chars()
        .step_by(step)
        .map(String::from)
        .collect())
}

fn numbers(range: &str, begin: &str, end: &str, step: usize) -> Result<Vec<String>, String> {
    let number = |bound: &str| {
        bound.parse::<u64>().map_err(|_| {
            format!("[{range}]: '{bound}' is not a number; bounds are two numbers or two letters")
        })
    };
    let (first, last) = (number(begin)?, number(end)?);
    let width = if begin.len() > 1 && begin.starts_with('0') {
        if end.len() != begin.len() {
            return Err(format!(
                "[{range}]: with leading zeros, begin and end must have the same number of digits"
            ));
        }
        begin.len()
    } else {
        0
    };
    if first > last {
        return Err(format!("[{range}]: the range begins after its end"));
    }
    let count = (last - first) / step as u64 + 1;
    if count > MAX_HOSTS as u64 {
        return Err(format!("gives more than {MAX_HOSTS} hosts"));
    }
    Ok((first..=last)
        .step_by(step)
        .map(|n| format!("{n:0width$}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_ranges_keep_leading_zeros() {
        assert_eq!(
            expand("web[01:03].example.org").unwrap(),
            [
                "web01.example.org",
                "web02.example.org",
                "web03.example.org"
            ]
        );
        assert_eq!(expand("db[8:10]").unwrap(), ["db8", "db9", "db10"]);
        assert_eq!(expand("n[:2]").unwrap(), ["n0", "n1", "n2"]);
    }

    #[test]
    fn strides_letters_and_several_ranges() {
        assert_eq!(expand("w[01:07:3]").unwrap(), ["w01", "w04", "w07"]);
        assert_eq!(
            expand("node-[a:e:2]").unwrap(),
            ["node-a", "node-c", "node-e"]
        );
        assert_eq!(expand("[y:B]").unwrap(), ["y", "z", "A", "B"]);
        assert_eq!(
            expand("r[1:2]-[a:b]").unwrap(),
            ["r1-a", "r1-b", "r2-a", "r2-b"]
        );
        assert_eq!(expand("plain").unwrap(), ["plain"]);
    }

    #[test]
    fn bad_ranges_say_why() {
        for (pattern, why) in [
            ("w[1:x]", "'x' is not a number"),
            ("w[01:100]", "same number of digits"),
            ("w[5:1]", "begins after its end"),
            ("w[1:5:0]", "step must be"),
            ("w[1]", "[begin:end]"),
            ("w[1:]", "no end"),
            ("w[1:3", "without its ']'"),
            ("w[0:100000]", "more than 100000 hosts"),
            ("a[0:999]b[0:999]", "more than 100000 hosts"),
        ] {
            let err = expand(pattern).unwrap_err();
            assert!(err.contains(why), "{pattern}: {err}");
        }
    }
}
