//! Quota entities and keys: what AlterClientQuotas may set (Kafka's
//! `ClientQuotaControlManager` checks), and which quota applies to a request (Kafka's
//! `DefaultQuotaCallback` precedence). Pure.

use std::collections::HashMap;

use rill_meta::{MetadataImage, QuotaEntity, QuotaEntityPart};

/// Entity type of a user (the principal's name).
pub const USER: &str = "user";
/// Entity type of a client id.
pub const CLIENT_ID: &str = "client-id";
/// Entity type of a client address.
pub const IP: &str = "ip";

/// What a quota limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QuotaKind {
    /// `producer_byte_rate`: produce request bytes per second.
    Produce,
    /// `consumer_byte_rate`: fetch response bytes per second.
    Fetch,
    /// `request_percentage`: request handling time, in percent of one thread.
    Request,
    /// `controller_mutation_rate`: partitions created or deleted per second (KIP-599).
    ControllerMutation,
}

impl QuotaKind {
    /// Every kind, in a fixed order.
    pub const ALL: [QuotaKind; 4] = [
        QuotaKind::Produce,
        QuotaKind::Fetch,
        QuotaKind::Request,
        QuotaKind::ControllerMutation,
    ];

    /// The quota key that sets it.
    pub fn key(self) -> &'static str {
        match self {
            QuotaKind::Produce => "producer_byte_rate",
            QuotaKind::Fetch => "consumer_byte_rate",
            QuotaKind::Request => "request_percentage",
            QuotaKind::ControllerMutation => "controller_mutation_rate",
        }
    }

    /// The kind a key sets.
    pub fn of_key(key: &str) -> Option<QuotaKind> {
        QuotaKind::ALL.into_iter().find(|k| k.key() == key)
    }

    /// A short name for metrics (`produce`, `fetch`, `request`, `controller_mutation`).
    pub fn label(self) -> &'static str {
        match self {
            QuotaKind::Produce => "produce",
            QuotaKind::Fetch => "fetch",
            QuotaKind::Request => "request",
            QuotaKind::ControllerMutation => "controller_mutation",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The IP entity's only key (KIP-612), which Rill does not enforce yet.
pub const CONNECTION_CREATION_RATE: &str = "connection_creation_rate";

/// Checks an entity as AlterClientQuotas and DescribeClientQuotas get it and returns its
/// canonical form.
///
/// # Errors
/// Kafka's messages for an empty entity, a duplicate or unknown type, or an `ip` part
/// combined with another; `ip` entities are refused because Rill does not enforce
/// `connection_creation_rate` (a quota that would be stored and ignored).
pub fn validate_entity(parts: &[(String, Option<String>)]) -> Result<QuotaEntity, String> {
    if parts.is_empty() {
        return Err("Invalid empty client quota entity".into());
    }
    let mut out: QuotaEntity = Vec::with_capacity(parts.len());
    for (entity_type, name) in parts {
        match entity_type.as_str() {
            USER | CLIENT_ID => {}
            IP => {
                return Err(format!(
                    "ip quotas ({CONNECTION_CREATION_RATE}) are not supported by this broker"
                ))
            }
            other => return Err(format!("Unhandled client quota entity type: {other}")),
        }
        if out.iter().any(|p| p.entity_type == *entity_type) {
            return Err(format!(
                "Invalid quota entity: {entity_type} appears more than once"
            ));
        }
        out.push(QuotaEntityPart {
            entity_type: entity_type.clone(),
            name: name.clone(),
        });
    }
    Ok(rill_meta::quota::canonical_entity(out))
}

/// Checks a quota value for `key`.
///
/// # Errors
/// An unknown key, a byte rate that is not a whole number, or a value that is not a
/// positive finite number (no rate can be held to zero).
pub fn validate_value(key: &str, value: f64) -> Result<(), String> {
    let Some(kind) = QuotaKind::of_key(key) else {
        return Err(format!("Invalid configuration key {key}"));
    };
    if !value.is_finite() || value <= 0.0 {
        return Err(format!(
            "Configuration {key} must be a positive number, not {value}"
        ));
    }
    if matches!(kind, QuotaKind::Produce | QuotaKind::Fetch)
        && (value.fract() != 0.0 || value > i64::MAX as f64)
    {
        return Err(format!("Configuration {key} must be a Long value"));
    }
    Ok(())
}

/// How a filter component matches an entity's name (Kafka's `match_type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchName {
    /// That name (`None`: the default entity), match type 0.
    Exact(Option<String>),
    /// The default entity, match type 1.
    Default,
    /// Any entity of the type, default or named, match type 2.
    Any,
}

