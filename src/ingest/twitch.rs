//! A Twitch chat client: connects to irc.chat.twitch.tv over TLS (port 6697) anonymously
//! (a `justinfan` nick needs no token), requests tags, joins channels, answers PINGs,
//! reconnects when Twitch asks or the connection drops, and produces every PRIVMSG as
//! chat JSON keyed by channel.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdkafka::producer::{BaseProducer, BaseRecord};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{IngestError, irc};

/// Where and as whom to connect.
#[derive(Debug, Clone)]
pub struct Connection {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub nick: String,
    /// Channel names, without `#`.
    pub channels: Vec<String>,
}

impl Connection {
    /// Twitch's chat servers, anonymously. `SILT_TWITCH_IRC=host:port` points at another
    /// server over plain TCP, `tls://host:port` over TLS (a local stand-in, for tests;
    /// `SILT_TWITCH_CA=file.pem` adds roots to trust).
    pub fn twitch(channels: &[String]) -> Connection {
        let n = (chrono::Utc::now().timestamp_subsec_micros() % 90_000) + 10_000;
        let stand_in = std::env::var("SILT_TWITCH_IRC").ok().and_then(|v| {
            let (tls, addr) = match v.strip_prefix("tls://") {
                Some(rest) => (true, rest.to_owned()),
                None => (false, v),
            };
            let (h, p) = addr.rsplit_once(':')?;
            Some((h.to_owned(), p.parse().ok()?, tls))
        });
        let (host, port, tls) = match stand_in {
            Some(s) => s,
            None => ("irc.chat.twitch.tv".to_owned(), 6697, true),
        };
        Connection {
            host,
            port,
            tls,
            nick: format!("justinfan{n}"),
            channels: channels
                .iter()
                .map(|c| c.trim().trim_start_matches('#').to_ascii_lowercase())
                .filter(|c| !c.is_empty())
                .collect(),
        }
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Why a connection to the chat server could not be made (the client retries).
#[derive(Debug, thiserror::Error)]
enum ConnectError {
    #[error("connecting to {0}:{1} timed out")]
    Timeout(String, u16),
    #[error("cannot connect to {host}:{port}: {source}")]
    Tcp {
        host: String,
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("SILT_TWITCH_CA={path}: {message}")]
    Ca { path: String, message: String },
    #[error("no trusted root certificates found on this machine (install ca-certificates)")]
    NoRoots,
    #[error("TLS: {0}")]
    Tls(String),
    #[error("TLS handshake with {host} failed: {source}")]
    Handshake {
        host: String,
        #[source]
        source: std::io::Error,
    },
}

async fn connect(c: &Connection) -> Result<Box<dyn Stream>, ConnectError> {
    let tcp = tokio::time::timeout(
        Duration::from_secs(15),
        TcpStream::connect((c.host.as_str(), c.port)),
    )
    .await
    .map_err(|_| ConnectError::Timeout(c.host.clone(), c.port))?
    .map_err(|source| ConnectError::Tcp { host: c.host.clone(), port: c.port, source })?;
    if !c.tls {
        return Ok(Box::new(tcp));
    }
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        let _ = roots.add(cert);
    }
    if let Some(ca) = std::env::var_os("SILT_TWITCH_CA") {
        use rustls::pki_types::{CertificateDer, pem::PemObject};
        let certs = CertificateDer::pem_file_iter(&ca)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| ConnectError::Ca { path: ca.to_string_lossy().into_owned(), message: e.to_string() })?;
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| ConnectError::Ca { path: ca.to_string_lossy().into_owned(), message: e.to_string() })?;
        }
    }
    if roots.is_empty() {
        return Err(ConnectError::NoRoots);
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ConnectError::Tls(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(c.host.clone())
        .map_err(|e| ConnectError::Tls(format!("bad server name {}: {e}", c.host)))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|source| ConnectError::Handshake { host: c.host.clone(), source })?;
    Ok(Box::new(tls))
}

/// Why a session ended.
enum Ended {
    Stopped,
    /// Twitch asked to reconnect, or the connection dropped.
    Reconnect(String),
}

