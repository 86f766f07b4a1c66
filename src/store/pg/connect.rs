//! Connecting to PostgreSQL with libpq's conventions: a `postgres://` URL, the `PG*`
//! environment variables for what the URL leaves out, the password file (`~/.pgpass` or
//! `PGPASSFILE`), and `sslmode` from `disable` to `verify-full` with rustls (a root certificate
//! without a mode means `verify-full`). Inside a handler, the worker's password
//! comes from the file `DURABLY_PASSFILE` names (see `worker/passfile.rs`), never from the
//! environment.

use crate::error::CodedError;
use anyhow::Result;
use postgres::config::{Host, SslMode};
use postgres::{Client, Config, NoTls};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a connection attempt may take when neither the URL nor `PGCONNECT_TIMEOUT` says:
/// an unreachable server is an error after this, never a hang.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Dead-peer detection on every TCP connection, both ends, unless the URL sets its own
/// (`keepalives*`, `tcp_user_timeout`): a probe after 5 s of silence, then every 2 s, 3 of
/// them; and data or probes unacknowledged for 10 s end the connection. A peer that is gone
/// (a partition, a host down) is noticed within 10–15 s instead of the kernel's 2 hours; the
/// server drops the session of a client that is gone, and its locks, as soon.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(5);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(2);
const KEEPALIVE_RETRIES: u32 = 3;
const USER_TIMEOUT: Duration = Duration::from_secs(10);
/// The same for the server's end of the session (`SET` after connecting; `tcp_user_timeout`
/// exists from PostgreSQL 12 on).
const SERVER_KEEPALIVES: &str = "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; \
    SET tcp_keepalives_count = 3; SELECT set_config('tcp_user_timeout', '10000', false) \
    WHERE current_setting('server_version_num')::int >= 120000";

/// libpq's `sslmode` values; the client crate knows only the first three.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tls {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Tls {
    fn parse(text: &str) -> Result<Tls> {
        Ok(match text {
            "disable" => Tls::Disable,
            "allow" | "prefer" => Tls::Prefer,
            "require" => Tls::Require,
            "verify-ca" => Tls::VerifyCa,
            "verify-full" => Tls::VerifyFull,
            other => {
                return Err(CodedError::usage(format!(
                    "--db: sslmode {other:?} is not one of disable, prefer, require, verify-ca, verify-full"
                ))
                .into())
            }
        })
    }
}

/// A parsed connection string with the environment's defaults filled in.
pub struct Target {
    config: Config,
    tls: Tls,
    root_cert: Option<PathBuf>,
    /// `SET lock_timeout` after connecting, and `SET LOCAL` in each write (milliseconds).
    lock_timeout: Option<u128>,
    /// `host:port/dbname`, for messages (never the password).
    pub shown: String,
}

/// Parses `url` and fills what it leaves out from the `PG*` variables and the password file.
pub fn target(url: &str, busy_timeout: Duration) -> Result<Target> {
    let (rest, sslmode, root_cert) = take_tls_params(url);
    let mut config: Config = rest
        .parse()
        .map_err(|e| CodedError::usage(format!("--db: not a valid PostgreSQL URL: {e}")))?;
    fill_from_environment(&mut config)?;
    // Lock waits are bounded by --busy-timeout, as on SQLite, unless the URL's options set
    // lock_timeout themselves. Set after connecting, not as a startup option: connection
    // poolers such as PgBouncer refuse startup options they do not know.
    let lock_timeout = match config.get_options() {
        Some(o) if o.contains("lock_timeout") => None,
        _ => Some(busy_timeout.as_millis().max(1)),
    };
    let root_cert = root_cert.or_else(|| env("PGSSLROOTCERT").map(PathBuf::from));
    let tls = match sslmode.or_else(|| env("PGSSLMODE")) {
        Some(m) => Tls::parse(&m)?,
        // A root certificate given without a mode asks for checks: verify-full, as libpq
        // does for sslrootcert=system (prefer would go on in clear with a server that
        // declines TLS, password and all).
        None if root_cert.is_some() => Tls::VerifyFull,
        None => Tls::Prefer,
    };
    let root_cert = root_cert
        // As in libpq, only the verifying modes insist on a root certificate file.
        .filter(|p| matches!(tls, Tls::VerifyCa | Tls::VerifyFull) || p.exists());
    keep_alive(&mut config);
    config.ssl_mode(match tls {
        Tls::Disable => SslMode::Disable,
        Tls::Prefer => SslMode::Prefer,
        _ => SslMode::Require,
    });
    let (host, port) = first_host(&config);
    let shown = format!("{host}:{port}/{}", config.get_dbname().unwrap_or(""));
    if config.get_password().is_none() {
        // A worker's handlers: the worker's password, from the private file it made for them
        // (DURABLY_DB carries none), for the worker's own server, database and user only.
        let worker_file = std::env::var_os(PASSFILE_VAR).filter(|v| !v.is_empty());
        let from_worker =
            worker_file.and_then(|f| read_pgpass(Path::new(&f), &host, port, &config));
        if let Some(pw) = from_worker
            .or_else(|| env("PGPASSWORD"))
            .or_else(|| pgpass(&host, port, &config))
        {
            config.password(pw);
        }
    }
    Ok(Target {
        config,
        tls,
        root_cert,
        lock_timeout,
        shown,
    })
}

