//! What the handlers share: settings, token keys, the login limiter and a
//! few open connections to each database, used off the async threads.

use super::error::ApiError;
use super::limiter::LoginLimiter;
use super::settings::ApiSettings;
use super::tokens::Keys;
use super::Extras;
use crate::store::{Db, Store};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Idle connections kept per database.
const IDLE_CONNECTIONS: usize = 8;

/// Connections to one SQLite file (the users database), reused between requests.
pub struct Pool {
    path: PathBuf,
    open: fn(&Path) -> Result<Connection, String>,
    idle: Mutex<Vec<Connection>>,
}

impl Pool {
    /// A pool that opens `path` with `open` when no idle connection is left.
    pub fn new(path: &Path, open: fn(&Path) -> Result<Connection, String>) -> Arc<Pool> {
        Arc::new(Pool {
            path: path.to_path_buf(),
            open,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Runs `work` with a connection on a blocking thread.
    pub async fn run<T, F>(self: &Arc<Self>, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, ApiError> + Send + 'static,
    {
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let idle = pool.idle.lock().ok().and_then(|mut idle| idle.pop());
            let mut conn = match idle {
                Some(conn) => conn,
                None => (pool.open)(&pool.path).map_err(ApiError::Internal)?,
            };
            let result = work(&mut conn);
            if let Ok(mut idle) = pool.idle.lock() {
                if idle.len() < IDLE_CONNECTIONS {
                    idle.push(conn);
                }
            }
            result
        })
        .await
        .map_err(|e| ApiError::Internal(format!("database task failed: {e}")))?
    }
}

/// The worklist database, used off the async threads.
pub struct Worklist {
    store: Store,
}

impl Worklist {
    /// The worklist `store`, for the handlers.
    pub fn new(store: Store) -> Worklist {
        Worklist { store }
    }

    /// Runs `work` with a connection on a blocking thread.
    pub async fn run<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T, ApiError> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let conn = store.get().map_err(|e| ApiError::Internal(e.to_string()))?;
            work(&*conn)
        })
        .await
        .map_err(|e| ApiError::Internal(format!("database task failed: {e}")))?
    }
}

/// The state every handler sees.
pub struct AppState {
    pub settings: ApiSettings,
    pub keys: Keys,
    pub limiter: LoginLimiter,
    /// The worklist database.
    pub store: Worklist,
    /// The users database.
    pub users: Arc<Pool>,
    /// What only a full server has (sources, plugins).
    pub extras: Extras,
}
