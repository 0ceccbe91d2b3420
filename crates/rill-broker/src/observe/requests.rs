//! Requests, errors and latency per Kafka API.
//!
//! Each API's request counter and latency histogram are registered on its first request and
//! kept in a fixed table indexed by API key; error counters are cached per (API, error code).
//! A request costs an `Instant::now()`, a counter add, a histogram record and a walk over the
//! response's error code fields, with no allocation once the handles exist.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, OnceLock};
use std::time::Instant;

use kafka_protocol::messages::{ApiKey, ResponseKind};
use kafka_protocol::ResponseError;
use metrics::{counter, histogram, Counter, Histogram};

use super::names;

/// Table size: Kafka's API keys are below this.
const API_SLOTS: usize = 128;

/// One API's handles.
struct ApiHandles {
    /// The API's name as Kafka's metrics label it (`Produce`, `Fetch`, ...).
    name: String,
    /// `rill_requests_total{request}`.
    requests: Counter,
    /// `rill_request_duration_seconds{request}`.
    duration: Histogram,
}

static APIS: [OnceLock<ApiHandles>; API_SLOTS] = [const { OnceLock::new() }; API_SLOTS];

static ERRORS: LazyLock<Mutex<HashMap<(i16, i16), Counter>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn handles(api: ApiKey) -> Option<&'static ApiHandles> {
    let slot = APIS.get(api as usize)?;
    Some(slot.get_or_init(|| {
        super::install();
        let name = format!("{api:?}");
        ApiHandles {
            requests: counter!(names::REQUESTS, "request" => name.clone()),
            duration: histogram!(names::REQUEST_DURATION, "request" => name.clone()),
            name,
        }
    }))
}

/// Kafka's spelling of an error code: `NOT_LEADER_OR_FOLLOWER`, or the number if unknown.
pub fn error_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        None => "NONE".into(),
        Some(ResponseError::Unknown(c)) => c.to_string(),
        Some(e) => {
            let camel = e.to_string();
            let mut out = String::with_capacity(camel.len() + 8);
            for (i, ch) in camel.chars().enumerate() {
                if ch.is_ascii_uppercase() && i > 0 {
                    out.push('_');
                }
                out.push(ch.to_ascii_uppercase());
            }
            out
        }
    }
}

/// Counts one error code sent in an answer to `api`.
pub fn count_error(api: ApiKey, code: i16) {
    if code == 0 {
        return;
    }
    let mut map = ERRORS.lock().unwrap_or_else(|p| p.into_inner());
    let c = map.entry((api as i16, code)).or_insert_with(|| {
        super::install();
        let request = handles(api).map_or_else(|| format!("{api:?}"), |h| h.name.clone());
        counter!(names::REQUEST_ERRORS, "request" => request, "error" => error_name(code))
    });
    c.increment(1);
}

/// A request being timed from its arrival.
#[derive(Debug)]
pub struct RequestTimer {
    /// The API.
    api: ApiKey,
    /// When the request's frame was taken up.
    started: Instant,
}

/// Starts timing a request of `api`.
pub fn start(api: ApiKey) -> RequestTimer {
    RequestTimer {
        api,
        started: Instant::now(),
    }
}

impl RequestTimer {
    /// The request is answered with `body` (`None`: no answer, as for acks=0): counts it, its
    /// latency and every error code in the answer.
    pub fn finish(self, body: Option<&ResponseKind>) {
        if let Some(h) = handles(self.api) {
            h.requests.increment(1);
            h.duration.record(self.started.elapsed().as_secs_f64());
        }
        if let Some(body) = body {
            for_each_error(body, &mut |code| count_error(self.api, code));
        }
    }

    /// A Fetch is answered with `r` (encoded separately, with its file ranges).
    pub fn finish_fetch(self, r: &kafka_protocol::messages::FetchResponse) {
        let api = self.api;
        if let Some(h) = handles(api) {
            h.requests.increment(1);
            h.duration.record(self.started.elapsed().as_secs_f64());
        }
        fetch_errors(r, &mut |code| {
            if code != 0 {
                count_error(api, code)
            }
        });
    }
}

/// Calls `f` with the top-level and every partition's error code of a Fetch answer.
fn fetch_errors(r: &kafka_protocol::messages::FetchResponse, f: &mut impl FnMut(i16)) {
    f(r.error_code);
    r.responses
        .iter()
        .flat_map(|t| &t.partitions)
        .for_each(|p| f(p.error_code));
}

