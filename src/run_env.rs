//! The run environment (`--env KEY=VALUE`, Discord `env:`): the type that
//! carries it, whose `Debug` shows keys and never values, and the policy of
//! which keys a run may set. Pure data and rules; the one check that applies
//! the policy is in `app` (`App::check_run_env`), so every front end
//! refuses alike.
//!
//! # Why keys are refused
//!
//! An operator may start runs but not write scripts. A variable that makes
//! a shell, an interpreter or the dynamic loader run or load code other
//! than the script turns "may start a run" into "may run anything", as
//! root under `--sudo`. The list below follows sudo's `initial_badenv_table`
//! (plugins/sudoers/env.c) and glibc's list of unsecure variables
//! (`UNSECURE_ENVVARS`), and adds the interpreters a script's shebang may
//! name and what the shell applying the environment evaluates itself:
//!
//! - shells: startup files and code from variables (`ENV`, `BASH_ENV`,
//!   `ZDOTDIR`, `FPATH`, prompts, `PROMPT_COMMAND`, zsh's `NULLCMD`), what
//!   changes how the script itself is parsed or expanded (`IFS`, `CDPATH`,
//!   `GLOBIGNORE`, `SHELLOPTS`, `BASHOPTS`, ...), every `BASH_*` (function
//!   definitions `BASH_FUNC_*`, `BASH_XTRACEFD`, `BASH_LOADABLES_PATH`,
//!   read-only ones), and the shell's own variables: bash evaluates
//!   `RANDOM`, `SRANDOM`, `OPTIND`, `HISTCMD` as arithmetic when assigned,
//!   which runs command substitutions (`OPTIND='a[$(id)]'`), others are
//!   read-only or reset by the shell;
//! - `PATH` and `HOME`: which programs and per-user startup files (Python's
//!   user site directory, `.gitconfig`, ...) are found;
//! - the dynamic loader and C library: `LD_*` (`LD_PRELOAD`,
//!   `LD_LIBRARY_PATH`, `LD_AUDIT`, ...), `GCONV_PATH` (loads modules),
//!   `GLIBC_TUNABLES`, `LOCPATH`, `NLSPATH`, `MALLOC_TRACE` (writes a file),
//!   the resolver's `HOSTALIASES`, `LOCALDOMAIN`, `RES_OPTIONS`,
//!   `RESOLV_HOST_CONF`, and other systems' loaders (`DYLD_*`, `_RLD*`);
//! - terminal libraries: `TERMINFO`, `TERMINFO_DIRS`, `TERMPATH`, `TERMCAP`;
//! - interpreters: Perl (`PERL5OPT`, `PERL5LIB`, `PERLLIB`, `PERL5DB`,
//!   `PERLIO_DEBUG`), Python (`PYTHONSTARTUP`, `PYTHONPATH`, `PYTHONHOME`,
//!   `PYTHONINSPECT`, `PYTHONUSERBASE`, `PYTHONPLATLIBDIR`,
//!   `PYTHONBREAKPOINT`, and `PYTHONWARNINGS`, whose categories are
//!   imported), Ruby (`RUBYOPT`, `RUBYLIB`, `GEM_HOME`, `GEM_PATH`), Node
//!   (`NODE_OPTIONS`, `NODE_PATH`), Java (`JAVA_TOOL_OPTIONS`,
//!   `_JAVA_OPTIONS`, `JDK_JAVA_OPTIONS`, `CLASSPATH`), Lua (`LUA_INIT*`,
//!   `LUA_PATH*`, `LUA_CPATH*`), PHP (`PHPRC`, `PHP_INI_SCAN_DIR`) and Tcl
//!   (`TCLLIBPATH`).
//!
//! Values that start with `()` are refused whatever the key: older shells
//! import such a value as a function definition (sudo refuses them too).
//!
//! The admin may let refused keys through by name with `[run] env_allow`.
//! Variables read by the programs a script calls (`GIT_*`, `PAGER`, ...) are
//! the script's business: a script that calls such a program should set
//! or clear what it relies on.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The `KEY=VALUE` pairs of a run, in order. `Debug` prints the keys only,
/// so that a debug log line never shows a value.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EnvVars(Vec<(String, String)>);

impl EnvVars {
    pub fn new(pairs: Vec<(String, String)>) -> EnvVars {
        EnvVars(pairs)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl From<Vec<(String, String)>> for EnvVars {
    fn from(pairs: Vec<(String, String)>) -> EnvVars {
        EnvVars(pairs)
    }
}

/// Shown in place of a value.
struct Hidden;

impl fmt::Debug for Hidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<hidden>")
    }
}

impl fmt::Debug for EnvVars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.keys().map(|k| (k, Hidden)))
            .finish()
    }
}

/// Why a group of keys is refused, as the refusal says it.
const SHELL_CODE: &str = "a shell reads code to run or a startup file from it";
const SHELL_PARSING: &str = "it changes how the shell splits, expands or runs the script";
const SHELL_OWNED: &str = "the shell owns it: it is read-only there, or bash evaluates it as arithmetic, which runs command substitutions";
const SEARCH_PATHS: &str =
    "it decides which programs and per-user startup files are found (as root under --sudo)";