/// The variable naming the password file a worker makes for its handlers' own `durably`
/// commands: one line of the `~/.pgpass` format for the worker's server, database and user.
pub const PASSFILE_VAR: &str = "DURABLY_PASSFILE";

impl Target {
    /// The password file line (`host:port:dbname:user:password`) that gives this target's
    /// password to a process connecting to the same server, database and user; None without
    /// a password.
    pub fn pgpass_line(&self) -> Option<String> {
        let password = String::from_utf8(self.config.get_password()?.to_vec()).ok()?;
        if password.contains(['\n', '\r']) {
            return None; // the format has no escape for a line break
        }
        let (host, port) = first_host(&self.config);
        let escape = |f: &str| f.replace('\\', "\\\\").replace(':', "\\:");
        let fields = pgpass_key(&host, port, &self.config);
        let mut line: Vec<String> = fields.iter().map(|f| escape(f)).collect();
        line.push(escape(&password));
        Some(line.join(":"))
    }
}

/// The dead-peer detection of [`KEEPALIVE_IDLE`] and [`USER_TIMEOUT`], where the URL does
/// not set its own.
fn keep_alive(config: &mut Config) {
    if config.get_keepalives_idle() == Duration::from_secs(2 * 60 * 60) {
        config.keepalives_idle(KEEPALIVE_IDLE);
    }
    if config.get_keepalives_interval().is_none() {
        config.keepalives_interval(KEEPALIVE_INTERVAL);
    }
    if config.get_keepalives_retries().is_none() {
        config.keepalives_retries(KEEPALIVE_RETRIES);
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(USER_TIMEOUT);
    }
}

/// A non-empty environment variable.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Takes `sslmode` and `sslrootcert` out of the URL's query before the client crate parses the
/// rest: it knows neither verify-ca/verify-full nor sslrootcert.
fn take_tls_params(url: &str) -> (String, Option<String>, Option<PathBuf>) {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut kept = Vec::new();
    let mut sslmode = None;
    let mut root_cert = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "sslmode" => sslmode = Some(crate::secret::percent_decode(v)),
            "sslrootcert" => root_cert = Some(PathBuf::from(crate::secret::percent_decode(v))),
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (rest, sslmode, root_cert)
}

/// What the URL leaves out, from `PGHOST`, `PGPORT`, `PGUSER`, `PGDATABASE`, `PGAPPNAME` and
/// `PGCONNECT_TIMEOUT`, with libpq's defaults after them.
fn fill_from_environment(config: &mut Config) -> Result<()> {
    if config.get_hosts().is_empty() {
        let host = env("PGHOST").unwrap_or_else(|| "localhost".into());
        for h in host.split(',') {
            config.host(h);
        }
    }
    if config.get_ports().is_empty() {
        if let Some(port) = env("PGPORT") {
            let port: u16 = port
                .parse()
                .map_err(|_| CodedError::usage(format!("PGPORT: {port:?} is not a port")))?;
            config.port(port);
        }
    }
    if config.get_user().is_none() {
        let user = env("PGUSER")
            .or_else(|| env("USER"))
            .or_else(|| env("LOGNAME"))
            .unwrap_or_else(|| "postgres".into());
        config.user(&user);
    }
    if config.get_dbname().is_none() {
        let db = env("PGDATABASE").unwrap_or_else(|| config.get_user().unwrap_or("").to_string());
        config.dbname(&db);
    }
    if config.get_application_name().is_none() {
        config.application_name(&env("PGAPPNAME").unwrap_or_else(|| "durably".into()));
    }
    if config.get_connect_timeout().is_none() {
        let timeout = match env("PGCONNECT_TIMEOUT") {
            Some(t) => {
                let secs: u64 = t.parse().map_err(|_| {
                    CodedError::usage(format!(
                        "PGCONNECT_TIMEOUT: {t:?} is not a number of seconds"
                    ))
                })?;
                Duration::from_secs(secs.max(2))
            }
            None => DEFAULT_CONNECT_TIMEOUT,
        };
        config.connect_timeout(timeout);
    }
    Ok(())
}

