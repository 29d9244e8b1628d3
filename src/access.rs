//! Access levels shared by every front end that authorises people (Discord
//! roles, web accounts): viewer < operator < admin, each including the ones
//! below it. Pure; who holds which level is the front ends' business.

use std::fmt;
use std::str::FromStr;

/// Access levels, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Status and logs.
    Viewer,
    /// Run, cancel, rerun, log fetch.
    Operator,
    /// Inventory, scripts, tasks.
    Admin,
}

/// The level names, lowest first, as accepted by [`Level::from_str`].
pub const LEVEL_NAMES: [&str; 3] = ["viewer", "operator", "admin"];

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Viewer => "viewer",
            Level::Operator => "operator",
            Level::Admin => "admin",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = crate::error::Error;

    fn from_str(raw: &str) -> Result<Level, Self::Err> {
        match raw {
            "viewer" => Ok(Level::Viewer),
            "operator" => Ok(Level::Operator),
            "admin" => Ok(Level::Admin),
            _ => Err(crate::error::Error::InvalidValue {
                what: "level",
                value: raw.to_string(),
                expected: format!("one of {}", LEVEL_NAMES.join(", ")),
            }),
        }
    }
}

impl serde::Serialize for Level {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order_is_viewer_operator_admin() {
        for name in LEVEL_NAMES {
            let level: Level = name.parse().expect("known level");
            assert_eq!(level.as_str(), name);
        }
        assert!(Level::Viewer < Level::Operator && Level::Operator < Level::Admin);
        let err = "root".parse::<Level>().unwrap_err().to_string();
        assert!(
            err.contains("'root'") && err.contains("viewer, operator, admin"),
            "{err}"
        );
    }
}
