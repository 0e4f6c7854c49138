//! API errors as moby writes them: `{"message": ...}` as `application/json` (the docker CLI prints any other
//! body raw), with the status that tells a client what happened: 404 for a missing object (the CLI pulls
//! and retries a create, tries the next object type for inspect), 409 for a conflict, 400 for bad input.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_engine::container::ContainerError;
use berth_engine::{Error, ErrorKind};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message)
    }
}

/// The body of an error, as moby writes it.
pub fn json_message(message: &str) -> String {
    serde_json::json!({ "message": message }).to_string()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        tracing::debug!(status = self.status.as_u16(), "{}", self.message);
        (self.status, [(header::CONTENT_TYPE, "application/json")], json_message(&self.message)).into_response()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        ApiError::new(status_of(&e), e.to_string())
    }
}

/// A blocking task that panicked or was cancelled: the server's failure, not the client's.
impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

impl From<berth_engine::run::RunError> for ApiError {
    fn from(e: berth_engine::run::RunError) -> ApiError {
        ApiError::from(Error::from(e))
    }
}

impl From<berth_engine::container::ContainerError> for ApiError {
    fn from(e: ContainerError) -> ApiError {
        ApiError::from(Error::from(e))
    }
}

/// Which HTTP status moby gives the failure.
fn status_of(e: &Error) -> StatusCode {
    match e.kind() {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Other => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Paths berth does not serve: moby's 404, with what was asked.
pub async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("page not found: berth serve does not implement {method} {}", uri.path()))
}
