//! The `herald` command line. Other tools script it: commands that make something print
//! only its id or token on stdout; every error is one line on stderr and a non-zero exit.

use std::{fmt, io::Read, path::PathBuf};

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use domain::{
    id::TenantId,
    service::{self, audit::Actor},
    values::{Email, Role},
};

use crate::{
    config::Settings,
    listen::{self, ListenArgs},
    startup::{self, Application, Mode},
    telemetry,
    verify::{self, VerifyArgs},
};

#[derive(Debug, Parser)]
#[command(name = "herald", version, about = "Herald: a multi-tenant webhook platform")]
pub struct Cli {
    /// Configuration file (default: ./herald.toml if it exists).
    #[arg(long, global = true, env = "HERALD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API, dashboard and worker in one process (migrates first).
    Serve,
    /// Run the API and dashboard only (scale-out; run `herald migrate` first).
    Api,
    /// Run the delivery worker only (scale-out; run `herald migrate` first).
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// Exit 0 if the Herald listening at HERALD_LISTEN (or `--url`) answers its health
    /// check, 1 otherwise; for container health checks.
    Health {
        /// Base URL to check instead of the listen address.
        #[arg(long)]
        url: Option<String>,
    },
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage dashboard users.
    #[command(subcommand)]
    User(UserCommand),
    /// Main key and signing key rotation.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Check a captured request against an endpoint's signing secret: exit 0 if it is a
    /// valid Standard Webhooks delivery, 1 (with the reason) if not.
    Verify(VerifyArgs),
    /// Forward what an inspector inbox receives to a local URL, and answer each request
    /// with the local server's status and body, until Ctrl-C.
    Listen(ListenArgs),
}

/// A command called wrongly (exit status 2, as for arguments clap refuses) rather than
/// failing at what it was asked (1).
#[derive(Debug)]
pub struct UsageError(String);

