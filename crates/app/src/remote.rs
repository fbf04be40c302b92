//! The app's side of the HTTP binding: `POST /app/v1/order`, `/app/v1/report`,
//! `/app/v1/complete` and, for a signing-certificate fetch, `/app/v1/enroll/management` and
//! `/app/v1/enroll/delivered` on the configured servers, and nowhere else.

use std::time::Duration;

use eid_protocol::{
    AppCompleteResponse, AppCompletion, AppFetchResponse, AppReport, DeliveryConfirmation,
    ErrorBody, HintCode, ManagementChallenge, ManagementResponse,
};
use reqwest::Url;
use serde_json::json;

use crate::StartError;

/// Why a call to a server failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// No configured server knows the token.
    #[error("no configured server has this order")]
    NoOrder,
    /// The order names another server than the one it came from.
    #[error("the order's server origin is not the server it came from")]
    WrongOrigin,
    /// The return URL is not on the order's server.
    #[error("the return URL is not on the order's server")]
    WrongReturn,
    /// The server refused.
    #[error("the server answered {0}")]
    Status(u16),
    /// The server refused with a reason (`{"errorCode", "details"}`).
    #[error("the server refused ({code}): {details}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The error code (`alreadyInProgress`, `enrollmentRefused`, …).
        code: String,
        /// The server's words.
        details: String,
        /// The refusal's stable name, when the server gives one (`enrollmentRefused`).
        reason: Option<String>,
    },
    /// The server could not be reached or answered nonsense.
    #[error("{0}")]
    Http(String),
}

#[derive(Debug)]
struct Server {
    base: String,
    origin: String,
}

#[derive(Debug)]
pub(crate) struct Remote {
    servers: Vec<Server>,
    http: reqwest::Client,
}

impl Remote {
    pub(crate) fn new(servers: &[String]) -> Result<Self, StartError> {
        let mut out = Vec::new();
        for s in servers {
            let bad = || StartError::BadServer(s.clone());
            let url = Url::parse(s).map_err(|_| bad())?;
            if !matches!(url.scheme(), "http" | "https")
                || url.host_str().is_none()
                || !url.username().is_empty()
                || url.password().is_some()
                || url.query().is_some()
                || url.fragment().is_some()
            {
                return Err(bad());
            }
            let origin = url.origin().ascii_serialization();
            let base = format!("{}{}", origin, url.path().trim_end_matches('/'));
            out.push(Server { base, origin });
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| StartError::Http(e.to_string()))?;
        Ok(Self { servers: out, http })
    }

    fn server(&self, index: usize) -> Result<&Server, RemoteError> {
        self.servers.get(index).ok_or(RemoteError::NoOrder)
    }

    /// Fetches the order by its autostart token from the first server that has it.
    pub(crate) async fn fetch(
        &self,
        token: &str,
    ) -> Result<(usize, AppFetchResponse), RemoteError> {
        for (i, server) in self.servers.iter().enumerate() {
            let response = self
                .http
                .post(format!("{}/app/v1/order", server.base))
                .json(&json!({ "autoStartToken": token }))
                .send()
                .await;
            let Ok(response) = response else { continue };
            if !response.status().is_success() {
                continue;
            }
            let fetched: AppFetchResponse = response
                .json()
                .await
                .map_err(|e| RemoteError::Http(e.to_string()))?;
            if fetched.order.server_origin != server.origin {
                return Err(RemoteError::WrongOrigin);
            }
            return Ok((i, fetched));
        }
        Err(RemoteError::NoOrder)
    }

    /// `POST <server>/app/v1/<path>` with the app token and a JSON body; the response if it
    /// is a success, else the server's refusal.
    async fn call(
        &self,
        server: &Server,
        path: &str,
        app_token: &str,
        body: &impl serde::Serialize,
    ) -> Result<reqwest::Response, RemoteError> {
        let response = self
            .http
            .post(format!("{}/app/v1/{path}", server.base))
            .bearer_auth(app_token)
            .json(body)
            .send()
            .await
            .map_err(|e| RemoteError::Http(e.to_string()))?;
        refused(response).await
    }

    /// Reports a hint on the order.
    pub(crate) async fn report(
        &self,
        server: usize,
        app_token: &str,
        hint: HintCode,
    ) -> Result<(), RemoteError> {
        let server = self.server(server)?;
        self.call(server, "report", app_token, &AppReport { hint_code: hint })
            .await
            .map(drop)
    }

    /// Completes the order; answers the server's answer, whose return URL is checked to be
    /// on the order's server.
    async fn complete_checked(
        &self,
        server: usize,
        app_token: &str,
        completion: &AppCompletion,
    ) -> Result<AppCompleteResponse, RemoteError> {
        let server = self.server(server)?;
        let done: AppCompleteResponse = self
            .call(server, "complete", app_token, completion)
            .await?
            .json()
            .await
            .map_err(|e| RemoteError::Http(e.to_string()))?;
        let url = Url::parse(&done.return_url).map_err(|_| RemoteError::WrongReturn)?;
        if url.origin().ascii_serialization() != server.origin {
            return Err(RemoteError::WrongReturn);
        }
        Ok(done)
    }

    /// Completes the order; answers the return URL (on the order's server).
    pub(crate) async fn complete(
        &self,
        server: usize,
        app_token: &str,
        completion: &AppCompletion,
    ) -> Result<String, RemoteError> {
        Ok(self
            .complete_checked(server, app_token, completion)
            .await?
            .return_url)
    }

    /// Completes an `enrollSign` order; answers the return URL (on the order's server) and
    /// the signing certificate (DER).
    pub(crate) async fn complete_enrollment(
        &self,
        server: usize,
        app_token: &str,
        completion: &AppCompletion,
    ) -> Result<(String, Vec<u8>), RemoteError> {
        let done = self.complete_checked(server, app_token, completion).await?;
        let certificate = done
            .certificate
            .ok_or_else(|| RemoteError::Http("the answer has no certificate".into()))?;
        Ok((done.return_url, certificate))
    }

    /// Relays the card's management-key challenge; answers the card's response.
    pub(crate) async fn management(
        &self,
        server: usize,
        app_token: &str,
        challenge: &[u8; 16],
    ) -> Result<[u8; 16], RemoteError> {
        let server = self.server(server)?;
        let challenge = ManagementChallenge {
            challenge: challenge.to_vec(),
        };
        let answer: ManagementResponse = self
            .call(server, "enroll/management", app_token, &challenge)
            .await?
            .json()
            .await
            .map_err(|e| RemoteError::Http(e.to_string()))?;
        answer
            .response
            .as_slice()
            .try_into()
            .map_err(|_| RemoteError::Http("the management response is not 16 bytes".into()))
    }

    /// Confirms that the certificate with `serial` is on the card.
    pub(crate) async fn delivered(
        &self,
        server: usize,
        app_token: &str,
        serial: &str,
    ) -> Result<(), RemoteError> {
        let server = self.server(server)?;
        let confirmation = DeliveryConfirmation {
            certificate_serial: serial.to_owned(),
        };
        self.call(server, "enroll/delivered", app_token, &confirmation)
            .await
            .map(drop)
    }
}

/// The response if it is a success, else the server's refusal with its reason.
async fn refused(response: reqwest::Response) -> Result<reqwest::Response, RemoteError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    match response.json::<ErrorBody>().await {
        Ok(body) => Err(RemoteError::Refused {
            status: status.as_u16(),
            code: body.error_code,
            details: body.details,
            reason: body.reason,
        }),
        Err(_) => Err(RemoteError::Status(status.as_u16())),
    }
}
