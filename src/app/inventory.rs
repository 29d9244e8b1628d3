//! Inventory operations: hosts, server groups, scripts, script groups and
//! tasks, validated from raw input and kept in the store.

use super::input::{
    parse_jump, to_u32, HostEditInput, HostInput, ScriptInput, TaskEditInput, TaskInput,
};
use super::App;
use crate::domain::{
    parse_address, parse_duration, parse_port, parse_script_body, parse_user, Actor, Host,
    HostEdit, Name, OnFailure, RunOptions, Script, ScriptGroup, ScriptVersion, ServerGroup, Task,
    DEFAULT_PARALLEL,
};
use crate::error::{EntityKind, Result};
use crate::store::{ScriptChange, ValidScript};

impl App {
    pub async fn host_add(&self, actor: &Actor, args: HostInput) -> Result<Host> {
        self.store.add_host(actor, &args.validate()?).await
    }

    pub async fn host_edit(&self, actor: &Actor, name: &str, args: HostEditInput) -> Result<Host> {
        let user = match (args.user, args.default_user) {
            (Some(_), true) => {
                return Err(crate::error::Error::Refused(
                    "give either --user or --default-user, not both".into(),
                ))
            }
            (Some(u), false) => Some(Some(parse_user(&u)?)),
            (None, true) => Some(None),
            (None, false) => None,
        };
        let jump = match (args.jump, args.no_jump) {
            (Some(_), true) => {
                return Err(crate::error::Error::Refused(
                    "give either --jump or --no-jump, not both".into(),
                ))
            }
            (Some(j), false) => Some(Some(parse_jump(&j)?)),
            (None, true) => Some(None),
            (None, false) => None,
        };
        let edit = HostEdit {
            address: args.address.as_deref().map(parse_address).transpose()?,
            port: args.port.map(parse_port).transpose()?,
            user,
            description: args.description,
            use_sudo: args.sudo,
            jump,
        };
        self.store.edit_host(actor, name, &edit).await
    }

    pub async fn group_create(
        &self,
        actor: &Actor,
        name: &str,
        description: Option<String>,
    ) -> Result<()> {
        let name = Name::parse(EntityKind::ServerGroup, name)?;
        self.store
            .create_server_group(actor, &name, &description.unwrap_or_default())
            .await
    }

    fn script_input(args: ScriptInput, clearing_allowed: bool) -> Result<ValidScript> {
        let timeout_secs = match args.timeout.as_deref() {
            None => None,
            Some("none") if clearing_allowed => Some(None),
            Some(raw) => Some(Some(parse_duration("timeout", raw)?.as_secs())),
        };
        Ok(ValidScript {
            name: Name::parse(EntityKind::Script, &args.name)?,
            body: parse_script_body(args.body)?,
            description: args.description,
            timeout_secs,
        })
    }

    pub async fn script_add(&self, actor: &Actor, args: ScriptInput) -> Result<Script> {
        let input = Self::script_input(args, false)?;
        self.store.add_script(actor, &input).await
    }

    pub async fn script_edit(&self, actor: &Actor, args: ScriptInput) -> Result<ScriptChange> {
        let input = Self::script_input(args, true)?;
        self.store.edit_script(actor, &input).await
    }

    pub async fn scriptgroup_create(
        &self,
        actor: &Actor,
        name: &str,
        scripts: &[String],
        description: Option<String>,
    ) -> Result<()> {
        let name = Name::parse(EntityKind::ScriptGroup, name)?;
        self.store
            .create_script_group(actor, &name, &description.unwrap_or_default(), scripts)
            .await
    }

    pub async fn task_create(&self, actor: &Actor, args: TaskInput) -> Result<Task> {
        let name = Name::parse(EntityKind::Task, &args.name)?;
        let options = RunOptions {
            parallel: match args.parallel {
                Some(p) => to_u32("parallel", p, "between 1 and 4096 hosts at once")?,
                None => DEFAULT_PARALLEL,
            },
            on_failure: if args.continue_on_error {
                OnFailure::Continue
            } else {
                OnFailure::Stop
            },
            max_failed_hosts: args
                .max_failed_hosts
                .map(|m| {
                    to_u32(
                        "max-failed-hosts",
                        m,
                        "at least 1 (leave it out for no limit)",
                    )
                })
                .transpose()?,
            use_sudo: args.sudo,
        };
        self.store
            .create_task(
                actor,
                &name,
                &args.script_group,
                &args.server_group,
                &options,
                &args.description.unwrap_or_default(),
            )
            .await
    }