impl UsageError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print a new random key: a main key (base64 of 32 bytes), or with `--jwt` a JWT
    /// signing secret.
    Generate {
        #[arg(long)]
        jwt: bool,
    },
    /// Open every stored endpoint secret with the configured keys and count them by the
    /// main key that sealed them; changes nothing.
    Status,
    /// Re-seal every endpoint secret under HERALD_MAIN_KEY, opening old ones with
    /// HERALD_MAIN_KEY_FALLBACKS. Checks that every secret opens before changing any.
    Rotate {
        /// Secrets re-sealed per transaction.
        #[arg(long, default_value_t = service::rekey::BATCH)]
        batch_size: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant; prints only its id.
    Create {
        /// Display name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token for a tenant; prints only the token.
    Create {
        tenant_id: String,
        /// A name to recognise the token by.
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a dashboard user; prints only its id.
    Create(UserCreate),
}

#[derive(Debug, Args)]
pub struct UserCreate {
    tenant_id: String,
    email: String,
    #[arg(long, value_enum)]
    role: RoleArg,
    /// Read the password from standard input (required: passwords never go on the
    /// command line).
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum RoleArg {
    Admin,
    Viewer,
}

/// `GET /api/v1/health` over a plain TCP connection (HTTP/1.0; no TLS: the check runs
/// beside the process), so the container image needs no curl.
fn health(settings: &Settings, url: Option<&str>) -> anyhow::Result<()> {
    use std::{
        io::{Read, Write},
        net::{SocketAddr, TcpStream, ToSocketAddrs},
        time::Duration,
    };
    let target = match url {
        Some(url) => {
            let parsed = url::Url::parse(url).with_context(|| format!("`{url}` is not a URL"))?;
            if parsed.scheme() != "http" {
                bail!("only http:// URLs can be checked");
            }
            let host = parsed.host_str().context("the URL has no host")?;
            format!("{host}:{}", parsed.port_or_known_default().unwrap_or(80))
        }
        None => settings
            .listen
            .replace("0.0.0.0:", "127.0.0.1:")
            .replace("[::]:", "[::1]:"),
    };
    let address: SocketAddr = target
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {target}"))?
        .next()
        .with_context(|| format!("{target} resolves to no address"))?;
    let timeout = Duration::from_secs(3);
    let mut stream = TcpStream::connect_timeout(&address, timeout)
        .with_context(|| format!("nothing answers at {target}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(stream, "GET /api/v1/health HTTP/1.0\r\nHost: {target}\r\n\r\n")?;
    let mut answer = String::new();
    stream.take(4096).read_to_string(&mut answer)?;
    let status = answer.split_whitespace().nth(1).unwrap_or("none");
    if status != "200" {
        bail!("{target} answered its health check with status {status}");
    }
    Ok(())
}

/// The one place the CLI writes to stdout. A closed stdout (`herald serve | head -3`)
/// must not bring the process down, so write errors are ignored rather than panicking
/// as `println!` would.
pub(crate) fn emit(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Verify(args) = &cli.command {
        // A file and a key: no configuration, no database, no logs.
        return verify::run(args);
    }
    if let Command::Listen(args) = &cli.command {
        // An inbox URL and a local one: no configuration, no database, no logs.
        return listen::run(args).await;
    }
    let settings = Settings::load(cli.config.as_deref())?;
    let quiet = !matches!(cli.command, Command::Serve | Command::Api | Command::Worker);
    let format = telemetry::LogFormat::parse(&settings.log_format)?;
    telemetry::init(if quiet { "warn" } else { &settings.log }, format);

    match cli.command {
        Command::Serve => serve(&settings).await,
        Command::Api => {
            Application::build(&settings, Mode::Api)
                .await?
                .run_until_stopped()
                .await
        }
        Command::Worker => {
            let ctx = startup::context(&settings, settings.public_url.clone().unwrap_or_default()).await?;
            startup::require_migrated(&ctx.db).await?;
            let worker_settings = startup::worker_settings(&settings)?;
            let dispatcher = worker::Dispatcher::with_worker(worker_settings.concurrency);
            let ctx = startup::with_dispatcher(ctx, &dispatcher);
            let metrics = startup::worker_metrics_server(&settings, &ctx)?;
            tracing::info!(
                concurrency = worker_settings.concurrency,
                metrics = settings.metrics_listen.as_deref().unwrap_or("off"),
                "herald worker is running"
            );
            let metrics_handle = metrics.as_ref().map(actix_web::dev::Server::handle);
            if let Some(server) = metrics {
                tokio::spawn(server);
            }
            let result = worker::run(ctx, dispatcher, worker_settings, worker::signalled()).await;
            if let Some(handle) = metrics_handle {
                handle.stop(true).await;
            }
            result
        }
        Command::Health { url } => health(&settings, url.as_deref()),
        Command::Migrate => {
            let conn = startup::connect(&settings).await?;
            let applied = startup::migrate(&conn).await?;
            emit(&format!(
                "database schema is up to date ({applied} migrations applied now)"
            ));
            Ok(())
        }
        Command::Tenant(TenantCommand::Create { name }) => {
            let ctx = startup::context(&settings, String::new()).await?;
            startup::require_migrated(&ctx.db).await?;
            let tenant = service::tenant::create(&ctx, &name).await?;
            emit(tenant.id.as_str());
            Ok(())
        }
        Command::Token(TokenCommand::Create { tenant_id, name }) => {
            let tenant = TenantId::parse(&tenant_id)?;
            let ctx = startup::context(&settings, String::new()).await?;
            startup::require_migrated(&ctx.db).await?;
            let issued = service::token::create(&ctx, &tenant, &name, None, &Actor::Cli).await?;
            emit(&issued.token);
            Ok(())
        }
        Command::Keys(command) => keys(&settings, command).await,
        // Run above, before the configuration is read.
        Command::Verify(args) => verify::run(&args),
        Command::Listen(args) => listen::run(&args).await,
        Command::User(UserCommand::Create(args)) => {
            let tenant = TenantId::parse(&args.tenant_id)?;
            let email = Email::parse(&args.email)?;
            if !args.password_stdin {
                bail!("pass --password-stdin and give the password on standard input");
            }
            let password = read_password()?;
            let role = match args.role {
                RoleArg::Admin => Role::Admin,
                RoleArg::Viewer => Role::Viewer,
            };
            let ctx = startup::context(&settings, String::new()).await?;
            startup::require_migrated(&ctx.db).await?;
            let user = service::user::create(&ctx, &tenant, &email, role, password, &Actor::Cli).await?;
            emit(user.id.as_str());
            Ok(())
        }
    }
}

async fn keys(settings: &Settings, command: KeysCommand) -> anyhow::Result<()> {
    use service::rekey;
    if let KeysCommand::Generate { jwt } = command {
        emit(&if jwt {
            crate::secrets::generate_jwt_secret()?
        } else {
            domain::crypto::MainKey::generate()?.encode()
        });
        return Ok(());
    }
    let ctx = startup::context(settings, String::new()).await?;
    startup::require_migrated(&ctx.db).await?;
    if let KeysCommand::Rotate { batch_size } = command {
        let done = rekey::reseal(&ctx, batch_size).await?;
        emit(&format!(
            "re-sealed {} endpoint secrets under main key {} ({} already were)",
            done.resealed,
            ctx.keyring.current().id(),
            done.unchanged
        ));
    }
    let census = rekey::census(&ctx).await?;
    for (key, count) in &census.by_key {
        let role = if *key == census.current_key {
            "current"
        } else {
            "fallback"
        };
        emit(&format!("main key {key} ({role}): {count} endpoint secrets"));
    }
    if census.under_other_keys() == 0 {
        emit(&format!(
            "every endpoint secret is sealed under main key {}: HERALD_MAIN_KEY_FALLBACKS is not needed",
            census.current_key
        ));
    } else {
        emit(&format!(
            "{} endpoint secrets are sealed under other keys: keep HERALD_MAIN_KEY_FALLBACKS and run `herald keys rotate`",
            census.under_other_keys()
        ));
    }
    Ok(())
}

async fn serve(settings: &Settings) -> anyhow::Result<()> {
    let app = Application::build(settings, Mode::Serve).await?;
    if let Some(first) = service::bootstrap::first_run(app.context()).await? {
        emit(&format!(
            "\nHerald is set up. This is shown once; keep it somewhere safe.\n\n  \
             Dashboard:  {url}/ui\n  Login:      {email}\n  Password:   {password}\n  \
             API token:  {token}\n\n  Try it:  curl -H 'Authorization: Bearer {token}' {url}/api/v1/app\n",
            url = app.public_url(),
            email = first.email,
            password = first.password,
            token = first.token,
        ));
    }
    tracing::info!(url = %app.public_url(), "herald is listening");
    app.run_until_stopped().await
}

fn read_password() -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("reading the password from standard input")?;
    let password = input
        .strip_suffix('\n')
        .map(|p| p.strip_suffix('\r').unwrap_or(p))
        .unwrap_or(&input);
    if password.is_empty() {
        bail!("no password on standard input");
    }
    Ok(password.to_owned())
}