/// A DescribeClientQuotas filter: components, and whether an entity must have no other
/// types (`strict`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuotaFilter {
    /// (entity type, how its name matches).
    pub components: Vec<(String, MatchName)>,
    /// Entities with types beyond the components' do not match.
    pub strict: bool,
}

impl QuotaFilter {
    /// The filter of the wire's components: (entity type, match type, match).
    ///
    /// # Errors
    /// An unknown match type or entity type, or a type given twice (INVALID_REQUEST).
    pub fn from_wire(
        components: impl IntoIterator<Item = (String, i8, Option<String>)>,
        strict: bool,
    ) -> Result<Self, String> {
        let mut out = QuotaFilter {
            components: Vec::new(),
            strict,
        };
        for (entity_type, match_type, name) in components {
            if ![USER, CLIENT_ID, IP].contains(&entity_type.as_str()) {
                return Err(format!("Custom entity type '{entity_type}' not supported"));
            }
            if out.components.iter().any(|(t, _)| *t == entity_type) {
                return Err(format!("Duplicate {entity_type} in filter"));
            }
            let m = match match_type {
                0 => MatchName::Exact(name),
                1 => MatchName::Default,
                2 => MatchName::Any,
                other => return Err(format!("Unknown match type {other}")),
            };
            out.components.push((entity_type, m));
        }
        Ok(out)
    }

    /// Whether `entity` matches.
    pub fn matches(&self, entity: &QuotaEntity) -> bool {
        let all = self.components.iter().all(|(t, m)| {
            entity
                .iter()
                .find(|p| p.entity_type == *t)
                .is_some_and(|p| match m {
                    MatchName::Exact(name) => p.name == *name,
                    MatchName::Default => p.name.is_none(),
                    MatchName::Any => true,
                })
        });
        all && (!self.strict || entity.len() == self.components.len())
    }
}

/// One side of a table key: the part is absent, or names the default, or a name.
type Side = Option<Option<String>>;

/// The quotas of the image, indexed for lookup by (user, client id).
#[derive(Debug, Default)]
pub struct QuotaTable {
    /// Limits by (user side, client side), per kind.
    limits: HashMap<(Side, Side), [Option<f64>; 4]>,
}

/// The sensor a request's usage is recorded in: (user, client id) as Kafka tags it; either
/// may be empty when the quota that applies does not name it (all the user's clients share
/// a user quota).
pub type SensorKey = (String, String);

/// The quota that applies to a request for one kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    /// Where usage is recorded.
    pub sensor: SensorKey,
    /// The limit.
    pub limit: f64,
}

impl QuotaTable {
    /// The table of `image`'s quotas.
    pub fn from_image(image: &MetadataImage) -> Self {
        let mut limits: HashMap<(Side, Side), [Option<f64>; 4]> = HashMap::new();
        for (entity, quotas) in image.client_quotas() {
            let mut user: Side = None;
            let mut client: Side = None;
            for part in entity {
                match part.entity_type.as_str() {
                    USER => user = Some(part.name.clone()),
                    CLIENT_ID => client = Some(part.name.clone()),
                    _ => {}
                }
            }
            if user.is_none() && client.is_none() {
                continue;
            }
            let slot = limits.entry((user, client)).or_default();
            for (key, value) in quotas {
                if let Some(kind) = QuotaKind::of_key(key) {
                    slot[kind.index()] = Some(value.0);
                }
            }
        }
        QuotaTable { limits }
    }