const LOADER: &str = "the dynamic loader or the C library loads code, modules or configuration named by it into every program";
const TERMINAL: &str = "terminal libraries read terminal descriptions from it";
const INTERPRETER: &str =
    "an interpreter runs or loads code named by it before or besides the script";

/// A refused key: an exact name, or a prefix when it ends with `*`.
struct Rule {
    pattern: &'static str,
    why: &'static str,
}

const fn rule(pattern: &'static str, why: &'static str) -> Rule {
    Rule { pattern, why }
}

/// Every refused key with why; the first match counts.
const REFUSED: &[Rule] = &[
    // Shells.
    rule("ENV", SHELL_CODE),
    rule("BASH_ENV", SHELL_CODE),
    rule("BASH_FUNC_*", SHELL_CODE),
    rule("ZDOTDIR", SHELL_CODE),
    rule("FPATH", SHELL_CODE),
    rule("PS0", SHELL_CODE),
    rule("PS1", SHELL_CODE),
    rule("PS2", SHELL_CODE),
    rule("PS3", SHELL_CODE),
    rule("PS4", SHELL_CODE),
    rule("PROMPT_COMMAND", SHELL_CODE),
    rule("NULLCMD", SHELL_CODE),
    rule("READNULLCMD", SHELL_CODE),
    rule("IFS", SHELL_PARSING),
    rule("CDPATH", SHELL_PARSING),
    rule("GLOBIGNORE", SHELL_PARSING),
    rule("EXECIGNORE", SHELL_PARSING),
    rule("SHELLOPTS", SHELL_PARSING),
    rule("BASHOPTS", SHELL_PARSING),
    rule("TMPPREFIX", SHELL_PARSING),
    rule("BASH_*", SHELL_OWNED),
    rule("BASHPID", SHELL_OWNED),
    rule("OPTIND", SHELL_OWNED),
    rule("OPTARG", SHELL_OWNED),
    rule("RANDOM", SHELL_OWNED),
    rule("SRANDOM", SHELL_OWNED),
    rule("HISTCMD", SHELL_OWNED),
    rule("SECONDS", SHELL_OWNED),
    rule("LINENO", SHELL_OWNED),
    rule("PPID", SHELL_OWNED),
    rule("UID", SHELL_OWNED),
    rule("EUID", SHELL_OWNED),
    rule("GROUPS", SHELL_OWNED),
    rule("FUNCNAME", SHELL_OWNED),
    rule("EPOCHSECONDS", SHELL_OWNED),
    rule("EPOCHREALTIME", SHELL_OWNED),
    // Where programs and startup files are found.
    rule("PATH", SEARCH_PATHS),
    rule("HOME", SEARCH_PATHS),
    // The dynamic loader and the C library.
    rule("LD_*", LOADER),
    rule("DYLD_*", LOADER),
    rule("_RLD*", LOADER),
    rule("GCONV_PATH", LOADER),
    rule("GLIBC_TUNABLES", LOADER),
    rule("LOCPATH", LOADER),
    rule("NLSPATH", LOADER),
    rule("PATH_LOCALE", LOADER),
    rule("MALLOC_TRACE", LOADER),
    rule("HOSTALIASES", LOADER),
    rule("LOCALDOMAIN", LOADER),
    rule("RES_OPTIONS", LOADER),
    rule("RESOLV_HOST_CONF", LOADER),
    rule("NIS_PATH", LOADER),
    // Terminal libraries.
    rule("TERMINFO", TERMINAL),
    rule("TERMINFO_DIRS", TERMINAL),
    rule("TERMPATH", TERMINAL),
    rule("TERMCAP", TERMINAL),
    // Interpreters.
    rule("PERL5OPT", INTERPRETER),
    rule("PERL5LIB", INTERPRETER),
    rule("PERLLIB", INTERPRETER),
    rule("PERL5DB", INTERPRETER),
    rule("PERLIO_DEBUG", INTERPRETER),
    rule("PYTHONSTARTUP", INTERPRETER),
    rule("PYTHONPATH", INTERPRETER),
    rule("PYTHONHOME", INTERPRETER),
    rule("PYTHONINSPECT", INTERPRETER),
    rule("PYTHONUSERBASE", INTERPRETER),
    rule("PYTHONPLATLIBDIR", INTERPRETER),
    rule("PYTHONBREAKPOINT", INTERPRETER),
    rule("PYTHONWARNINGS", INTERPRETER),
    rule("RUBYOPT", INTERPRETER),
    rule("RUBYLIB", INTERPRETER),
    rule("GEM_HOME", INTERPRETER),
    rule("GEM_PATH", INTERPRETER),
    rule("NODE_OPTIONS", INTERPRETER),
    rule("NODE_PATH", INTERPRETER),
    rule("JAVA_TOOL_OPTIONS", INTERPRETER),
    rule("_JAVA_OPTIONS", INTERPRETER),
    rule("JDK_JAVA_OPTIONS", INTERPRETER),
    rule("CLASSPATH", INTERPRETER),
    rule("LUA_INIT*", INTERPRETER),
    rule("LUA_PATH*", INTERPRETER),
    rule("LUA_CPATH*", INTERPRETER),
    rule("PHPRC", INTERPRETER),
    rule("PHP_INI_SCAN_DIR", INTERPRETER),
    rule("TCLLIBPATH", INTERPRETER),
];

