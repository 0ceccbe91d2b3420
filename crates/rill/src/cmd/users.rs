//! `rill users`: create, list and delete SCRAM users (what `kafka-configs.sh --alter
//! --add-config 'SCRAM-SHA-256=[password=...]' --entity-type users` does), through
//! AlterUserScramCredentials and DescribeUserScramCredentials. The password is salted here;
//! only the salted password reaches the broker.

use anyhow::bail;
use clap::{Args, Subcommand};
use rill_client::scram_users::{ScramMechanism, DEFAULT_ITERATIONS};
use serde_json::json;

use super::output::{print_json, Table};
use super::Global;

/// Parses a mechanism name (`SCRAM-SHA-256` or `SCRAM-SHA-512`).
///
/// # Errors
/// Any other name.
pub fn parse_mechanism(name: &str) -> anyhow::Result<ScramMechanism> {
    match ScramMechanism::from_name(&name.to_ascii_uppercase()) {
        Some(m) => Ok(m),
        None => bail!("unknown SCRAM mechanism '{name}' (SCRAM-SHA-256 or SCRAM-SHA-512)"),
    }
}

/// A mechanism code as its name (the code itself when this build does not know it).
fn mechanism_name(code: i8) -> String {
    ScramMechanism::from_code(code).map_or_else(|| format!("mechanism-{code}"), |m| m.name().into())
}

/// `rill users` subcommands.
#[derive(Debug, Subcommand)]
pub enum UsersCmd {
    /// Create a user, or replace its password for that mechanism.
    Create {
        /// The user name.
        name: String,
        /// The password (salted on this machine before it is sent).
        #[arg(long, env = "RILL_USER_PASSWORD", hide_env_values = true)]
        password: String,
        /// SCRAM-SHA-256 or SCRAM-SHA-512.
        #[arg(long, default_value = "SCRAM-SHA-256", value_parser = parse_mechanism)]
        mechanism: ScramMechanism,
        /// PBKDF2 iterations (4096..=16384).
        #[arg(long, default_value_t = DEFAULT_ITERATIONS, allow_hyphen_values = true)]
        iterations: i32,
    },
    /// List users with their mechanisms and iteration counts.
    List,
    /// Delete a user's credential for one mechanism, or for every mechanism it has.
    Delete {
        /// The user name.
        name: String,
        /// Only this mechanism (default: all of the user's).
        #[arg(long, value_parser = parse_mechanism)]
        mechanism: Option<ScramMechanism>,
    },
}

/// `rill users ...`.
#[derive(Debug, Args)]
pub struct UsersArgs {
    /// What to do.
    #[command(subcommand)]
    pub cmd: UsersCmd,
}

/// Runs `rill users`.
///
/// # Errors
/// Connection and broker errors (UNACCEPTABLE_CREDENTIAL, RESOURCE_NOT_FOUND, ...).
pub async fn run(args: UsersArgs, g: Global) -> anyhow::Result<()> {
    let client = g.connect().await?;
    match args.cmd {
        UsersCmd::Create {
            name,
            password,
            mechanism,
            iterations,
        } => {
            client
                .upsert_scram_user(&name, mechanism, iterations, &password)
                .await?;
            if !g.json() {
                println!("user '{name}' has a {} credential", mechanism.name());
            }
        }
        UsersCmd::List => {
            let users = client.describe_scram_users(None).await?;
            if g.json() {
                let rows: Vec<_> = users
                    .iter()
                    .map(|u| {
                        let creds: Vec<_> = u
                            .credentials
                            .iter()
                            .map(|(m, i)| json!({"mechanism": mechanism_name(*m), "iterations": i}))
                            .collect();
                        json!({"name": u.name, "credentials": creds})
                    })
                    .collect();
                print_json(&json!(rows));
            } else {
                let mut t = Table::new(&["USER", "MECHANISM", "ITERATIONS"]);
                for u in users {
                    for (m, i) in u.credentials {
                        t.row(vec![u.name.clone(), mechanism_name(m), i.to_string()]);
                    }
                }
                t.print();
            }
        }
        UsersCmd::Delete { name, mechanism } => {
            let codes: Vec<i8> = match mechanism {
                Some(m) => vec![m.code()],
                None => {
                    let users = client
                        .describe_scram_users(Some(std::slice::from_ref(&name)))
                        .await?;
                    users
                        .into_iter()
                        .flat_map(|u| u.credentials.into_iter().map(|(m, _)| m))
                        .collect()
                }
            };
            // One request per mechanism: Kafka refuses a user named twice in one request.
            for code in codes {
                client.delete_scram_user(&name, code).await?;
                if !g.json() {
                    println!(
                        "deleted the {} credential of '{name}'",
                        mechanism_name(code)
                    );
                }
            }
        }
    }
    Ok(())
}
