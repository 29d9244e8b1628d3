//! Who may do what: Discord roles and users mapped to levels. Deny by
//! default; each level includes the ones below it.

use crate::config::{parse_principal, Principal};

pub use crate::access::Level;

/// The permissions table of the configuration, parsed.
#[derive(Debug, Clone, Default)]
pub struct Permissions {
    grants: Vec<(Principal, Level)>,
}

impl Permissions {
    pub fn from_config(config: &crate::config::Permissions) -> Result<Permissions, String> {
        let mut grants = Vec::new();
        for (level, principals) in [
            (Level::Admin, &config.admin),
            (Level::Operator, &config.operator),
            (Level::Viewer, &config.viewer),
        ] {
            for principal in principals {
                grants.push((parse_principal(principal)?, level));
            }
        }
        Ok(Permissions { grants })
    }

    /// The highest level a user has through their id or roles.
    pub fn level_of(&self, user: u64, roles: &[u64]) -> Option<Level> {
        self.grants
            .iter()
            .filter(|(principal, _)| match principal {
                Principal::User(id) => *id == user,
                Principal::Role(id) => roles.contains(id),
            })
            .map(|(_, level)| *level)
            .max()
    }
}

/// The level a command needs, by its qualified name (`run status`).
pub fn required_level(command: &str) -> Level {
    const VIEWER: &[&str] = &[
        "host list",
        "host show",
        "group list",
        "group show",
        "script list",
        "script show",
        "script history",
        "scriptgroup list",
        "scriptgroup show",
        "task list",
        "task show",
        "run list",
        "run status",
        "run logs",
        "dashboard",
    ];
    const OPERATOR: &[&str] = &[
        "task run",
        "run cancel",
        "run rerun",
        "log fetch",
        "host check",
    ];
    if VIEWER.contains(&command) {
        Level::Viewer
    } else if OPERATOR.contains(&command) {
        Level::Operator
    } else {
        Level::Admin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_include_lower_ones_and_deny_by_default() {
        let config = crate::config::Permissions {
            admin: vec!["user:1".into()],
            operator: vec!["role:10".into()],
            viewer: vec!["role:20".into()],
        };
        let p = Permissions::from_config(&config).unwrap();
        assert_eq!(p.level_of(1, &[]), Some(Level::Admin));
        assert_eq!(p.level_of(2, &[20, 10]), Some(Level::Operator));
        assert_eq!(p.level_of(3, &[20]), Some(Level::Viewer));
        assert_eq!(p.level_of(4, &[99]), None);
        assert_eq!(required_level("run status"), Level::Viewer);
        assert_eq!(required_level("task run"), Level::Operator);
        assert_eq!(required_level("host add"), Level::Admin);
        assert_eq!(required_level("something new"), Level::Admin);
    }
}