/// Why `key` may not be set by a run unless the admin allows it, or `None`
/// when it may.
pub fn refused_key(key: &str) -> Option<&'static str> {
    REFUSED
        .iter()
        .find(|r| match r.pattern.strip_suffix('*') {
            Some(prefix) => key.starts_with(prefix),
            None => key == r.pattern,
        })
        .map(|r| r.why)
}

/// True when `value` looks like a shell function definition.
pub fn looks_like_function(value: &str) -> bool {
    value.starts_with("()")
}

/// True when `key` is a valid environment variable name for a run:
/// letters, digits and `_`, not starting with a digit.
pub fn valid_key(key: &str) -> bool {
    key.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_keys_and_never_values() {
        let env = EnvVars::new(vec![
            ("API_TOKEN".into(), "s3cr3t-value".into()),
            ("REGION".into(), "eu".into()),
        ]);
        let shown = format!("{env:?} {env:#?}");
        assert!(shown.contains("API_TOKEN") && shown.contains("REGION"));
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("eu\""),
            "{shown}"
        );
    }

    #[test]
    fn every_type_that_carries_a_run_environment_hides_its_values() {
        let env = EnvVars::new(vec![("API_TOKEN".into(), "s3cr3t-value".into())]);
        let request = crate::engine::RunPlan {
            task: None,
            script_group: "g".into(),
            server_group: "s".into(),
            options: crate::domain::RunOptions::default(),
            scripts: crate::engine::RunScripts::SameAs(1),
            hosts: Vec::new(),
            env: env.clone(),
        };
        let new_run = crate::store::runs::NewRun {
            task: None,
            script_group: "g".into(),
            server_group: "s".into(),
            options: crate::domain::RunOptions::default(),
            scripts: crate::store::runs::RunScripts::SameAs(1),
            hosts: Vec::new(),
            default_user: "root".into(),
            env: env.clone(),
            nonce: "n".into(),
            identities: Vec::new(),
            routes: Vec::new(),
        };
        let stored = crate::store::runs::StoredRun {
            id: 1,
            options: crate::domain::RunOptions::default(),
            nonce: "n".into(),
            scripts: Vec::new(),
            hosts: Vec::new(),
            cancel_requested: false,
            state: crate::state::RunState::Running,
            env: env.clone(),
            identities: Vec::new(),
        };
        let launch = crate::engine::remote::LaunchSpec {
            run_id: 1,
            host_name: "h".into(),
            remote_dir: "d".into(),
            nonce: "n".into(),
            steps: Vec::new(),
            env: env.clone(),
            continue_on_error: false,
            use_sudo: true,
        };
        for shown in [
            format!("{request:?} {request:#?}"),
            format!("{new_run:?} {new_run:#?}"),
            format!("{stored:?} {stored:#?}"),
            format!("{launch:?} {launch:#?}"),
        ] {
            assert!(shown.contains("API_TOKEN"), "{shown}");
            assert!(!shown.contains("s3cr3t"), "{shown}");
        }
    }

    #[test]
    fn serialises_as_the_stored_pairs() {
        let env = EnvVars::new(vec![("K".into(), "v".into())]);
        let json = serde_json::to_string(&env).expect("json");
        assert_eq!(json, r#"[["K","v"]]"#);
        assert_eq!(serde_json::from_str::<EnvVars>(&json).expect("back"), env);
    }

    #[test]
    fn refused_keys_match_names_and_families() {
        for key in [
            "BASH_ENV",
            "ENV",
            "LD_PRELOAD",
            "LD_AUDIT",
            "BASH_FUNC_x",
            "PYTHONSTARTUP",
            "NODE_OPTIONS",
            "LUA_INIT_5_4",
            "OPTIND",
            "RANDOM",
            "PATH",
            "IFS",
        ] {
            assert!(refused_key(key).is_some(), "{key}");
        }
        for key in [
            "FOO",
            "DISK_WARN_PERCENT",
            "LD",
            "PATHS",
            "N",
            "KILL",
            "R",
            "step",
        ] {
            assert!(refused_key(key).is_none(), "{key}");
        }
    }

    #[test]
    fn every_rule_is_a_key_or_a_prefix() {
        for r in REFUSED {
            let name = r.pattern.trim_end_matches('*');
            assert!(valid_key(name), "{}", r.pattern);
            assert_eq!(
                r.pattern.matches('*').count(),
                usize::from(r.pattern.ends_with('*'))
            );
        }
    }
}
