//! The admin API's error answer: an HTTP status and a JSON body
//! `{"error": {"message": ..., "kafka_error": "TOPIC_ALREADY_EXISTS", "kafka_code": 36}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::admin::AdminError;
use crate::error::BrokerError;

/// An error answer of the admin API.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The Kafka error code behind it, if any.
    pub kafka_code: Option<i16>,
    /// What went wrong, for a person.
    pub message: String,
}

/// Result of an API handler.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kafka_code: None,
            message: message.into(),
        }
    }

    /// 400: the request is wrong.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404: no such thing.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 503: the node is not ready to answer this.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    /// 500: a bug or a failed task.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// An error carrying a Kafka error code, its status chosen from the code.
    pub fn kafka(code: i16, message: impl Into<String>) -> Self {
        use kafka_protocol::ResponseError as E;
        let status = match E::try_from_code(code) {
            Some(E::TopicAlreadyExists) => StatusCode::CONFLICT,
            Some(E::UnknownTopicOrPartition | E::UnknownTopicId | E::GroupIdNotFound) => {
                StatusCode::NOT_FOUND
            }
            Some(
                E::TopicDeletionDisabled
                | E::TopicAuthorizationFailed
                | E::GroupAuthorizationFailed
                | E::ClusterAuthorizationFailed
                | E::TransactionalIdAuthorizationFailed,
            ) => StatusCode::FORBIDDEN,
            Some(E::ResourceNotFound) => StatusCode::NOT_FOUND,
            Some(E::DuplicateResource) => StatusCode::CONFLICT,
            Some(E::SecurityDisabled | E::UnsupportedSaslMechanism | E::UnacceptableCredential) => {
                StatusCode::BAD_REQUEST
            }
            Some(
                E::InvalidTopicException
                | E::InvalidPartitions
                | E::InvalidReplicationFactor
                | E::InvalidReplicaAssignment
                | E::InvalidConfig
                | E::InvalidRequest
                | E::OffsetOutOfRange,
            ) => StatusCode::BAD_REQUEST,
            Some(E::NotController | E::NotLeaderOrFollower | E::LeaderNotAvailable) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            status,
            kafka_code: Some(code),
            message: message.into(),
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        ApiError::kafka(e.code(), e.to_string())
    }
}

impl From<BrokerError> for ApiError {
    fn from(e: BrokerError) -> Self {
        ApiError::from(AdminError::Storage(e))
    }
}

impl From<rill_client::ClientError> for ApiError {
    fn from(e: rill_client::ClientError) -> Self {
        match e.kafka_code() {
            Some(code) => ApiError::kafka(code, e.to_string()),
            None => ApiError::new(StatusCode::BAD_GATEWAY, e.to_string()),
        }
    }
}

impl From<rill_log::LogError> for ApiError {
    fn from(e: rill_log::LogError) -> Self {
        ApiError::kafka(crate::api::errors::log_error_code(&e), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": {
                "message": self.message,
                "kafka_error": self.kafka_code.map(crate::observe::requests::error_name),
                "kafka_code": self.kafka_code,
            }
        });
        (self.status, Json(body)).into_response()
    }
}
