//! One attempt at opening a URL at a byte offset, over HTTP(S) or from a `file:` path, and
//! the sorting of failures into those worth retrying and those that are final.
//!
//! This module does not retry, verify or cache; [`super::cache`] does.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::time::Duration;

use ureq::tls::{RootCerts, TlsConfig};
use url::Url;

use super::FetchError;

/// A body being received.
pub(super) struct Opened {
    /// The bytes from `offset` on.
    pub reader: Box<dyn Read + Send>,
    /// Where the body starts in the file: the requested offset, or 0 when the server ignored
    /// the `Range` request and sends the whole file.
    pub offset: u64,
    /// The whole file's length, when the server says.
    pub total: Option<u64>,
}

/// Why an attempt failed.
pub(super) enum Failure {
    /// Worth another try (connection refused or reset, timeout, 5xx, 429).
    Transient(String),
    /// The server cannot serve the requested range: start again from the beginning.
    RangeRefused,
    /// Retrying will not help.
    Final(FetchError),
}

/// The HTTP client, shared by all downloads of one fetcher.
pub(super) struct Transport {
    agent: ureq::Agent,
}

impl Transport {
    /// A client that trusts the system's certificate store: networks that re-sign TLS with
    /// their own CA (installed on the host) work, and bundled roots would refuse them.
    pub fn new() -> Self {
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::PlatformVerifier)
            .build();
        let config = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .timeout_per_read(Some(Duration::from_secs(60)))
            .user_agent(concat!("pi-imager/", env!("CARGO_PKG_VERSION")))
            .build();
        Transport {
            agent: config.into(),
        }
    }

    /// Opens `url` at byte `from`.
    pub fn open(&self, url: &Url, from: u64) -> Result<Opened, Failure> {
        match url.scheme() {
            "http" | "https" => self.open_http(url, from),
            "file" => open_file(url, from),
            other => Err(Failure::Final(FetchError::BadUrl {
                url: url.to_string(),
                reason: format!("the scheme `{other}:` is not supported (use http, https or file)"),
            })),
        }
    }

    fn open_http(&self, url: &Url, from: u64) -> Result<Opened, Failure> {
        let mut request = self.agent.get(url.as_str());
        if from > 0 {
            request = request.header("Range", format!("bytes={from}-"));
        }
        let response = request.call().map_err(|err| classify(url, err))?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let length = header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
        let (offset, total) = match status {
            200 => (0, length),
            206 => match header("content-range").as_deref().and_then(content_range) {
                Some((start, total)) => (start, total),
                None => return Err(Failure::RangeRefused),
            },
            416 => return Err(Failure::RangeRefused),
            404 | 410 => {
                return Err(Failure::Final(FetchError::NotFound {
                    url: url.to_string(),
                }));
            }
            408 | 429 | 500..=599 => return Err(Failure::Transient(format!("HTTP {status}"))),
            _ => {
                return Err(Failure::Final(FetchError::Status {
                    url: url.to_string(),
                    status,
                }));
            }
        };
        Ok(Opened {
            reader: Box::new(response.into_body().into_reader()),
            offset,
            total,
        })
    }
}

/// `bytes START-END/TOTAL` → (START, TOTAL if not `*`).
fn content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    let start = start.trim().parse().ok()?;
    let total = total.trim().parse().ok();
    Some((start, total))
}

fn classify(url: &Url, err: ureq::Error) -> Failure {
    match err {
        ureq::Error::Timeout(what) => Failure::Transient(format!("timed out ({what})")),
        ureq::Error::ConnectionFailed => Failure::Transient("the connection failed".to_owned()),
        ureq::Error::Io(io) if is_transient_io(&io) => Failure::Transient(io.to_string()),
        ureq::Error::Protocol(p) => Failure::Transient(format!("broken HTTP response: {p}")),
        ureq::Error::HostNotFound => Failure::Final(FetchError::Transport {
            url: url.to_string(),
            reason: "the host name does not resolve".to_owned(),
            attempts: 1,
        }),
        other => Failure::Final(FetchError::Transport {
            url: url.to_string(),
            reason: other.to_string(),
            attempts: 1,
        }),
    }
}

/// Errors that a new connection may not meet again.
pub(super) fn is_transient_io(err: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        err.kind(),
        ConnectionRefused
            | ConnectionReset
            | ConnectionAborted
            | NotConnected
            | BrokenPipe
            | TimedOut
            | UnexpectedEof
            | Interrupted
            | WouldBlock
    )
}

fn open_file(url: &Url, from: u64) -> Result<Opened, Failure> {
    let path = url.to_file_path().map_err(|()| {
        Failure::Final(FetchError::BadUrl {
            url: url.to_string(),
            reason: "a file: URL must hold an absolute local path".to_owned(),
        })
    })?;
    let failed = |source: io::Error| {
        if source.kind() == io::ErrorKind::NotFound {
            Failure::Final(FetchError::NotFound {
                url: url.to_string(),
            })
        } else {
            Failure::Final(FetchError::File {
                url: url.to_string(),
                path: path.clone(),
                source,
            })
        }
    };
    let mut file = File::open(&path).map_err(failed)?;
    let total = file.metadata().map_err(failed)?.len();
    if from > total {
        return Err(Failure::RangeRefused);
    }
    file.seek(SeekFrom::Start(from)).map_err(failed)?;
    Ok(Opened {
        reader: Box::new(file),
        offset: from,
        total: Some(total),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_content_range() {
        assert_eq!(content_range("bytes 10-99/100"), Some((10, Some(100))));
        assert_eq!(content_range("bytes 10-99/*"), Some((10, None)));
        assert_eq!(content_range("items 1-2/3"), None);
        assert_eq!(content_range("bytes x-2/3"), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        #[test]
        fn content_range_never_panics(value in "\\PC{0,40}") {
            let _ = content_range(&value);
        }
    }
}
