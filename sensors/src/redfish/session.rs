//! Redfish sessions (DSP0266, "Session login authentication"): one login (a POST of the user
//! and password to [`SESSIONS`]), then `X-Auth-Token` on every request instead of a Basic
//! login per request; a new login when the service answers 401 to the token (it expired or
//! the BMC restarted); the session deleted when the last client of it goes (the agent's
//! exit, its source given up, a one-shot command's end). Basic authentication only where the
//! service has no sessions (the login answered 404, 405 or 501). The token is never printed.
//!
//! The state here is shared by a client's clones (`http::HttpFetch`); the requests
//! themselves are the client's.

/// The session collection every Redfish service has at this URI (DSP0266).
pub const SESSIONS: &str = "/redfish/v1/SessionService/Sessions";

/// A session's token and resource. Its `Debug` never shows the token.
pub struct Token {
    /// The `X-Auth-Token` value.
    pub value: String,
    /// The session's resource (`/redfish/v1/SessionService/Sessions/1`), to delete it.
    pub at: String,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({}, ..)", self.at)
    }
}

/// What deletes a session (a request of its own, bounded).
pub type Closer = Box<dyn FnOnce(&Token) + Send>;

/// A secret as the service sent it (a token): its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// The least time between two logins after a 401 to a token: a service that answers 401 to
/// a valid token (a privilege it lacks, a proxy that drops the header) must not bring a
/// login per request and fill the BMC's session table.
pub const RELOGIN_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// A client's session state, shared by its clones; the session is deleted when it goes.
#[derive(Default)]
pub struct SessionState {
    /// The session, once logged in.
    pub token: Option<Token>,
    /// The service has no sessions: Basic authentication on every request.
    pub basic: bool,
    /// Logins so far.
    pub logins: u64,
    /// What deletes the session when the state goes (set at login).
    pub closer: Option<Closer>,
    /// When the last login after a 401 was made ([`RELOGIN_EVERY`]).
    pub relogin_at: Option<std::time::Instant>,
}

impl SessionState {
    /// After a 401 to the token: the old session ended (deleted, best effort: it may be
    /// valid and only short of a privilege) and whether to log in again now. Not when the
    /// last such login is less than [`RELOGIN_EVERY`] ago: then the token stays and the
    /// 401 is the request's answer. Returns what deletes the old session (run it without
    /// the lock).
    pub fn after_refusal(&mut self) -> Option<(Token, Option<Closer>)> {
        let now = std::time::Instant::now();
        if self
            .relogin_at
            .is_some_and(|at| now.duration_since(at) < RELOGIN_EVERY)
        {
            return None;
        }
        let token = self.token.take()?;
        self.relogin_at = Some(now);
        Some((token, self.closer.take()))
    }
}

impl std::fmt::Debug for SessionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionState")
            .field("token", &self.token)
            .field("basic", &self.basic)
            .field("logins", &self.logins)
            .field("relogin_at", &self.relogin_at)
            .finish()
    }
}

impl Drop for SessionState {
    fn drop(&mut self) {
        if let (Some(t), Some(close)) = (self.token.take(), self.closer.take()) {
            close(&t);
        }
    }
}

/// The session's resource from a login's `Location` (a path or a URL on the service),
/// when it is one under [`SESSIONS`].
pub fn session_path(location: &str) -> Option<String> {
    super::location_path(location).filter(|path| {
        path.starts_with(SESSIONS) && !path.split('/').any(|p| p == "..") && path.len() <= 512
    })
}

/// A token as the service gave it, when it can go in a header (visible ASCII, at most 512
/// bytes).
pub fn usable_token(value: &str) -> Option<String> {
    let v = value.trim();
    (!v.is_empty() && v.len() <= 512 && v.bytes().all(|b| b.is_ascii_graphic()))
        .then(|| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_and_tokens_are_checked_and_the_token_never_printed() {
        assert_eq!(
            session_path("https://10.0.0.5/redfish/v1/SessionService/Sessions/7").as_deref(),
            Some("/redfish/v1/SessionService/Sessions/7")
        );
        assert_eq!(session_path("/redfish/v1/Systems/1"), None);
        assert_eq!(
            session_path("/redfish/v1/SessionService/Sessions/../../Systems"),
            None
        );
        assert_eq!(usable_token(" abc123 ").as_deref(), Some("abc123"));
        assert_eq!(usable_token("a\r\nX-Evil: 1"), None);
        assert_eq!(usable_token(""), None);
        let t = Token {
            value: "s3cret".into(),
            at: "/redfish/v1/SessionService/Sessions/1".into(),
        };
        assert!(!format!("{t:?}").contains("s3cret"));
        let closed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let c = std::sync::Arc::clone(&closed);
        let mut st = SessionState::default();
        st.token = Some(t);
        st.closer = Some(Box::new(move |t: &Token| {
            assert_eq!(t.value, "s3cret");
            c.store(true, std::sync::atomic::Ordering::SeqCst);
        }));
        drop(st);
        assert!(
            closed.load(std::sync::atomic::Ordering::SeqCst),
            "deleted when it goes"
        );
    }
}
