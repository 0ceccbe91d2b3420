//! `rill acls`: create, list and delete ACLs (what `kafka-acls.sh --add / --list / --remove`
//! does), with kafka-acls's flags: `--allow-principal` / `--deny-principal`, `--allow-host` /
//! `--deny-host`, `--operation`, the resource (`--topic`, `--group`, `--cluster`,
//! `--transactional-id`), `--resource-pattern-type`, and the `--producer` / `--consumer`
//! shortcuts.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use rill_client::acls::{
    AclBinding, AclBindingFilter, AclOperation, AclPermission, PatternType, ResourceType,
};
use serde_json::json;

use super::output::{print_json, Table};
use super::Global;

/// The resource flags shared by every subcommand (at most one kind given).
#[derive(Debug, Args, Default, Clone)]
pub struct ResourceArgs {
    /// A topic (or prefix, with --resource-pattern-type prefixed; `*` for every topic).
    #[arg(long)]
    topic: Option<String>,
    /// A consumer group (or prefix; `*` for every group).
    #[arg(long)]
    group: Option<String>,
    /// The cluster.
    #[arg(long)]
    cluster: bool,
    /// A transactional id (or prefix; `*` for every one).
    #[arg(long)]
    transactional_id: Option<String>,
    /// literal or prefixed (create and delete); also any or match for list.
    #[arg(long)]
    resource_pattern_type: Option<String>,
}

impl ResourceArgs {
    /// The named resources, each as (type, name).
    fn resources(&self) -> Vec<(ResourceType, String)> {
        let mut out = Vec::new();
        if let Some(t) = &self.topic {
            out.push((ResourceType::Topic, t.clone()));
        }
        if let Some(g) = &self.group {
            out.push((ResourceType::Group, g.clone()));
        }
        if self.cluster {
            out.push((
                ResourceType::Cluster,
                rill_auth::acl::CLUSTER_RESOURCE_NAME.to_string(),
            ));
        }
        if let Some(t) = &self.transactional_id {
            out.push((ResourceType::TransactionalId, t.clone()));
        }
        out
    }

    fn pattern(&self, default: PatternType) -> anyhow::Result<PatternType> {
        match &self.resource_pattern_type {
            None => Ok(default),
            Some(p) => p
                .parse::<PatternType>()
                .map_err(|e| anyhow::anyhow!("--resource-pattern-type: {e}")),
        }
    }
}

/// Principals, hosts and operations of `create` and `delete`.
#[derive(Debug, Args, Default, Clone)]
pub struct RuleArgs {
    /// A principal to allow (`User:alice`, `User:*`); repeatable.
    #[arg(long)]
    allow_principal: Vec<String>,
    /// A principal to deny; repeatable.
    #[arg(long)]
    deny_principal: Vec<String>,
    /// Hosts the allow rules hold for (default `*`).
    #[arg(long)]
    allow_host: Vec<String>,
    /// Hosts the deny rules hold for (default `*`).
    #[arg(long)]
    deny_host: Vec<String>,
    /// An operation (Read, Write, Create, Delete, Alter, Describe, ClusterAction,
    /// DescribeConfigs, AlterConfigs, IdempotentWrite, All); repeatable.
    #[arg(long)]
    operation: Vec<String>,
    /// kafka-acls's producer shortcut: WRITE, DESCRIBE and CREATE on the topic (and WRITE and
    /// DESCRIBE on --transactional-id, IDEMPOTENT_WRITE on the cluster when --idempotent).
    #[arg(long)]
    producer: bool,
    /// With --producer: IDEMPOTENT_WRITE on the cluster.
    #[arg(long)]
    idempotent: bool,
    /// kafka-acls's consumer shortcut: READ and DESCRIBE on the topic, READ on the group.
    #[arg(long)]
    consumer: bool,
}

/// `rill acls` subcommands.
#[derive(Debug, Subcommand)]
pub enum AclsCmd {
    /// Add ACLs (kafka-acls --add).
    Create {
        #[command(flatten)]
        rule: RuleArgs,
        #[command(flatten)]
        resource: ResourceArgs,
    },
    /// List ACLs, all or those of a resource / principal (kafka-acls --list).
    List {
        /// Only this principal's.
        #[arg(long)]
        principal: Option<String>,
        #[command(flatten)]
        resource: ResourceArgs,
    },
    /// Remove ACLs (kafka-acls --remove): those of the resource matching the principals,
    /// hosts and operations given (all operations when none is).
    Delete {
        #[command(flatten)]
        rule: RuleArgs,
        #[command(flatten)]
        resource: ResourceArgs,
    },
}

/// `rill acls ...`.
#[derive(Debug, Args)]
pub struct AclsArgs {
    /// What to do.
    #[command(subcommand)]
    pub cmd: AclsCmd,
}

fn operation(name: &str) -> anyhow::Result<AclOperation> {
    name.parse::<AclOperation>()
        .map_err(|e| anyhow::anyhow!("--operation: {e}"))
}

