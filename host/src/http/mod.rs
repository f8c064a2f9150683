//! The HTTP API: Python pylantir's REST API (same routes, shapes, status
//! codes and users database) without its security defects, on axum in a
//! tokio runtime of its own, beside the DICOM server.
//!
//! - [`settings`]: the configuration's `api` block and the users database path.
//! - [`users`]: the users database (Python's `users` table), bcrypt hashes.
//! - [`tokens`]: HS256 access tokens and their secret.
//! - [`limiter`]: failed-login rate limiting.
//! - [`audited`]: the audit records of API writes.
//! - [`auth`]: `POST /auth/login` and the bearer-token check of every route.
//! - [`worklist`]: `/worklist` routes.
//! - [`user_routes`]: `/users` routes.
//! - [`status_routes`]: `/sources`, `/sources/{name}/sync`, `/plugins`,
//!   `/mpps` (beyond Python).
//! - [`explain`]: `POST /explain`, why an item is (not) in a C-FIND answer.
//! - [`https`]: the HTTPS listener (`api.tls`).
//! - [`console`]: the web console's page and assets at `/`; [`console_api`]: its extra reads.
//! - [`openapi`]: `/openapi.json`, generated from the handlers, and the `/docs` page.
//! - [`input`], [`error`]: request validation and error answers, as FastAPI's.
//! - [`state`]: what the handlers share, and database connections.

pub mod audited;
pub mod auth;
pub mod console;
pub mod console_api;
pub mod error;
pub mod explain;
pub mod https;
pub mod input;
pub mod limiter;
pub mod openapi;
pub mod settings;
pub mod state;
pub mod status_routes;
pub mod tokens;
pub mod user_routes;
pub mod users;
pub mod worklist;

use crate::store::Store;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use error::ApiError;
use serde_json::json;
use settings::ApiSettings;
use state::{AppState, Pool};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};

pub use settings::Cors;

/// The largest request body accepted (413 beyond).
pub const BODY_LIMIT: usize = 64 * 1024;

/// How long a request may take before it is answered 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What the API knows beyond its databases.
#[derive(Default)]
pub struct Extras {
    /// The DICOM server's options (for `/explain`), when the configuration has them.
    pub dicom: Option<crate::dicom::ServerOptions>,
    /// The configured sources (`pylantir start` only).
    pub sources: Option<Vec<crate::config::SourceConfig>>,
    /// The `plugins list --json` document (`pylantir start` only).
    pub plugins: Option<serde_json::Value>,
    /// Where logins and writes are recorded.
    pub audit: crate::audit::Audit,
    /// Where to ask a source for a sync now (`pylantir start` only).
    pub run_now: Option<Arc<crate::sync::RunNow>>,
}

