//! Who a user is and where users live: the [`User`] record and the [`SessionUser`] a session
//! names, the async [`UserBackend`] that finds, creates or refuses users (Django's
//! `RemoteUserBackend`; [`KvUserBackend`] over Workers KV by default), and the [`UserStore`]
//! it reads and writes. Knows nothing of filters, requests or cookies: a backend is handed
//! what it needs of the request.

mod backend;
mod request;
mod store;
mod user;

pub use backend::{
    AllowAllUsers, Authenticated, KvUserBackend, UserBackend, DEFAULT_LAST_LOGIN_INTERVAL_SECS,
};
pub use request::BackendRequest;
pub use store::{MemoryStore, UserStore};
pub use user::{SessionUser, User, MAX_IDENTITY_LEN};