impl Target {
    /// What a connection's socket leads to ([`super::watch`]): the ports of its TCP hosts,
    /// and whether one of its hosts is a Unix socket's directory.
    pub fn peers(&self) -> super::watch::Peers {
        let hosts = self.config.get_hosts();
        let mut tcp_ports: Vec<u16> = self.config.get_ports().to_vec();
        if tcp_ports.is_empty() {
            tcp_ports.push(5432);
        }
        #[cfg(unix)]
        let unix = hosts.iter().any(|h| matches!(h, Host::Unix(_)));
        #[cfg(not(unix))]
        let unix = false;
        super::watch::Peers { tcp_ports, unix }
    }
}

/// The first host and port, for messages and the password file.
fn first_host(config: &Config) -> (String, u16) {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    (host, config.get_ports().first().copied().unwrap_or(5432))
}

/// The client's connection error, with where a password can come from when the server asked
/// for one that none of the URL, `PGPASSWORD` and the password file gave.
/// Likewise a server that declines TLS when the mode demands it: nothing else was sent.
fn with_hint(text: String, tls: Tls) -> String {
    if text.contains("password missing") {
        format!("{text} (the server asks for one: give it in the URL, PGPASSWORD or ~/.pgpass)")
    } else if text.contains("server does not support TLS") {
        let mode = match tls {
            Tls::VerifyFull => "verify-full",
            Tls::VerifyCa => "verify-ca",
            _ => "require",
        };
        format!("{text} (sslmode {mode} needs TLS: nothing, no password, was sent in clear)")
    } else {
        text
    }
}

impl Target {
    /// How long a whole connect (TCP handshake, TLS, startup and authentication) may take:
    /// the connect timeout for each host to try.
    pub fn connect_bound(&self) -> Duration {
        let hosts = self.config.get_hosts().len().max(1) as u32;
        let each = self
            .config
            .get_connect_timeout()
            .copied()
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        each.saturating_mul(hosts)
    }
}

/// Connects, as one clear error naming the server when that fails.
pub fn connect(target: &Target) -> Result<Client> {
    let fail = |e: &dyn std::fmt::Display| {
        anyhow::Error::new(crate::error::Unavailable(format!(
            "cannot connect to PostgreSQL at {}: {e}",
            target.shown
        )))
    };
    // As libpq: TLS is never used over a Unix socket, whatever the sslmode (the server does
    // not offer it there).
    let unix_only = !target.config.get_hosts().is_empty()
        && target
            .config
            .get_hosts()
            .iter()
            .all(|h| !matches!(h, Host::Tcp(_)));
    let client = if unix_only {
        let mut config = target.config.clone();
        config.ssl_mode(postgres::config::SslMode::Disable);
        config.connect(NoTls)
    } else if target.tls == Tls::Disable {
        target.config.connect(NoTls)
    } else {
        let connector = tls::connector(target.tls, target.root_cert.as_deref())?;
        target.config.connect(connector)
    };
    client.map_err(|e| {
        super::admission::mark(fail(&with_hint(super::error_text(&e), target.tls)), &e)
    })
}

impl Target {
    /// The statements that set the session up after connecting (`SET lock_timeout`, the
    /// server's keepalives), each followed by `; `, or nothing: sent with the schema check in
    /// its one round trip (`schema::prepare`), or by [`Target::set_up`].
    pub fn setup(&self) -> String {
        let mut setup = String::new();
        if let Some(ms) = self.lock_timeout {
            setup = format!("SET lock_timeout = {ms}; ");
        }
        if self.config.get_keepalives() {
            setup.push_str(SERVER_KEEPALIVES);
            setup.push_str("; ");
        }
        setup
    }

    /// Sends [`Target::setup`] alone (a connection whose schema was checked by another).
    pub fn set_up(&self, client: &mut Client) -> Result<()> {
        let setup = self.setup();
        if setup.is_empty() {
            return Ok(());
        }
        client.batch_execute(&setup).map_err(|e| {
            anyhow::Error::new(crate::error::Unavailable(format!(
                "cannot connect to PostgreSQL at {}: {}",
                self.shown,
                super::error_text(&e)
            )))
        })
    }