/// The running API server; dropping it does not stop it, [`ApiServer::stop`] does.
pub struct ApiServer {
    addr: SocketAddr,
    shutdown: tokio::sync::watch::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl ApiServer {
    /// The address it listens on (plain HTTP's, else HTTPS's).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets running requests finish, and returns.
    pub fn stop(self) {
        let _ = self.shutdown.send(());
        if self.thread.join().is_err() {
            log::warn!("the HTTP API thread panicked while stopping");
        }
    }
}

fn open_users(path: &std::path::Path) -> Result<rusqlite::Connection, String> {
    users::open(path).map_err(|e| format!("users database {}: {e}", path.display()))
}

/// A bound listening socket and, for HTTPS, its TLS configuration.
struct Bound {
    socket: std::net::TcpListener,
    addr: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
}

fn bind(host: &str, port: u16, tls: Option<Arc<rustls::ServerConfig>>) -> Result<Bound, String> {
    let address = format!("{host}:{port}");
    let socket = std::net::TcpListener::bind(&address)
        .map_err(|e| format!("HTTP API: cannot listen on {address}: {e}"))?;
    socket
        .set_nonblocking(true)
        .map_err(|e| format!("HTTP API: {e}"))?;
    let addr = socket.local_addr().map_err(|e| format!("HTTP API: {e}"))?;
    Ok(Bound { socket, addr, tls })
}

/// The TLS configuration of `api.tls`, offering HTTP/1.1 by ALPN.
fn https_config(block: &crate::config::tls::TlsBlock) -> Arc<rustls::ServerConfig> {
    let mut config = (*block.config).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// Opens the users database, loads the token secret, binds `settings.host`:
/// `settings.port` (plain HTTP, unless `api.tls.plain` is false) and
/// `settings.host`:`api.tls.port` (HTTPS, with `api.tls`) and serves the
/// API, on the worklist `store`, on a thread of its own.
pub fn start(settings: ApiSettings, extras: Extras, store: Store) -> Result<ApiServer, String> {
    let users_conn = open_users(&settings.users_db)?;
    let count = users::count(&users_conn)
        .map_err(|e| format!("users database {}: {e}", settings.users_db.display()))?;
    if count == 0 {
        log::warn!(
            "the users database {} has no users, so no one can log in to the HTTP API; create \
             the first admin with `pylantir admin-password --username admin` (add \
             `--pylantir_config <file>` to use this configuration's users database)",
            settings.users_db.display()
        );
    }
    auth::decoy_hash();
    let secret = tokens::load_secret(&settings.users_db)?;
    let mut listeners = Vec::new();
    if settings.plain() {
        listeners.push(bind(&settings.host, settings.port, None)?);
    }
    if let Some(https) = &settings.https {
        listeners.push(bind(&settings.host, https.port, Some(https_config(https)))?);
    }
    let addr = listeners[0].addr;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .thread_name("http-api")
        .enable_all()
        .build()
        .map_err(|e| format!("HTTP API: cannot start its runtime: {e}"))?;
    let state = Arc::new(AppState {
        keys: tokens::Keys::new(&secret),
        limiter: limiter::LoginLimiter::default(),
        store: state::Worklist::new(store),
        users: Pool::new(&settings.users_db, open_users),
        extras,
        settings,
    });
    let app = router(state);
    let (shutdown, stopped) = tokio::sync::watch::channel(());
    let urls: Vec<String> = listeners
        .iter()
        .map(|bound| {
            let scheme = if bound.tls.is_some() { "https" } else { "http" };
            format!("{scheme}://{}", bound.addr)
        })
        .collect();
    let thread = std::thread::Builder::new()
        .name("http-api".into())
        .spawn(move || {
            runtime.block_on(async move {
                let mut servers = tokio::task::JoinSet::new();
                for bound in listeners {
                    servers.spawn(serve(bound, app.clone(), stopped.clone()));
                }
                while servers.join_next().await.is_some() {}
            });
            runtime.shutdown_timeout(Duration::from_secs(2));
        })
        .map_err(|e| format!("HTTP API: cannot start its thread: {e}"))?;
    for url in urls {
        log::info!("HTTP API listening on {url}");
    }
    Ok(ApiServer {
        addr,
        shutdown,
        thread,
    })
}

/// Serves `app` on one listener until `stop` changes (or its sender is gone).
async fn serve(bound: Bound, app: Router, mut stop: tokio::sync::watch::Receiver<()>) {
    let shutdown = async move {
        let _ = stop.changed().await;
    };
    let listener = match tokio::net::TcpListener::from_std(bound.socket) {
        Ok(listener) => listener,
        Err(e) => {
            log::error!("HTTP API: {e}");
            return;
        }
    };
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let served = match bound.tls {
        None => {
            // As over TLS: no Nagle delay on the last segment of an answer
            // while the client holds back its ACK.
            let listener = listener.tap_io(|stream| {
                let _ = stream.set_nodelay(true);
            });
            axum::serve(listener, service)
                .with_graceful_shutdown(shutdown)
                .await
        }
        Some(config) => {
            let listener = match https::HttpsListener::new(listener, config) {
                Ok(listener) => listener,
                Err(e) => {
                    log::error!("HTTP API: {e}");
                    return;
                }
            };
            // Small responses go out at once; the tap also gives the
            // connection's peer address to `ConnectInfo`.
            let listener = listener.tap_io(|stream| {
                let _ = stream.get_ref().0.set_nodelay(true);
            });
            axum::serve(listener, service)
                .with_graceful_shutdown(shutdown)
                .await
        }
    };
    if let Err(e) = served {
        log::error!("HTTP API on {} stopped: {e}", bound.addr);
    }
}

/// Every route, with CORS, the body limit, the timeout and request logging.
pub fn router(state: Arc<AppState>) -> Router {
    let cors = cors_layer(&state.settings.cors);
    Router::new()
        .route("/auth/login", post(auth::login))
        .route("/worklist", get(worklist::list).post(worklist::create))
        .route(
            "/worklist/{item_id}",
            put(worklist::update).delete(worklist::delete),
        )
        .route("/worklist/{item_id}/history", get(worklist::history))
        .route("/users", get(user_routes::list).post(user_routes::create))
        .route(
            "/users/{user_id}",
            put(user_routes::update).delete(user_routes::delete),
        )
        .route("/sources", get(status_routes::sources))
        .route("/sources/{name}/sync", post(status_routes::sync_now))
        .route("/plugins", get(status_routes::plugins))
        .route("/mpps", get(status_routes::mpps))
        .route("/explain", post(explain::route))
        .route("/health", get(health))
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/docs", get(openapi::docs_page))
        .route("/", get(console::index))
        .route("/console/{asset}", get(console::asset))
        .route("/console/api/me", get(console_api::me))
        .route("/console/api/worklist", get(console_api::worklist))
        .route("/console/api/worklist/{item_id}", get(console_api::item))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(cors)
        .layer(axum::middleware::from_fn(log_request))
}

/// `GET /health`: healthy while the worklist database answers; 503 and
/// `unhealthy` (with the reason in `database`) while it does not.
#[utoipa::path(get, path = "/health", operation_id = "get_health", tag = "server",
    responses((status = 200, body = openapi::Health),
              (status = 503, body = openapi::Health)))]
