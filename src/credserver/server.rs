//! The loopback endpoint: AWS container credentials over HTTP (`tiny_http`) on 127.0.0.1 and a
//! port the kernel picks, for the one client that holds the token.

use std::io::Cursor;
use std::thread::JoinHandle;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq as _;
use tiny_http::{Header, Method, Response, Server, StatusCode};
use zeroize::Zeroizing;

use super::Served;
use crate::error::{Error, Failure, Result};

/// The path the child is given; any other is 404.
const PATH: &str = "/lsenv/credentials";

/// The running endpoint; dropping it stops the server thread.
pub(crate) struct Endpoint {
    server: std::sync::Arc<Server>,
    thread: Option<JoinHandle<()>>,
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI`.
    pub url: String,
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`: fresh for every run.
    pub token: Zeroizing<String>,
}

impl Endpoint {
    pub(crate) fn start(keys: Served) -> Result<Self> {
        let failed =
            |err: &dyn std::fmt::Display| Error::failed(Failure::Endpoint(err.to_string()));
        let server = std::sync::Arc::new(Server::http("127.0.0.1:0").map_err(|err| failed(&err))?);
        let port = server
            .server_addr()
            .to_ip()
            .map(|address| address.port())
            .ok_or_else(|| failed(&"no TCP port"))?;
        let mut random = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut random[..]).map_err(|err| failed(&err))?;
        let mut token = Zeroizing::new(String::with_capacity(43));
        URL_SAFE_NO_PAD.encode_string(&random[..], &mut token);
        let thread = {
            let server = std::sync::Arc::clone(&server);
            let token = token.clone();
            std::thread::Builder::new()
                .name("lsenv credentials".into())
                .spawn(move || {
                    for request in server.incoming_requests() {
                        let response = answer(&request, token.as_bytes(), &keys);
                        // The client may be gone: nothing to tell it.
                        let _ = request.respond(response);
                    }
                })
                .map_err(|err| Error::io("threads", "start a thread", err))?
        };
        Ok(Self {
            server,
            thread: Some(thread),
            url: format!("http://127.0.0.1:{port}{PATH}"),
            token,
        })
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type Answer = Response<Cursor<Zeroizing<Vec<u8>>>>;

fn answer(request: &tiny_http::Request, token: &[u8], served: &Served) -> Answer {
    if request.url() != PATH {
        return message(404, "not found");
    }
    if *request.method() != Method::Get {
        return message(405, "only GET");
    }
    let authorized = request
        .headers()
        .iter()
        .find(|header| header.field.equiv("Authorization"))
        .is_some_and(|header| bool::from(header.value.as_bytes().ct_eq(token)));
    if !authorized {
        return message(401, "missing or wrong authorization token");
    }
    match served.json(SystemTime::now()) {
        Some(body) => respond(200, body),
        None => message(503, "no valid credentials at the moment"),
    }
}

fn message(status: u16, text: &str) -> Answer {
    let body = serde_json::json!({ "message": text })
        .to_string()
        .into_bytes();
    respond(status, Zeroizing::new(body))
}

fn respond(status: u16, body: Zeroizing<Vec<u8>>) -> Answer {
    let length = body.len();
    let json = Header::from_bytes("Content-Type", "application/json").expect("a valid header");
    Response::new(
        StatusCode(status),
        vec![json],
        Cursor::new(body),
        Some(length),
        None,
    )
}