    /// The bound on lock waits (milliseconds) a write sets for its own transaction
    /// (`SET LOCAL`), or None when the URL's options set `lock_timeout` themselves.
    pub fn lock_timeout(&self) -> Option<u128> {
        self.lock_timeout
    }
}

/// TLS in pure Rust (rustls with ring), statically linked and set up only when a connection
/// asks for it: nothing of it is loaded or initialised by a process on a SQLite file.
/// What is checked follows libpq's `sslmode`:
///
/// - `prefer`, `require` without a root certificate: encrypted, the certificate not checked;
/// - `prefer`, `require` with a root certificate file that exists, and `verify-ca`: the chain
///   up to a trusted root, not the host name;
/// - `verify-full`: the chain and the host name.
///
/// The trusted roots are the certificates of `sslrootcert` (PEM, one or more), else the
/// system's (`SSL_CERT_FILE`, `SSL_CERT_DIR`, else the distribution's bundle, read by
/// rustls-native-certs when a verifying mode first needs them). The handshake's signatures are
/// checked in every mode, and the server's certificate is offered to SCRAM's channel binding
/// (`tls-server-end-point`) as native TLS did.
mod tls {
    use super::Tls;
    use anyhow::{anyhow, Context as _, Result};
    use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
    use ring::digest::{self, SHA256, SHA384, SHA512};
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::client::{verify_server_cert_signed_by_trust_anchor, WebPkiServerVerifier};
    use rustls::crypto::{
        verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms,
    };
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::server::ParsedCertificate;
    use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
    use std::future::Future;
    use std::path::Path;
    use std::pin::Pin;
    use std::sync::{Arc, OnceLock};
    use std::task::{Context, Poll};
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    use tokio_rustls::TlsConnector;

    /// The connector for `mode`, trusting the certificates of `root_cert` (else the system's).
    pub(super) fn connector(mode: Tls, root_cert: Option<&Path>) -> Result<MakeConnect> {
        Ok(MakeConnect(Arc::new(client_config(mode, root_cert)?)))
    }

    /// The client side of TLS for `mode`: the checks of the server's certificate.
    fn client_config(mode: Tls, root_cert: Option<&Path>) -> Result<ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let algorithms = provider.signature_verification_algorithms;
        let verifier: Arc<dyn ServerCertVerifier> = match (mode, root_cert) {
            // libpq's require without a root certificate: encrypted, not verified.
            (Tls::Prefer | Tls::Require, None) => Arc::new(Verifier {
                roots: None,
                algorithms,
            }),
            (Tls::Prefer | Tls::Require | Tls::VerifyCa, _) => Arc::new(Verifier {
                roots: Some(roots(root_cert)?),
                algorithms,
            }),
            _ => {
                let roots = roots(root_cert)?;
                if roots.is_empty() {
                    // No root at all (a system without a CA bundle): every certificate fails
                    // the chain at the handshake, a connection error as with OpenSSL.
                    Arc::new(Verifier {
                        roots: Some(roots),
                        algorithms,
                    })
                } else {
                    WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                        .build()
                        .map_err(|e| anyhow!("cannot set up TLS: {e}"))?
                }
            }
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| anyhow!("cannot set up TLS: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(config)
    }

    /// The trusted roots: every certificate of the PEM file at `file`, else the system's.
    fn roots(file: Option<&Path>) -> Result<Arc<RootCertStore>> {
        let Some(path) = file else {
            return Ok(system_roots());
        };
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read sslrootcert {}", path.display()))?;
        let not_pem = || anyhow!("sslrootcert {} is not a PEM certificate", path.display());
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| not_pem().context(e.to_string()))?;
        if certs.is_empty() {
            return Err(not_pem());
        }
        let mut store = RootCertStore::empty();
        for cert in certs {
            store
                .add(cert)
                .map_err(|e| not_pem().context(e.to_string()))?;
        }
        Ok(Arc::new(store))
    }

    /// The system's trusted roots, read once per process (a worker reconnects); certificates
    /// that do not parse are skipped, as OpenSSL does.
    fn system_roots() -> Arc<RootCertStore> {
        static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
        ROOTS
            .get_or_init(|| {
                let mut store = RootCertStore::empty();
                store.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
                Arc::new(store)
            })
            .clone()
    }

    /// The checks of `prefer`/`require` (none, or the chain with a root certificate) and of
    /// `verify-ca` (the chain): never the host name.
    #[derive(Debug)]
    struct Verifier {
        /// None: the certificate is not checked.
        roots: Option<Arc<RootCertStore>>,
        algorithms: WebPkiSupportedAlgorithms,
    }

