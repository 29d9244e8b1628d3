//! Keeps the layering of docs/architecture.md true: every `crate::` path in
//! `src/` (outside `#[cfg(test)]` modules) must name a module its layer may
//! import, and the outside crates that belong to one layer (russh, sqlx,
//! serenity, poise, axum, maud, clap) appear only there. The rules are read
//! from the document's tables, so the document is the one source.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What a layer may import, and where outside crates may be used.
#[derive(Debug, Default)]
struct Rules {
    /// Module → the modules it may import.
    modules: BTreeMap<String, BTreeSet<String>>,
    /// Outside crate → the modules that may use it.
    crates: BTreeMap<String, BTreeSet<String>>,
}

/// One import a file may not make.
#[derive(Debug, PartialEq, Eq)]
struct Violation {
    file: String,
    line: usize,
    import: String,
    rule: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: `{}`: {}",
            self.file, self.line, self.import, self.rule
        )
    }
}

/// The `` `name` `` items of a table cell.
fn names_in(cell: &str) -> BTreeSet<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The rows between `<!-- layering:NAME:begin -->` and its end marker, as
/// cells, header and separator left out.
fn table_rows(doc: &str, name: &str) -> Result<Vec<Vec<String>>, String> {
    let begin = format!("<!-- layering:{name}:begin -->");
    let end = format!("<!-- layering:{name}:end -->");
    let start = doc
        .find(&begin)
        .ok_or_else(|| format!("docs/architecture.md has no `{begin}` marker"))?;
    let stop = doc[start..]
        .find(&end)
        .ok_or_else(|| format!("docs/architecture.md has no `{end}` marker"))?;
    Ok(doc[start + begin.len()..start + stop]
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect())
}

/// Reads the rules from the architecture document's tables.
fn parse_rules(doc: &str) -> Result<Rules, String> {
    let mut rules = Rules::default();
    for row in table_rows(doc, "modules")? {
        let [module, _owns, imports] = row.as_slice() else {
            return Err(format!(
                "a modules row needs 3 cells (module | owns | may import): {row:?}"
            ));
        };
        let module = names_in(module)
            .into_iter()
            .next()
            .ok_or_else(|| format!("a modules row names no module: {row:?}"))?;
        rules.modules.insert(module, names_in(imports));
    }
    for row in table_rows(doc, "crates")? {
        let [krate, places] = row.as_slice() else {
            return Err(format!(
                "a crates row needs 2 cells (crate | only in): {row:?}"
            ));
        };
        let krate = names_in(krate)
            .into_iter()
            .next()
            .ok_or_else(|| format!("a crates row names no crate: {row:?}"))?;
        rules.crates.insert(krate, names_in(places));
    }
    if rules.modules.is_empty() {
        return Err("the modules table of docs/architecture.md has no rows".into());
    }
    Ok(rules)
}

/// The module a source file belongs to: `src/cli/runs.rs` → `cli`,
/// `src/main.rs` → `main`.
fn module_of(relative: &Path) -> String {
    let first = relative
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    first.trim_end_matches(".rs").to_string()
}

/// `source` with comments, string and char literals blanked (newlines
/// kept, so line numbers stay), and every `#[cfg(test)] mod ... { ... }`
/// blanked too.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && raw_string_at(&chars, i) {
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            // Opening quote at j.
            j += 1;
            loop {
                match chars.get(j) {
                    None => break,
                    Some('"') if (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) => {
                        j += 1 + hashes;
                        break;
                    }
                    _ => j += 1,
                }
            }
            for &ch in &chars[i..j.min(chars.len())] {
                out.push(blank(ch));
            }
            i = j;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{7f}') or a lifetime ('a).
            let end = if next == Some('\\') {
                (i + 2..chars.len()).find(|&j| chars[j] == '\'')
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(end) => {
                    for &ch in &chars[i..=end] {
                        out.push(blank(ch));
                    }
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    blank_test_modules(&out)
}

/// Whether `chars[i]` starts a raw string (`r"`, `r#"`), not an identifier
/// ending in `r`.
fn raw_string_at(chars: &[char], i: usize) -> bool {
    let preceded_by_ident = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
    let mut j = i + 1;
    while chars.get(j) == Some(&'#') {
        j += 1;
    }
    !preceded_by_ident && chars.get(j) == Some(&'"')
}

/// Blanks every `#[cfg(test)]` module (comments and literals are already
/// blank, so braces balance).
fn blank_test_modules(code: &str) -> String {
    let mut bytes = code.as_bytes().to_vec();
    let mut from = 0;
    while let Some(found) = code[from..].find("#[cfg(test)]") {
        let start = from + found;
        let after = code[start + "#[cfg(test)]".len()..].trim_start();
        from = start + 1;
        if !(after.starts_with("mod ") || after.starts_with("pub(crate) mod ")) {
            continue;
        }
        let Some(open) = code[start..].find('{').map(|o| start + o) else {
            continue;
        };
        let mut depth = 0;
        let mut end = bytes.len();
        for (k, b) in code.as_bytes().iter().enumerate().skip(open) {
            match b {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = k + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        for b in &mut bytes[start..end] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
        from = end;
    }
    String::from_utf8(bytes).unwrap_or_default()
}

/// The drover modules a piece of code names: `crate::x::...`, and each
/// branch of `crate::{x, y::z}`. With line numbers.
fn crate_imports(code: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in code.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let before_ok = rest[..at]
                .chars()
                .last()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            rest = &rest[at + "crate::".len()..];
            if !before_ok {
                continue;
            }
            if rest.starts_with('{') {
                found.extend(
                    group_heads(code, line, rest)
                        .into_iter()
                        .map(|m| (number + 1, m)),
                );
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.push((number + 1, name));
                }
            }
        }
    }
    found
}