/// Produces the joined channels' chat to `topic` until `stop` (or `max` messages).
/// Returns the number of messages produced. `log` receives connection events.
pub fn produce_live(
    producer: &BaseProducer,
    topic: &str,
    conn: &Connection,
    max: Option<u64>,
    stop: &AtomicBool,
    log: &dyn Fn(&str),
) -> Result<u64, IngestError> {
    if conn.channels.is_empty() {
        return Err(IngestError::Config("no channels to join".into()));
    }
    let rt = crate::runtime::runtime(Some(1)).map_err(IngestError::Runtime)?;
    let relay = Relay {
        producer,
        topic,
        conn,
        max,
        stop,
        log,
    };
    let mut sent = 0u64;
    let mut backoff = Duration::from_secs(1);
    loop {
        let ended = rt.block_on(relay.session(&mut sent))?;
        match ended {
            Ended::Stopped => break,
            Ended::Reconnect(why) => {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                log(&format!("{why}; reconnecting in {}s", backoff.as_secs()));
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(60));
            }
        }
    }
    super::produce::flush(producer)?;
    Ok(sent)
}

/// Where chat goes, and when the relay ends.
struct Relay<'a> {
    producer: &'a BaseProducer,
    topic: &'a str,
    conn: &'a Connection,
    max: Option<u64>,
    stop: &'a AtomicBool,
    log: &'a dyn Fn(&str),
}

impl Relay<'_> {
    /// One connection: join, then relay until stopped, at `max`, or the connection ends.
    async fn session(&self, sent: &mut u64) -> Result<Ended, IngestError> {
        let (producer, topic, conn) = (self.producer, self.topic, self.conn);
        let (max, stop, log) = (self.max, self.stop, self.log);
        let stream = match connect(conn).await {
            Ok(s) => s,
            Err(e) => return Ok(Ended::Reconnect(e.to_string())),
        };
        let (read, mut write) = tokio::io::split(stream);
        let hello = format!(
            "CAP REQ :twitch.tv/tags twitch.tv/commands\r\nPASS SCHMOOPIIE\r\nNICK {}\r\nJOIN {}\r\n",
            conn.nick,
            conn.channels
                .iter()
                .map(|c| format!("#{c}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        if let Err(e) = write.write_all(hello.as_bytes()).await {
            return Ok(Ended::Reconnect(format!("cannot send to {}: {e}", conn.host)));
        }
        log(&format!(
            "connected to {}:{} as {}, joining {}",
            conn.host,
            conn.port,
            conn.nick,
            conn.channels.join(", ")
        ));
        let mut lines = BufReader::new(read).lines();
        loop {
            if stop.load(Ordering::Relaxed) || max.is_some_and(|m| *sent >= m) {
                let _ = write.write_all(b"QUIT\r\n").await;
                return Ok(Ended::Stopped);
            }
            let line = match tokio::time::timeout(Duration::from_millis(500), lines.next_line()).await {
                Err(_) => continue,
                Ok(Ok(Some(l))) => l,
                Ok(Ok(None)) => return Ok(Ended::Reconnect("the server closed the connection".into())),
                Ok(Err(e)) => return Ok(Ended::Reconnect(format!("reading from the server failed: {e}"))),
            };
            let Some(msg) = irc::parse_line(&line) else { continue };
            match msg.command.as_str() {
                "PING" => {
                    let reply = format!("PONG :{}\r\n", msg.params.first().map_or("", String::as_str));
                    if let Err(e) = write.write_all(reply.as_bytes()).await {
                        return Ok(Ended::Reconnect(format!("cannot answer PING: {e}")));
                    }
                }
                "RECONNECT" => return Ok(Ended::Reconnect("the server asked to reconnect".into())),
                "NOTICE" if msg.params.get(1).is_some_and(|t| t.contains("Login authentication failed")) => {
                    return Err(IngestError::Config(format!("Twitch refused the login: {}", msg.params[1])));
                }
                "PRIVMSG" => {
                    if let Some((channel, json)) = irc::chat_json(&msg) {
                        loop {
                            match producer.send(BaseRecord::to(topic).key(&channel).payload(&json)) {
                                Ok(()) => break,
                                Err((rdkafka::error::KafkaError::MessageProduction(
                                    rdkafka::types::RDKafkaErrorCode::QueueFull,
                                ), _)) => {
                                    producer.poll(Duration::from_millis(50));
                                }
                                Err((e, _)) => return Err(e.into()),
                            }
                        }
                        *sent += 1;
                        producer.poll(Duration::ZERO);
                    }
                }
                _ => {}
            }
        }
    }
}
