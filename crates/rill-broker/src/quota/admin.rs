//! What DescribeClientQuotas and AlterClientQuotas do with the image, apart from the wire
//! (the Kafka API and the admin HTTP API share it): describe by filter, and turn alterations
//! into metadata records after Kafka's checks. Pure.

use rill_meta::{MetadataImage, MetadataRecord, QuotaEntity, QuotaValue};

use super::entity::{validate_entity, validate_value, QuotaFilter};

/// One alteration: set (`Some`) or remove (`None`) a key.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaOp {
    /// The quota key.
    pub key: String,
    /// The new value, or `None` to remove it.
    pub value: Option<f64>,
}

/// One entity's alterations as a client sent them.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaAlteration {
    /// (entity type, name; `None` for the default).
    pub entity: Vec<(String, Option<String>)>,
    /// What to change.
    pub ops: Vec<QuotaOp>,
}

/// The entities `filter` matches, with their quotas, in entity order.
pub fn describe(
    image: &MetadataImage,
    filter: &QuotaFilter,
) -> Vec<(QuotaEntity, Vec<(String, f64)>)> {
    image
        .client_quotas()
        .filter(|(entity, _)| filter.matches(entity))
        .map(|(entity, quotas)| {
            (
                entity.clone(),
                quotas.iter().map(|(k, v)| (k.clone(), v.0)).collect(),
            )
        })
        .collect()
}

/// Checks every alteration and returns each one's outcome (in order) and the records of the
/// valid ones. An entity's alterations are all applied or none (one bad op fails its entry).
/// Removing a key that is not set adds no record, as in Kafka.
pub fn plan_alter(
    image: &MetadataImage,
    alterations: &[QuotaAlteration],
) -> (Vec<Result<(), String>>, Vec<MetadataRecord>) {
    let mut outcomes = Vec::with_capacity(alterations.len());
    let mut records = Vec::new();
    for a in alterations {
        match plan_one(image, a) {
            Ok(mut r) => {
                records.append(&mut r);
                outcomes.push(Ok(()));
            }
            Err(e) => outcomes.push(Err(e)),
        }
    }
    (outcomes, records)
}

fn plan_one(image: &MetadataImage, a: &QuotaAlteration) -> Result<Vec<MetadataRecord>, String> {
    let entity = validate_entity(&a.entity)?;
    let current = image.client_quotas_of(&entity);
    let mut seen: Vec<&str> = Vec::with_capacity(a.ops.len());
    let mut records = Vec::new();
    for op in &a.ops {
        if seen.contains(&op.key.as_str()) {
            return Err(format!("Duplicate quota key {} for one entity", op.key));
        }
        seen.push(&op.key);
        match op.value {
            Some(v) => {
                validate_value(&op.key, v)?;
                records.push(MetadataRecord::ClientQuotaAltered {
                    entity: entity.clone(),
                    key: op.key.clone(),
                    value: Some(QuotaValue(v)),
                });
            }
            None => {
                if super::entity::QuotaKind::of_key(&op.key).is_none() {
                    return Err(format!("Invalid configuration key {}", op.key));
                }
                if current.is_some_and(|c| c.contains_key(&op.key)) {
                    records.push(MetadataRecord::ClientQuotaAltered {
                        entity: entity.clone(),
                        key: op.key.clone(),
                        value: None,
                    });
                }
            }
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alter(entity: &[(&str, Option<&str>)], ops: &[(&str, Option<f64>)]) -> QuotaAlteration {
        QuotaAlteration {
            entity: entity
                .iter()
                .map(|(t, n)| (t.to_string(), n.map(str::to_string)))
                .collect(),
            ops: ops
                .iter()
                .map(|(k, v)| QuotaOp {
                    key: k.to_string(),
                    value: *v,
                })
                .collect(),
        }
    }

    #[test]
    fn alterations_are_checked_per_entity_and_become_records() {
        let mut image = MetadataImage::new();
        let (outcomes, records) = plan_alter(
            &image,
            &[
                alter(
                    &[("user", Some("alice"))],
                    &[("producer_byte_rate", Some(1024.0))],
                ),
                alter(
                    &[("user", None), ("client-id", Some("app"))],
                    &[("consumer_byte_rate", Some(10.0)), ("bogus", Some(1.0))],
                ),
                alter(&[("client-id", None)], &[("request_percentage", None)]),
            ],
        );
        assert!(outcomes[0].is_ok() && outcomes[1].is_err() && outcomes[2].is_ok());
        assert_eq!(
            records.len(),
            1,
            "the bad entry adds nothing; removing nothing adds nothing"
        );
        for r in &records {
            image.apply(r).unwrap();
        }
        let all = describe(&image, &QuotaFilter::default());
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].1, vec![("producer_byte_rate".to_string(), 1024.0)]);
        let (outcomes, records) = plan_alter(
            &image,
            &[alter(
                &[("user", Some("alice"))],
                &[("producer_byte_rate", None)],
            )],
        );
        assert!(outcomes[0].is_ok());
        for r in &records {
            image.apply(r).unwrap();
        }
        assert!(describe(&image, &QuotaFilter::default()).is_empty());
    }
}