/// The first path segment of each branch of a `crate::{...}` group that
/// starts in `rest` (the group may go on over later lines of `code`).
fn group_heads(code: &str, line: &str, rest: &str) -> Vec<String> {
    // The group's text from its `{` to the matching `}`.
    let line_start = line.as_ptr() as usize - code.as_ptr() as usize;
    let offset = line_start + (rest.as_ptr() as usize - line.as_ptr() as usize);
    let mut depth = 0;
    let mut heads = Vec::new();
    let mut expect_head = true;
    let mut current = String::new();
    for c in code[offset..].chars() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    expect_head = true;
                }
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => expect_head = true,
            c if expect_head && depth == 1 && (c.is_alphanumeric() || c == '_') => current.push(c),
            _ if expect_head && depth == 1 && !current.is_empty() => {
                heads.push(std::mem::take(&mut current));
                expect_head = false;
            }
            _ => {}
        }
    }
    if !current.is_empty() {
        heads.push(current);
    }
    heads.retain(|h| h != "self");
    heads
}

/// Whether `code` uses the outside crate `krate` (`krate::...` or
/// `use krate`), with the line.
fn crate_uses(code: &str, krate: &str) -> Vec<usize> {
    let path = format!("{krate}::");
    let used = format!("use {krate}");
    code.lines()
        .enumerate()
        .filter(|(_, line)| {
            line.match_indices(&path).any(|(at, _)| {
                line[..at]
                    .chars()
                    .last()
                    .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'))
            }) || line.trim_start().starts_with(&used)
        })
        .map(|(n, _)| n + 1)
        .collect()
}

/// Checks one file's code against the rules.
fn check_file(rules: &Rules, file: &str, module: &str, code: &str) -> Vec<Violation> {
    let mut violations = Vec::new();
    if module != "main" && module != "lib" {
        match rules.modules.get(module) {
            None => violations.push(Violation {
                file: file.into(),
                line: 1,
                import: format!("crate::{module}"),
                rule: format!(
                    "module `{module}` has no row in the layers table of docs/architecture.md"
                ),
            }),
            Some(allowed) => {
                for (line, import) in crate_imports(code) {
                    if import != module && !allowed.contains(&import) {
                        violations.push(Violation {
                            file: file.into(),
                            line,
                            import: format!("crate::{import}"),
                            rule: format!(
                                "`{module}` may import only {} (docs/architecture.md)",
                                list(allowed)
                            ),
                        });
                    }
                }
            }
        }
    }
    for (krate, places) in &rules.crates {
        if places.contains(module) {
            continue;
        }
        for line in crate_uses(code, krate) {
            violations.push(Violation {
                file: file.into(),
                line,
                import: krate.clone(),
                rule: format!(
                    "`{krate}` belongs to {} only (docs/architecture.md)",
                    list(places)
                ),
            });
        }
    }
    violations
}

