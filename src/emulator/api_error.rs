//! Error answers in each provider's JSON shape: Anthropic's
//! `{"type":"error","error":{"type","message"}}` and OpenAI's
//! `{"error":{"message","type","param","code"}}` (vLLM and SGLang answer in OpenAI's shape).
//!
//! Messages name fields and counts, never request text.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// Whose error shape to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Anthropic,
    OpenAi,
}

impl Flavor {
    /// The flavor of a provider endpoint.
    pub fn of_path(path: &str) -> Self {
        if path == "/v1/messages" {
            Flavor::Anthropic
        } else {
            Flavor::OpenAi
        }
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub flavor: Flavor,
    pub status: StatusCode,
    /// Anthropic `error.type` or OpenAI `error.type`.
    pub kind: &'static str,
    /// OpenAI `error.code`.
    pub code: Option<&'static str>,
    pub message: String,
    /// Boxed: most errors carry none, and a small error keeps every `Result` small.
    pub headers: Box<HeaderMap>,
}

impl ApiError {
    pub fn new(flavor: Flavor, status: StatusCode, kind: &'static str, message: String) -> Self {
        Self {
            flavor,
            status,
            kind,
            code: None,
            message,
            headers: Box::default(),
        }
    }

    /// 400 `invalid_request_error`.
    pub fn invalid(flavor: Flavor, message: impl Into<String>) -> Self {
        Self::new(
            flavor,
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            message.into(),
        )
    }

    /// An unparsable body. serde's message can quote a value of the request (prompt text), so
    /// only its position goes back.
    pub fn bad_json(flavor: Flavor, e: &serde_json::Error) -> Self {
        let what = match e.classify() {
            serde_json::error::Category::Data => "a field is missing or has the wrong type",
            _ => "the body is not valid JSON",
        };
        Self::invalid(
            flavor,
            format!(
                "invalid request body at line {} column {}: {what}",
                e.line(),
                e.column()
            ),
        )
    }

    /// 404 for a model no cache rule knows.
    pub fn unknown_model(flavor: Flavor, model: &str) -> Self {
        match flavor {
            Flavor::Anthropic => Self::new(
                flavor,
                StatusCode::NOT_FOUND,
                "not_found_error",
                format!("model: {model}"),
            ),
            Flavor::OpenAi => Self::new(
                flavor,
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                format!("The model `{model}` does not exist or you do not have access to it."),
            )
            .code("model_not_found"),
        }
    }

    pub fn internal(flavor: Flavor, message: impl Into<String>) -> Self {
        let kind = match flavor {
            Flavor::Anthropic => "api_error",
            Flavor::OpenAi => "server_error",
        };
        Self::new(
            flavor,
            StatusCode::INTERNAL_SERVER_ERROR,
            kind,
            message.into(),
        )
    }

    pub fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn with_headers(mut self, headers: HeaderMap) -> Self {
        self.headers.extend(headers);
        self
    }

    pub fn header(mut self, name: &'static str, value: String) -> Self {
        if let Ok(v) = HeaderValue::from_str(&value) {
            self.headers.insert(HeaderName::from_static(name), v);
        }
        self
    }
}

/// The error body of `flavor`.
pub fn body(flavor: Flavor, kind: &str, message: &str, code: Option<&str>) -> Value {
    match flavor {
        Flavor::Anthropic => json!({
            "type": "error",
            "error": {"type": kind, "message": message},
        }),
        Flavor::OpenAi => json!({
            "error": {"message": message, "type": kind, "param": null, "code": code},
        }),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = body(self.flavor, self.kind, &self.message, self.code);
        let mut r = (self.status, axum::Json(body)).into_response();
        r.headers_mut().extend(*self.headers);
        r
    }
}