    impl ServerCertVerifier for Verifier {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            if let Some(roots) = &self.roots {
                let cert = ParsedCertificate::try_from(end_entity)?;
                verify_server_cert_signed_by_trust_anchor(
                    &cert,
                    roots,
                    intermediates,
                    now,
                    self.algorithms.all,
                )?;
            }
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(message, cert, dss, &self.algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(message, cert, dss, &self.algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.algorithms.supported_schemes()
        }
    }

    /// `MakeTlsConnect` over rustls for the client crate: the server name for each host, the
    /// handshake (tokio-rustls), and the certificate's hash for channel binding.
    #[derive(Clone)]
    pub(super) struct MakeConnect(Arc<ClientConfig>);

    impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> MakeTlsConnect<S> for MakeConnect {
        type Stream = Stream<S>;
        type TlsConnect = Connect;
        type Error = rustls::pki_types::InvalidDnsNameError;

        fn make_tls_connect(&mut self, host: &str) -> Result<Connect, Self::Error> {
            // A Unix socket's directory among TCP hosts: no name to check (the server does not
            // offer TLS there, so `prefer` goes on in clear).
            let host = if host.starts_with('/') {
                "localhost"
            } else {
                host
            };
            Ok(Connect {
                name: ServerName::try_from(host)?.to_owned(),
                config: self.0.clone(),
            })
        }
    }

    pub(super) struct Connect {
        name: ServerName<'static>,
        config: Arc<ClientConfig>,
    }

    impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> TlsConnect<S> for Connect {
        type Stream = Stream<S>;
        type Error = std::io::Error;
        type Future = Pin<Box<dyn Future<Output = std::io::Result<Stream<S>>> + Send>>;

        fn connect(self, stream: S) -> Self::Future {
            let handshake = TlsConnector::from(self.config).connect(self.name, stream);
            Box::pin(async move { Ok(Stream(handshake.await?)) })
        }
    }

    pub(super) struct Stream<S>(tokio_rustls::client::TlsStream<S>);

    impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for Stream<S> {
        /// `tls-server-end-point` (RFC 5929): the hash of the server's certificate, which SCRAM
        /// binds the password exchange to, so that a relay in the middle cannot pass it on.
        fn channel_binding(&self) -> ChannelBinding {
            let certs = self.0.get_ref().1.peer_certificates();
            match certs
                .and_then(|c| c.first())
                .and_then(|c| end_point_hash(c))
            {
                Some(hash) => ChannelBinding::tls_server_end_point(hash),
                None => ChannelBinding::none(),
            }
        }
    }

    impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<S> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.0).poll_read(cx, buf)
        }
    }

    impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<S> {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            Pin::new(&mut self.0).poll_write(cx, buf)
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.0).poll_flush(cx)
        }

        fn poll_shutdown(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.0).poll_shutdown(cx)
        }
    }

    /// The hash of a certificate for `tls-server-end-point`: that of its signature algorithm,
    /// SHA-256 for MD5 and SHA-1 (RFC 5929, 4.1); None for an algorithm without one (Ed25519)
    /// or a certificate that does not parse, as libpq.
    fn end_point_hash(cert: &[u8]) -> Option<Vec<u8>> {
        // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE, signatureAlgorithm SEQUENCE {
        // algorithm OBJECT IDENTIFIER, … }, … }
        let (body, _) = der(cert, 0x30)?;
        let (_tbs, rest) = der(body, 0x30)?;
        let (algorithm, _) = der(rest, 0x30)?;
        let (oid, _) = der(algorithm, 0x06)?;
        let digest = match oid {
            // md5WithRSAEncryption, sha1WithRSAEncryption, sha256WithRSAEncryption
            [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x04 | 0x05 | 0x0b] => &SHA256,
            // sha384WithRSAEncryption, sha512WithRSAEncryption
            [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c] => &SHA384,
            [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d] => &SHA512,
            // ecdsa-with-SHA1; ecdsa-with-SHA256, -SHA384, -SHA512
            [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01] => &SHA256,
            [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02] => &SHA256,
            [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03] => &SHA384,
            [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04] => &SHA512,
            _ => return None,
        };
        Some(digest::digest(digest, cert).as_ref().to_vec())
    }

    /// The contents of the DER value at the start of `input` if its tag is `tag`, and what
    /// follows it.
    fn der(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        let (&first, rest) = input.split_first()?;
        let (&len, rest) = rest.split_first()?;
        if first != tag {
            return None;
        }
        let (len, rest) = match len {
            0..=0x7f => (usize::from(len), rest),
            0x81..=0x84 => {
                let n = usize::from(len & 0x7f);
                let bytes = rest.get(..n)?;
                let len = bytes.iter().fold(0usize, |a, b| a << 8 | usize::from(*b));
                (len, &rest[n..])
            }
            _ => return None,
        };
        (len <= rest.len()).then(|| rest.split_at(len))
    }

    #[cfg(test)]
    mod tests {
        //! Handshakes in memory against a rustls server with a certificate for `db.test` from
        //! the test CA (certificates valid until 2126; the key serves these tests only).
        use super::*;
        use rustls::pki_types::PrivateKeyDer;
        use rustls::{ClientConnection, ServerConfig, ServerConnection};

        const CA: &str = "-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUF2Ft3njFSNX002nfGOrD/3xp8scwCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPZHVyYWJseSB0ZXN0IENBMCAXDTI2MTIwMzEyMjQxM1oYDzIx
MjYxMTA5MTIyNDEzWjAaMRgwFgYDVQQDDA9kdXJhYmx5IHRlc3QgQ0EwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAASXi9yQqxhQT6mWN5R0r0lDi+6We9aDgwPez+7f
mpupGLepSpNN4lqrxfBefnQf/6qupislvb5bJVmhH3ewYdjFo2MwYTAdBgNVHQ4E
FgQUfI38t1bziHQ+GHGYtmnsRsZg+BQwHwYDVR0jBBgwFoAUfI38t1bziHQ+GHGY
tmnsRsZg+BQwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAgQwCgYIKoZI
zj0EAwIDSAAwRQIhAPb7CJN6SwuiNjk0rpKg17FymGnef9jSLclVCTFPzc36AiBC
sm0/OJjHHeJT2Jm/O8nWVHIvB8lBJXTeSdThqi+zRQ==
-----END CERTIFICATE-----
";
        const OTHER_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBjjCCATOgAwIBAgIUHsDm53MGDtlsbGnFGbp7pXVTSOcwCgYIKoZIzj0EAwIw
GzEZMBcGA1UEAwwQZHVyYWJseSBvdGhlciBDQTAgFw0yNjEyMDMxMjI0MTNaGA8y
MTI2MTEwOTEyMjQxM1owGzEZMBcGA1UEAwwQZHVyYWJseSBvdGhlciBDQTBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABKaHDkV+IRuxSJFxDcMkgqw+JtjfixwqpQV9
sP/Xm3DYFKEtWb/QUpqpBCJflcT5bvJG6pDdl4MM2mxq4XFL2wSjUzBRMB0GA1Ud
DgQWBBSEdG3Q4qmqK2SSTNY+mP+5zRpHyTAfBgNVHSMEGDAWgBSEdG3Q4qmqK2SS
TNY+mP+5zRpHyTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQDL
aMVH7qG5BKh8Il6uYstdKWNUSDWKmMHF8kSKr4JGagIhAJS/USAc/7YaxYo1yYlG
qmciCHnnhrA5UmDGr0dQSnRK
-----END CERTIFICATE-----
";
        const SERVER_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBtDCCAVugAwIBAgIUWD+DT4OCJ3994gWmGc/s2SHgUIowCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPZHVyYWJseSB0ZXN0IENBMCAXDTI2MTIwMzEyMjQxM1oYDzIx
MjYxMTA5MTIyNDEzWjASMRAwDgYDVQQDDAdkYi50ZXN0MFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAEnV4HqD1OAhex10JyY6yIpFgjBMTgqQeYwGVpmdaOAmHzYw9Z
1KJBwnwuNe8oGj4PygHoyP6eyw0WNZtDet9XaaOBhDCBgTASBgNVHREECzAJggdk
Yi50ZXN0MAkGA1UdEwQCMAAwCwYDVR0PBAQDAgeAMBMGA1UdJQQMMAoGCCsGAQUF
BwMBMB0GA1UdDgQWBBToyf1QtBchCOpxVYvrbHPidy2BjDAfBgNVHSMEGDAWgBR8
jfy3VvOIdD4YcZi2aexGxmD4FDAKBggqhkjOPQQDAgNHADBEAiBhwFpxAyO3Dy7c
8tfzKVplZoZPmVXxqHjl52ErR3CSiwIgSpEAhaipLj6COLJJ/zDGe1YhmUfw03xf
n/XkfqoVXv0=
-----END CERTIFICATE-----
";
        const SERVER_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgLL2Oag/Ytjf95t0Z
5R9xrToVC1CmvVAIDr/KhzFxkE6hRANCAASdXgeoPU4CF7HXQnJjrIikWCMExOCp
B5jAZWmZ1o4CYfNjD1nUokHCfC417ygaPg/KAejI/p7LDRY1m0N631dp
-----END PRIVATE KEY-----
";

        /// A handshake with the server as `name`, the client in `mode` trusting `roots` (PEM).
        fn handshake(mode: Tls, roots: Option<&str>, name: &str) -> Result<(), String> {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("root.pem");
            if let Some(pem) = roots {
                std::fs::write(&file, pem).unwrap();
            }
            let client = client_config(mode, roots.map(|_| file.as_path())).unwrap();
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let server = ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(
                    vec![CertificateDer::from_pem_slice(SERVER_CERT.as_bytes()).unwrap()],
                    PrivateKeyDer::from_pem_slice(SERVER_KEY.as_bytes()).unwrap(),
                )
                .unwrap();
            let name = ServerName::try_from(name.to_string()).unwrap();
            let mut c = ClientConnection::new(Arc::new(client), name).unwrap();
            let mut s = ServerConnection::new(Arc::new(server)).unwrap();
            for _ in 0..10 {
                let mut wire = Vec::new();
                while c.wants_write() {
                    c.write_tls(&mut wire).unwrap();
                }
                s.read_tls(&mut wire.as_slice()).unwrap();
                s.process_new_packets()
                    .map_err(|e| format!("server: {e}"))?;
                wire.clear();
                while s.wants_write() {
                    s.write_tls(&mut wire).unwrap();
                }
                c.read_tls(&mut wire.as_slice()).unwrap();
                c.process_new_packets().map_err(|e| e.to_string())?;
                if !c.is_handshaking() && !s.is_handshaking() {
                    return Ok(());
                }
            }
            Err("the handshake did not end".into())
        }

        #[test]
        fn require_and_prefer_without_a_root_check_nothing() {
            for mode in [Tls::Prefer, Tls::Require] {
                handshake(mode, None, "db.test").unwrap();
                handshake(mode, None, "elsewhere.test").unwrap();
            }
        }

        #[test]
        fn require_with_a_root_and_verify_ca_check_the_chain_not_the_name() {
            for mode in [Tls::Prefer, Tls::Require, Tls::VerifyCa] {
                handshake(mode, Some(CA), "elsewhere.test").unwrap();
                let e = handshake(mode, Some(OTHER_CA), "db.test").unwrap_err();
                assert!(e.contains("UnknownIssuer"), "{mode:?}: {e}");
            }
        }

        #[test]
        fn verify_full_checks_the_chain_and_the_name() {
            handshake(Tls::VerifyFull, Some(CA), "db.test").unwrap();
            let e = handshake(Tls::VerifyFull, Some(CA), "elsewhere.test").unwrap_err();
            assert!(e.contains("not valid for name"), "{e}");
            let e = handshake(Tls::VerifyFull, Some(OTHER_CA), "db.test").unwrap_err();
            assert!(e.contains("UnknownIssuer"), "{e}");
            // Every certificate of the file is a root, as in libpq.
            let bundle = format!("{OTHER_CA}{CA}");
            handshake(Tls::VerifyFull, Some(&bundle), "db.test").unwrap();
        }

        #[test]
        fn channel_binding_hashes_the_certificate_with_its_signature_hash() {
            let cert = CertificateDer::from_pem_slice(SERVER_CERT.as_bytes()).unwrap();
            // ecdsa-with-SHA256: SHA-256 of the whole DER certificate.
            let hash = end_point_hash(&cert).unwrap();
            assert_eq!(hash, digest::digest(&SHA256, &cert).as_ref());
            // Another algorithm (the OID's last byte changed to an unknown one): no binding.
            let mut other = cert.to_vec();
            let oid = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
            let at = other.windows(8).rposition(|w| w == oid).unwrap();
            other[at + 7] = 0x7f;
            assert_eq!(end_point_hash(&other), None);
            assert_eq!(end_point_hash(&cert[..40]), None);
        }

        #[test]
        fn a_root_file_without_a_certificate_is_refused() {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("root.pem");
            std::fs::write(&file, "not a certificate").unwrap();
            let e = client_config(Tls::VerifyCa, Some(&file)).unwrap_err();
            assert!(
                format!("{e:#}").contains("is not a PEM certificate"),
                "{e:#}"
            );
            let e = client_config(Tls::VerifyCa, Some(&dir.path().join("none"))).unwrap_err();
            assert!(
                format!("{e:#}").contains("cannot read sslrootcert"),
                "{e:#}"
            );
        }
    }
}