async fn health(State(state): State<Arc<AppState>>) -> (StatusCode, Json<serde_json::Value>) {
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string();
    match state
        .store
        .run(|conn| Ok(conn.query_row("SELECT 1", &[])?))
        .await
    {
        Ok(_) => (
            StatusCode::OK,
            Json(json!({"status": "healthy", "timestamp": now, "database": "ok"})),
        ),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unhealthy", "timestamp": now,
                        "database": format!("unavailable: {}", unavailable(error))})),
        ),
    }
}

/// Why the database did not answer, for `/health`.
fn unavailable(error: ApiError) -> String {
    match error {
        ApiError::Internal(message) | ApiError::Status(_, message) => message,
        other => format!("{other:?}"),
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("Not Found")
}

async fn method_not_allowed() -> ApiError {
    ApiError::Status(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed".into())
}

/// One debug line per request (method, path, status, time); errors at info.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status();
    let level = if status.is_server_error() {
        log::Level::Warn
    } else {
        log::Level::Debug
    };
    log::log!(
        level,
        "HTTP {method} {path} -> {} in {:.1} ms",
        status.as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    response.into_response()
}

/// CORS as Starlette's middleware does with Python pylantir's settings; a
/// `*` entry allows anything (echoing the request when credentials are on).
fn cors_layer(cors: &Cors) -> CorsLayer {
    let star = |list: &[String]| list.iter().any(|v| v == "*");
    let origins = if star(&cors.origins) {
        AllowOrigin::mirror_request()
    } else {
        AllowOrigin::list(
            cors.origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok()),
        )
    };
    let methods = if star(&cors.methods) {
        AllowMethods::mirror_request()
    } else {
        AllowMethods::list(
            cors.methods
                .iter()
                .filter_map(|m| Method::from_bytes(m.as_bytes()).ok()),
        )
    };
    let headers = if star(&cors.headers) {
        AllowHeaders::mirror_request()
    } else {
        AllowHeaders::list(
            cors.headers
                .iter()
                .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok()),
        )
    };
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods(methods)
        .allow_headers(headers)
        .allow_credentials(cors.credentials)
}
