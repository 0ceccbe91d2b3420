//! The web console: one HTML page, a stylesheet and a script, embedded in the binary
//! (nothing to install or fetch at run time, no build step). The script talks to the JSON
//! API under `/api/v1` and draws its charts as SVG.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// `GET /` (and `/console`).
pub async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("console/index.html"),
    )
        .into_response()
}

/// `GET /console/app.js`.
pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("console/app.js"),
    )
        .into_response()
}

/// `GET /console/app.css`.
pub async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("console/app.css"),
    )
        .into_response()
}