/// Calls `f` with every non-zero error code of a response (top level, per topic, per
/// partition, per group), for the APIs Rill serves.
pub fn for_each_error(body: &ResponseKind, f: &mut impl FnMut(i16)) {
    let mut e = |code: i16| {
        if code != 0 {
            f(code)
        }
    };
    match body {
        ResponseKind::Produce(r) => r
            .responses
            .iter()
            .flat_map(|t| &t.partition_responses)
            .for_each(|p| e(p.error_code)),
        ResponseKind::Fetch(r) => fetch_errors(r, &mut e),
        ResponseKind::ListOffsets(r) => r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| e(p.error_code)),
        ResponseKind::Metadata(r) => r.topics.iter().for_each(|t| {
            e(t.error_code);
            t.partitions.iter().for_each(|p| e(p.error_code));
        }),
        ResponseKind::CreateTopics(r) => r.topics.iter().for_each(|t| e(t.error_code)),
        ResponseKind::DeleteTopics(r) => r.responses.iter().for_each(|t| e(t.error_code)),
        ResponseKind::CreatePartitions(r) => r.results.iter().for_each(|t| e(t.error_code)),
        ResponseKind::DeleteRecords(r) => r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| e(p.error_code)),
        ResponseKind::InitProducerId(r) => e(r.error_code),
        ResponseKind::DescribeConfigs(r) => r.results.iter().for_each(|t| e(t.error_code)),
        ResponseKind::AlterConfigs(r) => r.responses.iter().for_each(|t| e(t.error_code)),
        ResponseKind::IncrementalAlterConfigs(r) => {
            r.responses.iter().for_each(|t| e(t.error_code))
        }
        ResponseKind::DescribeCluster(r) => e(r.error_code),
        ResponseKind::DescribeQuorum(r) => {
            e(r.error_code);
            r.topics
                .iter()
                .flat_map(|t| &t.partitions)
                .for_each(|p| e(p.error_code));
        }
        ResponseKind::DescribeLogDirs(r) => {
            e(r.error_code);
            r.results.iter().for_each(|d| e(d.error_code));
        }
        ResponseKind::FindCoordinator(r) => {
            e(r.error_code);
            r.coordinators.iter().for_each(|c| e(c.error_code));
        }
        ResponseKind::JoinGroup(r) => e(r.error_code),
        ResponseKind::SyncGroup(r) => e(r.error_code),
        ResponseKind::Heartbeat(r) => e(r.error_code),
        ResponseKind::LeaveGroup(r) => {
            e(r.error_code);
            r.members.iter().for_each(|m| e(m.error_code));
        }
        ResponseKind::OffsetCommit(r) => r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| e(p.error_code)),
        ResponseKind::OffsetFetch(r) => {
            e(r.error_code);
            r.topics
                .iter()
                .flat_map(|t| &t.partitions)
                .for_each(|p| e(p.error_code));
            r.groups.iter().for_each(|g| {
                e(g.error_code);
                g.topics
                    .iter()
                    .flat_map(|t| &t.partitions)
                    .for_each(|p| e(p.error_code));
            });
        }
        ResponseKind::DescribeGroups(r) => r.groups.iter().for_each(|g| e(g.error_code)),
        ResponseKind::ListGroups(r) => e(r.error_code),
        ResponseKind::DeleteGroups(r) => r.results.iter().for_each(|g| e(g.error_code)),
        ResponseKind::OffsetDelete(r) => {
            e(r.error_code);
            r.topics
                .iter()
                .flat_map(|t| &t.partitions)
                .for_each(|p| e(p.error_code));
        }
        ResponseKind::ApiVersions(r) => e(r.error_code),
        ResponseKind::DescribeProducers(r) => r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| e(p.error_code)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::produce_response::{
        PartitionProduceResponse, TopicProduceResponse,
    };
    use kafka_protocol::messages::ProduceResponse;

    #[test]
    fn error_names_are_kafkas() {
        assert_eq!(error_name(6), "NOT_LEADER_OR_FOLLOWER");
        assert_eq!(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(error_name(0), "NONE");
        assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
        assert_eq!(error_name(9999), "9999");
    }

    #[test]
    fn walks_partition_error_codes() {
        let mut r = ProduceResponse::default();
        let mut t = TopicProduceResponse::default();
        for code in [0, 6, 0, 10] {
            let mut p = PartitionProduceResponse::default();
            p.error_code = code;
            t.partition_responses.push(p);
        }
        r.responses.push(t);
        let mut seen = Vec::new();
        for_each_error(&ResponseKind::Produce(r), &mut |c| seen.push(c));
        assert_eq!(seen, vec![6, 10]);
    }
}