    /// Whether no quota is set at all (requests then skip quota work entirely).
    pub fn is_empty(&self) -> bool {
        self.limits.is_empty()
    }

    /// Whether any quota of `kind` is set.
    pub fn has(&self, kind: QuotaKind) -> bool {
        self.limits.values().any(|l| l[kind.index()].is_some())
    }

    /// The quota of `kind` for `user` (the principal's name) and `client_id`, by Kafka's
    /// precedence: user and client id, user and default client, user, default user and
    /// client id, default user and default client, default user, client id, default client.
    pub fn resolve(&self, kind: QuotaKind, user: &str, client_id: &str) -> Option<Bound> {
        let u = || Some(Some(user.to_string()));
        let c = || Some(Some(client_id.to_string()));
        let levels: [((Side, Side), (bool, bool)); 8] = [
            ((u(), c()), (true, true)),
            ((u(), Some(None)), (true, true)),
            ((u(), None), (true, false)),
            ((Some(None), c()), (true, true)),
            ((Some(None), Some(None)), (true, true)),
            ((Some(None), None), (true, false)),
            ((None, c()), (false, true)),
            ((None, Some(None)), (false, true)),
        ];
        for (key, (tag_user, tag_client)) in levels {
            if let Some(limit) = self.limits.get(&key).and_then(|l| l[kind.index()]) {
                return Some(Bound {
                    sensor: (
                        if tag_user {
                            user.to_string()
                        } else {
                            String::new()
                        },
                        if tag_client {
                            client_id.to_string()
                        } else {
                            String::new()
                        },
                    ),
                    limit,
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rill_meta::{MetadataRecord, QuotaValue};

    fn part(t: &str, name: Option<&str>) -> QuotaEntityPart {
        QuotaEntityPart {
            entity_type: t.into(),
            name: name.map(str::to_string),
        }
    }

    fn image(quotas: &[(Vec<QuotaEntityPart>, &str, f64)]) -> MetadataImage {
        let mut image = MetadataImage::new();
        for (entity, key, value) in quotas {
            image
                .apply(&MetadataRecord::ClientQuotaAltered {
                    entity: entity.clone(),
                    key: key.to_string(),
                    value: Some(QuotaValue(*value)),
                })
                .unwrap();
        }
        image
    }

    #[test]
    fn entities_are_checked_as_kafka_checks_them() {
        let e = |parts: &[(&str, Option<&str>)]| {
            validate_entity(
                &parts
                    .iter()
                    .map(|(t, n)| (t.to_string(), n.map(str::to_string)))
                    .collect::<Vec<_>>(),
            )
        };
        assert!(e(&[]).is_err());
        assert!(e(&[("user", Some("a")), ("user", Some("b"))]).is_err());
        assert!(e(&[("topic", Some("a"))]).is_err());
        assert!(e(&[("ip", Some("10.0.0.1"))]).is_err());
        let both = e(&[("user", Some("a")), ("client-id", None)]).unwrap();
        assert_eq!(both[0].entity_type, "client-id", "canonical order");
        assert!(validate_value("producer_byte_rate", 1024.0).is_ok());
        assert!(validate_value("producer_byte_rate", 10.5).is_err());
        assert!(validate_value("request_percentage", 12.5).is_ok());
        assert!(validate_value("request_percentage", 0.0).is_err());
        assert!(validate_value("consumer_byte_rate", f64::NAN).is_err());
        assert!(validate_value("bogus", 1.0).is_err());
    }

    #[test]
    fn filters_match_as_describe_client_quotas_does() {
        let alice = vec![part("user", Some("alice"))];
        let alice_app = vec![part("client-id", Some("app")), part("user", Some("alice"))];
        let default_user = vec![part("user", None)];
        let f = |c: Vec<(&str, i8, Option<&str>)>, strict| {
            QuotaFilter::from_wire(
                c.into_iter()
                    .map(|(t, m, n)| (t.to_string(), m, n.map(str::to_string))),
                strict,
            )
            .unwrap()
        };
        let user_any = f(vec![("user", 2, None)], false);
        assert!(user_any.matches(&alice) && user_any.matches(&alice_app));
        assert!(user_any.matches(&default_user));
        let user_any_strict = f(vec![("user", 2, None)], true);
        assert!(user_any_strict.matches(&alice) && !user_any_strict.matches(&alice_app));
        let exact = f(vec![("user", 0, Some("alice"))], false);
        assert!(exact.matches(&alice) && !exact.matches(&default_user));
        let default = f(vec![("user", 1, None)], false);
        assert!(default.matches(&default_user) && !default.matches(&alice));
        assert!(
            f(vec![], false).matches(&alice),
            "no components: everything"
        );
        assert!(!f(vec![], true).matches(&alice));
        assert!(QuotaFilter::from_wire([("user".to_string(), 7, None)], false).is_err());
        assert!(QuotaFilter::from_wire(
            [("user".to_string(), 2, None), ("user".to_string(), 1, None)],
            false
        )
        .is_err());
    }

    #[test]
    fn the_most_specific_quota_applies_and_names_its_sensor() {
        let t = QuotaTable::from_image(&image(&[
            (vec![part("client-id", None)], "producer_byte_rate", 8.0),
            (
                vec![part("client-id", Some("app"))],
                "producer_byte_rate",
                7.0,
            ),
            (vec![part("user", None)], "producer_byte_rate", 6.0),
            (
                vec![part("user", None), part("client-id", None)],
                "producer_byte_rate",
                5.0,
            ),
            (
                vec![part("user", None), part("client-id", Some("app"))],
                "producer_byte_rate",
                4.0,
            ),
            (vec![part("user", Some("alice"))], "producer_byte_rate", 3.0),
            (
                vec![part("user", Some("alice")), part("client-id", None)],
                "producer_byte_rate",
                2.0,
            ),
            (
                vec![part("user", Some("alice")), part("client-id", Some("app"))],
                "producer_byte_rate",
                1.0,
            ),
            (vec![part("user", Some("bob"))], "consumer_byte_rate", 9.0),
        ]));
        let b = |u: &str, c: &str| t.resolve(QuotaKind::Produce, u, c).unwrap();
        assert_eq!(b("alice", "app").limit, 1.0);
        assert_eq!(b("alice", "other").limit, 2.0);
        assert_eq!(b("carol", "app").limit, 4.0);
        assert_eq!(b("carol", "other").limit, 5.0);
        // bob has a consumer quota only: his produce quota falls to the defaults.
        assert_eq!(b("bob", "x").limit, 5.0);
        assert_eq!(t.resolve(QuotaKind::Fetch, "bob", "x").unwrap().limit, 9.0);
        assert_eq!(
            t.resolve(QuotaKind::Fetch, "bob", "x").unwrap().sensor,
            ("bob".to_string(), String::new()),
            "a user quota is shared by the user's clients"
        );
        assert!(t.resolve(QuotaKind::Fetch, "carol", "x").is_none());
        // Client-id quotas alone.
        let t = QuotaTable::from_image(&image(&[
            (vec![part("client-id", None)], "producer_byte_rate", 8.0),
            (
                vec![part("client-id", Some("app"))],
                "producer_byte_rate",
                7.0,
            ),
        ]));
        assert_eq!(
            t.resolve(QuotaKind::Produce, "x", "app").unwrap().limit,
            7.0
        );
        let other = t.resolve(QuotaKind::Produce, "x", "other").unwrap();
        assert_eq!(other.limit, 8.0);
        assert_eq!(other.sensor, (String::new(), "other".to_string()));
        assert!(t.has(QuotaKind::Produce) && !t.has(QuotaKind::Request));
    }
}
