//! `envmon check`: a monitoring plugin (the Monitoring Plugins Development Guidelines, as
//! Nagios, Icinga and Checkmk run `check_ipmi_sensor`). It asks the running agent over its
//! socket (`--socket`), or with `--once` sweeps the settings' source itself as `poll` does
//! (the same source opener and board builder), and prints the verdict of
//! [`crate::model::plugin`]: one line, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (no agent,
//! no source, a bad setting).

use crate::{
    config::SettingsArgs,
    model::{Environment, plugin},
};
use std::process::ExitCode;

/// Runs the check and returns its exit code (the verdict's status); the line goes to
/// standard output, where the monitoring engine reads it.
pub fn check(args: &SettingsArgs, once: bool, count: u32) -> ExitCode {
    let v = match environment(args, once, count) {
        Ok(env) => plugin::verdict(&env),
        Err(why) => plugin::unknown(&why),
    };
    println!("{}", v.line);
    ExitCode::from(v.status as u8)
}

/// What the agent knows (over its socket), or what `count` sweeps of the source find.
fn environment(args: &SettingsArgs, once: bool, count: u32) -> Result<Environment, String> {
    let settings = args.resolve_for(false).map_err(|e| e.to_string())?;
    if once {
        return super::poll::snapshot(&settings, count)
            .map(|(env, _, _)| env)
            .map_err(|e| e.to_string());
    }
    super::show::ask::<Environment>(&settings.socket, "show environment").map_err(|e| e.to_string())
}