/// The password of the first matching line of the password file (`PGPASSFILE`, else
/// `~/.pgpass`): `host:port:database:user:password`, `*` matching anything, `\` escaping `:`
/// and `\`. Like libpq, a file that group or others can read is ignored.
fn pgpass(host: &str, port: u16, config: &Config) -> Option<String> {
    let path = match std::env::var_os("PGPASSFILE").filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => Path::new(&std::env::var_os("HOME")?).join(".pgpass"),
    };
    read_pgpass(&path, host, port, config)
}

/// What a password file line must match: host (a socket directory counts as `localhost`),
/// port, database, user.
fn pgpass_key(host: &str, port: u16, config: &Config) -> [String; 4] {
    let host = if host.starts_with('/') {
        "localhost"
    } else {
        host
    };
    [
        host.to_string(),
        port.to_string(),
        config.get_dbname().unwrap_or("").to_string(),
        config.get_user().unwrap_or("").to_string(),
    ]
}

/// The password of the first line of the password file at `path` that matches.
fn read_pgpass(path: &Path, host: &str, port: u16, config: &Config) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).ok()?;
        if !meta.is_file() || meta.mode() & 0o077 != 0 {
            return None;
        }
    }
    let text = std::fs::read_to_string(path).ok()?;
    let wanted = pgpass_key(host, port, config);
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let fields = split_pgpass(line);
            if fields.len() < 5 {
                return None;
            }
            let matches = fields[..4]
                .iter()
                .zip(&wanted)
                .all(|(f, w)| f == "*" || f == w);
            matches.then(|| fields[4].clone())
        })
}