fn list(names: &BTreeSet<String>) -> String {
    if names.is_empty() {
        return "nothing of drover".into();
    }
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rules_of_the_document() -> Rules {
    let doc =
        std::fs::read_to_string(root().join("docs/architecture.md")).expect("docs/architecture.md");
    parse_rules(&doc).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_source_file_keeps_to_its_layer() {
    let rules = rules_of_the_document();
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    assert!(files.len() > 20, "{} source files found", files.len());
    let mut violations = Vec::new();
    let mut modules_seen = BTreeSet::new();
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src");
        let module = module_of(relative);
        modules_seen.insert(module.clone());
        let source = std::fs::read_to_string(file).expect("source");
        let shown = format!("src/{}", relative.display());
        violations.extend(check_file(&rules, &shown, &module, &code_only(&source)));
    }
    let report: Vec<String> = violations.iter().map(|v| v.to_string()).collect();
    assert!(
        report.is_empty(),
        "{} imports break the layering:\n{}",
        report.len(),
        report.join("\n")
    );
    let stale: Vec<_> = rules
        .modules
        .keys()
        .filter(|m| !modules_seen.contains(*m))
        .collect();
    assert!(
        stale.is_empty(),
        "docs/architecture.md lists modules src/ no longer has: {stale:?}"
    );
}

const SAMPLE_DOC: &str = "\
<!-- layering:modules:begin -->
| module | owns | may import |
|---|---|---|
| `error` | errors | |
| `store` | SQL | `error` |
| `app` | operations | `error`, `store` |
| `cli` | clap | `error`, `app` |
| `web` | axum | `error`, `app` |
<!-- layering:modules:end -->
<!-- layering:crates:begin -->
| crate | only in |
|---|---|
| `sqlx` | `store` |
| `clap` | `cli`, `main` |
<!-- layering:crates:end -->
";

#[test]
fn a_front_end_importing_the_store_or_another_front_end_is_caught() {
    let rules = parse_rules(SAMPLE_DOC).expect("rules");
    let code = code_only(
        "//! cli\nuse crate::app::App;\nuse crate::{error::Error,\n    store::Store};\n\nfn f() { crate::web::serve(); }\n",
    );
    let violations = check_file(&rules, "src/cli/x.rs", "cli", &code);
    assert_eq!(
        violations,
        vec![
            Violation {
                file: "src/cli/x.rs".into(),
                line: 3,
                import: "crate::store".into(),
                rule: "`cli` may import only `app`, `error` (docs/architecture.md)".into(),
            },
            Violation {
                file: "src/cli/x.rs".into(),
                line: 6,
                import: "crate::web".into(),
                rule: "`cli` may import only `app`, `error` (docs/architecture.md)".into(),
            },
        ]
    );
    assert_eq!(
        violations[0].to_string(),
        "src/cli/x.rs:3: `crate::store`: `cli` may import only `app`, `error` (docs/architecture.md)"
    );
}

#[test]
fn an_outside_crate_out_of_its_place_is_caught() {
    let rules = parse_rules(SAMPLE_DOC).expect("rules");
    let code = code_only("use sqlx::Row;\nfn q() { let _ = sqlx::query(\"x\"); }\n");
    let lines: Vec<usize> = check_file(&rules, "src/app/x.rs", "app", &code)
        .iter()
        .map(|v| v.line)
        .collect();
    assert_eq!(lines, [1, 2]);
    assert!(check_file(&rules, "src/store/x.rs", "store", &code).is_empty());
}

#[test]
fn comments_strings_and_test_modules_are_not_imports() {
    let rules = parse_rules(SAMPLE_DOC).expect("rules");
    let source = "\
//! See crate::store for the SQL.
use crate::app::App;
/// Not `crate::web` either.
fn f() -> &'static str { let _c = '{'; \"crate::store::x {\" }
fn g() -> &'static str { r#\"crate::store\"# }
#[cfg(test)]
mod tests {
    use crate::store::Store;
    fn h() { let _ = '}'; }
}
fn after() { crate::store::open(); }
";
    let violations = check_file(&rules, "src/cli/x.rs", "cli", &code_only(source));
    let found: Vec<(usize, &str)> = violations
        .iter()
        .map(|v| (v.line, v.import.as_str()))
        .collect();
    assert_eq!(found, [(11, "crate::store")]);
}

#[test]
fn a_module_without_a_row_and_a_bad_table_are_errors() {
    let rules = parse_rules(SAMPLE_DOC).expect("rules");
    let violations = check_file(&rules, "src/extra.rs", "extra", "");
    assert_eq!(violations.len(), 1);
    assert!(violations[0].rule.contains("module `extra` has no row"));
    let err = parse_rules("no tables here").expect_err("refused");
    assert!(err.contains("layering:modules:begin"), "{err}");
}