    /// Changes a task: the fields given replace the task's own.
    pub async fn task_edit(&self, actor: &Actor, name: &str, args: TaskEditInput) -> Result<Task> {
        let before = self.store.task(name).await?;
        if args.is_empty() {
            return Err(crate::error::Error::Refused(format!(
                "nothing to change for task '{name}': give at least one of --script-group, --server-group, --parallel, --continue-on-error, --stop-on-error, --max-failed-hosts, --no-max-failed-hosts, --sudo, --no-sudo, --description"
            )));
        }
        if args.max_failed_hosts.is_some() && args.no_max_failed_hosts {
            return Err(crate::error::Error::Refused(
                "give either --max-failed-hosts or --no-max-failed-hosts, not both".into(),
            ));
        }
        let mut after = before.clone();
        if let Some(group) = args.script_group {
            after.script_group = group;
        }
        if let Some(group) = args.server_group {
            after.server_group = group;
        }
        if let Some(parallel) = args.parallel {
            after.options.parallel =
                to_u32("parallel", parallel, "between 1 and 4096 hosts at once")?;
        }
        if let Some(go_on) = args.continue_on_error {
            after.options.on_failure = if go_on {
                OnFailure::Continue
            } else {
                OnFailure::Stop
            };
        }
        if let Some(max) = args.max_failed_hosts {
            let max = to_u32(
                "max-failed-hosts",
                max,
                "at least 1 (leave it out for no limit)",
            )?;
            after.options.max_failed_hosts = Some(max);
        }
        if args.no_max_failed_hosts {
            after.options.max_failed_hosts = None;
        }
        if let Some(sudo) = args.sudo {
            after.options.use_sudo = sudo;
        }
        if let Some(description) = args.description {
            after.description = description;
        }
        if serde_json::to_value(&after).ok() == serde_json::to_value(&before).ok() {
            // Everything given is what the task already has.
            return Ok(before);
        }
        self.store.update_task(actor, &before, &after).await
    }

    pub async fn hosts(&self) -> Result<Vec<Host>> {
        self.store.hosts().await
    }

    pub async fn host(&self, name: &str) -> Result<Host> {
        self.store.host(name).await
    }

    /// Removes a host; `force` also takes it out of its groups.
    pub async fn host_remove(&self, actor: &Actor, name: &str, force: bool) -> Result<()> {
        self.store.remove_host(actor, name, force).await
    }

    pub async fn server_groups(&self) -> Result<Vec<ServerGroup>> {
        self.store.server_groups().await
    }

    pub async fn server_group(&self, name: &str) -> Result<ServerGroup> {
        self.store.server_group(name).await
    }

    /// Deletes a server group; `force` also deletes the tasks that use it.
    pub async fn group_delete(&self, actor: &Actor, name: &str, force: bool) -> Result<()> {
        self.store.delete_server_group(actor, name, force).await
    }

    /// Adds hosts to a group; returns those that were not in it yet.
    pub async fn group_add_hosts(
        &self,
        actor: &Actor,
        group: &str,
        hosts: &[String],
    ) -> Result<Vec<String>> {
        self.store.add_group_members(actor, group, hosts).await
    }

    /// Takes hosts out of a group; returns those that were in it.
    pub async fn group_remove_hosts(
        &self,
        actor: &Actor,
        group: &str,
        hosts: &[String],
    ) -> Result<Vec<String>> {
        self.store.remove_group_members(actor, group, hosts).await
    }

    /// A script: its current version, or `version`.
    pub async fn script(&self, name: &str, version: Option<i64>) -> Result<Script> {
        self.store.script(name, version).await
    }

    pub async fn scripts(&self) -> Result<Vec<Script>> {
        self.store.scripts().await
    }

    pub async fn script_history(&self, name: &str) -> Result<Vec<ScriptVersion>> {
        self.store.script_history(name).await
    }

    /// Removes a script; `force` also takes it out of script groups.
    pub async fn script_remove(&self, actor: &Actor, name: &str, force: bool) -> Result<()> {
        self.store.remove_script(actor, name, force).await
    }

    pub async fn script_groups(&self) -> Result<Vec<ScriptGroup>> {
        self.store.script_groups().await
    }

    pub async fn script_group(&self, name: &str) -> Result<ScriptGroup> {
        self.store.script_group(name).await
    }

    /// Inserts a script into a script group (at the end, or at a 1-based
    /// position); returns the position it took.
    pub async fn scriptgroup_add(
        &self,
        actor: &Actor,
        group: &str,
        script: &str,
        position: Option<i64>,
    ) -> Result<i64> {
        self.store
            .script_group_add(actor, group, script, position)
            .await
    }

    /// Moves a script of a script group to a 1-based position.
    pub async fn scriptgroup_move(
        &self,
        actor: &Actor,
        group: &str,
        script: &str,
        position: i64,
    ) -> Result<()> {
        self.store
            .script_group_move(actor, group, script, position)
            .await
    }

    /// Takes a script out of a script group.
    pub async fn scriptgroup_remove(&self, actor: &Actor, group: &str, script: &str) -> Result<()> {
        self.store.script_group_remove(actor, group, script).await
    }

    /// Deletes a script group; `force` also deletes the tasks that use it.
    pub async fn scriptgroup_delete(&self, actor: &Actor, name: &str, force: bool) -> Result<()> {
        self.store.delete_script_group(actor, name, force).await
    }

    pub async fn tasks(&self) -> Result<Vec<Task>> {
        self.store.tasks().await
    }

    pub async fn task(&self, name: &str) -> Result<Task> {
        self.store.task(name).await
    }

    pub async fn task_delete(&self, actor: &Actor, name: &str) -> Result<()> {
        self.store.delete_task(actor, name).await
    }

    /// At most `limit` names of `kind` containing `partial` (any case),
    /// prefix matches first, picked by the database: autocomplete does not
    /// read a whole inventory on every keystroke.
    pub async fn names_matching(
        &self,
        kind: EntityKind,
        partial: &str,
        limit: usize,
    ) -> Result<Vec<String>> {
        self.store.names_matching(kind, partial, limit).await
    }
}