fn split_pgpass(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(n), Some(f)) = (chars.next(), fields.last_mut()) {
                    f.push(n);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => {
                if let Some(f) = fields.last_mut() {
                    f.push(c);
                }
            }
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::Tls;

    #[test]
    fn a_missing_password_says_where_one_comes_from() {
        let hinted = super::with_hint(
            "invalid configuration: password missing".into(),
            Tls::Prefer,
        );
        assert!(hinted.contains("PGPASSWORD or ~/.pgpass"), "{hinted}");
        assert_eq!(
            super::with_hint("Connection refused".into(), Tls::Prefer),
            "Connection refused"
        );
    }

    use super::*;

    #[test]
    fn pgpass_lines_split_on_unescaped_colons() {
        assert_eq!(
            split_pgpass(r"db\:1:5432:*:me:pa\:ss:x"),
            vec!["db:1", "5432", "*", "me", "pa:ss:x"]
        );
    }

    #[test]
    fn every_connection_detects_a_dead_peer_unless_the_url_says_otherwise() {
        let t = target("postgres://u@h/db", Duration::from_secs(1)).unwrap();
        assert_eq!(t.config.get_keepalives_idle(), KEEPALIVE_IDLE);
        assert_eq!(t.config.get_keepalives_interval(), Some(KEEPALIVE_INTERVAL));
        assert_eq!(t.config.get_keepalives_retries(), Some(KEEPALIVE_RETRIES));
        assert_eq!(t.config.get_tcp_user_timeout(), Some(&USER_TIMEOUT));
        // The client crate reads tcp_user_timeout in seconds (libpq: milliseconds).
        let url = "postgres://u@h/db?keepalives_idle=60&tcp_user_timeout=30";
        let t = target(url, Duration::from_secs(1)).unwrap();
        assert_eq!(t.config.get_keepalives_idle(), Duration::from_secs(60));
        assert_eq!(
            t.config.get_tcp_user_timeout(),
            Some(&Duration::from_secs(30))
        );
        // The whole connect is bounded by the connect timeout of each host.
        let t = target(
            "postgres://u@a,b/db?connect_timeout=3",
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(t.connect_bound(), Duration::from_secs(6));
    }

    #[test]
    fn percent_escapes_decode() {
        assert_eq!(
            crate::secret::percent_decode("%2Ftmp%2Fca.pem"),
            "/tmp/ca.pem"
        );
        assert_eq!(crate::secret::percent_decode("a%2"), "a%2");
        // A `%` before a multi-byte character is kept, never sliced through.
        assert_eq!(crate::secret::percent_decode("%a\u{e9}"), "%a\u{e9}");
    }
}