/// The (resource type, name, operation) triples a create or delete names.
fn targets(
    rule: &RuleArgs,
    resource: &ResourceArgs,
    ops_required: bool,
) -> anyhow::Result<Vec<(ResourceType, String, AclOperation)>> {
    let resources = resource.resources();
    if resources.is_empty() {
        bail!("name a resource: --topic, --group, --cluster or --transactional-id");
    }
    let mut out = Vec::new();
    for (rt, name) in &resources {
        let mut ops: Vec<AclOperation> = rule
            .operation
            .iter()
            .map(|o| operation(o))
            .collect::<anyhow::Result<_>>()?;
        match rt {
            ResourceType::Topic if rule.producer => ops.extend([
                AclOperation::Write,
                AclOperation::Describe,
                AclOperation::Create,
            ]),
            ResourceType::Topic if rule.consumer => {
                ops.extend([AclOperation::Read, AclOperation::Describe])
            }
            ResourceType::Group if rule.consumer => ops.push(AclOperation::Read),
            ResourceType::TransactionalId if rule.producer => {
                ops.extend([AclOperation::Write, AclOperation::Describe])
            }
            _ => {}
        }
        if ops.is_empty() && !ops_required {
            ops.push(AclOperation::Any);
        }
        for op in ops {
            out.push((*rt, name.clone(), op));
        }
    }
    if rule.producer && rule.idempotent {
        out.push((
            ResourceType::Cluster,
            rill_auth::acl::CLUSTER_RESOURCE_NAME.to_string(),
            AclOperation::IdempotentWrite,
        ));
    }
    if out.is_empty() {
        bail!("name an --operation (or --producer / --consumer)");
    }
    Ok(out)
}

/// (principal, host, permission) of every rule the flags give.
fn rules(rule: &RuleArgs) -> anyhow::Result<Vec<(String, String, AclPermission)>> {
    let hosts = |h: &[String]| -> Vec<String> {
        if h.is_empty() {
            vec!["*".into()]
        } else {
            h.to_vec()
        }
    };
    let mut out = Vec::new();
    for p in &rule.allow_principal {
        for h in hosts(&rule.allow_host) {
            out.push((p.clone(), h, AclPermission::Allow));
        }
    }
    for p in &rule.deny_principal {
        for h in hosts(&rule.deny_host) {
            out.push((p.clone(), h, AclPermission::Deny));
        }
    }
    if out.is_empty() {
        bail!("name a principal: --allow-principal or --deny-principal");
    }
    Ok(out)
}

fn row(b: &AclBinding) -> Vec<String> {
    vec![
        b.resource_type.to_string(),
        b.resource_name.clone(),
        b.pattern_type.to_string(),
        b.principal.clone(),
        b.host.clone(),
        b.operation.to_string(),
        b.permission.to_string(),
    ]
}

fn print(bindings: &[AclBinding], g: &Global) {
    if g.json() {
        let rows: Vec<_> = bindings
            .iter()
            .map(|b| {
                json!({"resource_type": b.resource_type.to_string(),
                       "resource_name": b.resource_name, "pattern_type": b.pattern_type.to_string(),
                       "principal": b.principal, "host": b.host,
                       "operation": b.operation.to_string(), "permission": b.permission.to_string()})
            })
            .collect();
        print_json(&json!(rows));
    } else {
        let mut t = Table::new(&[
            "RESOURCE",
            "NAME",
            "PATTERN",
            "PRINCIPAL",
            "HOST",
            "OPERATION",
            "PERMISSION",
        ]);
        for b in bindings {
            t.row(row(b));
        }
        t.print();
    }
}

/// Runs `rill acls`.
///
/// # Errors
/// Bad flags, connection and broker errors (SECURITY_DISABLED without an authorizer,
/// CLUSTER_AUTHORIZATION_FAILED without ALTER on the cluster).
pub async fn run(args: AclsArgs, g: Global) -> anyhow::Result<()> {
    match args.cmd {
        AclsCmd::Create { rule, resource } => {
            let pattern = resource.pattern(PatternType::Literal)?;
            let mut bindings = Vec::new();
            for (rt, name, op) in targets(&rule, &resource, true)? {
                for (principal, host, permission) in rules(&rule)? {
                    let b = AclBinding {
                        resource_type: rt,
                        resource_name: name.clone(),
                        pattern_type: if rt == ResourceType::Cluster {
                            PatternType::Literal
                        } else {
                            pattern
                        },
                        principal,
                        host,
                        operation: op,
                        permission,
                    };
                    b.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
                    bindings.push(b);
                }
            }
            let client = g.connect().await?;
            client.create_acls(&bindings).await.context("create ACLs")?;
            if !g.json() {
                println!("created {} ACL(s):", bindings.len());
            }
            print(&bindings, &g);
        }
        AclsCmd::List {
            principal,
            resource,
        } => {
            let pattern = resource.pattern(PatternType::Any)?;
            let named = resource.resources();
            let filters: Vec<AclBindingFilter> = if named.is_empty() {
                vec![AclBindingFilter {
                    principal: principal.clone(),
                    pattern_type: pattern,
                    ..AclBindingFilter::any()
                }]
            } else {
                named
                    .into_iter()
                    .map(|(rt, name)| AclBindingFilter {
                        resource_type: rt,
                        resource_name: Some(name),
                        pattern_type: pattern,
                        principal: principal.clone(),
                        ..AclBindingFilter::any()
                    })
                    .collect()
            };
            let client = g.connect().await?;
            let mut all = Vec::new();
            for f in &filters {
                all.extend(client.describe_acls(f).await.context("list ACLs")?);
            }
            print(&all, &g);
        }
        AclsCmd::Delete { rule, resource } => {
            let pattern = resource.pattern(PatternType::Literal)?;
            let mut filters = Vec::new();
            for (rt, name, op) in targets(&rule, &resource, false)? {
                for (principal, host, permission) in rules(&rule)? {
                    filters.push(AclBindingFilter {
                        resource_type: rt,
                        resource_name: Some(name.clone()),
                        pattern_type: pattern,
                        principal: Some(principal),
                        host: Some(host),
                        operation: op,
                        permission,
                    });
                }
            }
            let client = g.connect().await?;
            let deleted = client.delete_acls(&filters).await.context("delete ACLs")?;
            if !g.json() {
                println!("deleted {} ACL(s):", deleted.len());
            }
            print(&deleted, &g);
        }
    }
    Ok(())
}
