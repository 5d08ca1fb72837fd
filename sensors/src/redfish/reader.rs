//! The steady-state Redfish reader: each sweep reads every resource its items live in once
//! (a deprecated `Thermal` holds all its temperatures and fans: one request), in as few GETs
//! as the service allows ([`super::plan`]: a collection at once, expanded, where the service
//! says it expands; an answer lacking a resource has it read alone), maps them
//! ([`super::map::resource`]) and answers each item's reading from what came back.
//!
//! What a reading is (pure, [`reading_of`]): a supply `Health: Critical` fails it, another
//! health keeps it good; a redundancy group `Critical` or `Warning` is lost; a fan
//! `Health: Critical` fails it whatever it last read; otherwise the reading's value; no
//! value, or a resource that did not answer, is unreadable. `State: Absent` (or `Disabled`,
//! `UnavailableOffline`) is the evidence of absence ([`RedfishReader::not_in_use`]).

use super::plan::{Features, Get, plan};
use super::{Fetch, RfError, RfResource, RfSensor, map};
use envmon_core::engine::Reading;
use std::collections::BTreeMap;

/// `Status.State` values that say the part is not there or not in use: the evidence an
/// optional item is absent (`Absent`; `Disabled`, as DMTF's tower says of its second CPU's
/// temperature; `UnavailableOffline`, as its smart-NIC server says of a redundancy group
/// with one supply fitted).
pub const NOT_IN_USE: &[&str] = &["Absent", "Disabled", "UnavailableOffline"];

/// A Redfish sensor's reading (see the module docs).
pub fn reading_of(s: &RfSensor) -> Reading {
    let health = s.health.as_deref();
    if s.state
        .as_deref()
        .is_some_and(|st| NOT_IN_USE.contains(&st))
    {
        return Reading::Unreadable;
    }
    match s.resource {
        RfResource::PowerSupply => match health {
            Some("Critical") => Reading::Bad,
            _ => Reading::Good,
        },
        RfResource::SupplyRedundancy => match health {
            Some("Critical" | "Warning") => Reading::Bad,
            Some(_) => Reading::Good,
            None => Reading::Unreadable,
        },
        RfResource::Fan | RfResource::ThermalFan if health == Some("Critical") => Reading::Bad,
        _ => s.reading.map_or(Reading::Unreadable, Reading::Value),
    }
}

/// The resource a sensor's URI lives in (the URI without its JSON pointer).
fn document(uri: &str) -> &str {
    uri.split('#').next().unwrap_or(uri)
}

/// The resources to GET, once each: each group (the urgent, the rest) in its order, those
/// `behind` (left unread last time) first within it, so that a service too slow for all of
/// them still has each read in turn.
fn in_turn(behind: &[String], groups: [Vec<&str>; 2]) -> Vec<String> {
    let mut docs: Vec<String> = Vec::new();
    for group in groups {
        let first = behind
            .iter()
            .map(String::as_str)
            .filter(|d| group.contains(d));
        for d in first.chain(group.iter().copied()) {
            if !docs.iter().any(|x| x == d) {
                docs.push(d.to_string());
            }
        }
    }
    docs
}

/// Reads a service's sensors, one sweep at a time.
pub struct RedfishReader {
    fetch: Box<dyn Fetch + Send>,
    last: BTreeMap<String, RfSensor>,
    /// The last sweep's failures (one per resource), for the log.
    pub errors: Vec<RfError>,
    /// Resources that answered 503 or 429 with `Retry-After`: no request for each before its
    /// time (ms, the caller's clock). Only the resource that asked is held (issue 33: a busy
    /// `Power` must not blind the sweep to `Thermal`).
    held: BTreeMap<String, u64>,
    /// Resources the last refresh left unread because the turn's budget was spent: read
    /// first (after the urgent ones) at the next.
    behind: Vec<String>,
    /// How long the last answered batch of GETs took: a batch the turn's budget has no room
    /// for is not started (an abandoned request would still hold the BMC).
    took: std::time::Duration,
    /// What the service's root says it can do (`$expand`, several requests at once).
    features: Features,
    /// The paths the service does not expand, found out: a resource an expansion of one
    /// lacked (or that it refused) read alone ([`super::plan::plan`]'s `not`).
    not: Vec<String>,
}

/// Whether an expanded GET's error may say the service does not expand it (a status, an
/// answer too large or not JSON; its resources are then read alone, and when they read, the
/// path is not expanded again), rather than what any request would meet (busy, the user
/// refused, no answer).
fn refuses_expansion(e: &RfError) -> bool {
    matches!(
        e.kind,
        super::RfErrorKind::Status(400 | 404 | 405 | 406 | 500 | 501)
            | super::RfErrorKind::TooLarge
            | super::RfErrorKind::NotJson
    )
}

/// The longest `Retry-After` honoured (a hostile service must not silence the agent).
pub const MAX_RETRY_AFTER_MS: u64 = 60_000;

impl std::fmt::Debug for RedfishReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedfishReader")
            .field("sensors", &self.last.len())
            .field("errors", &self.errors)
            .finish()
    }
}

impl RedfishReader {
    /// A reader over `fetch`.
    pub fn new(fetch: Box<dyn Fetch + Send>) -> RedfishReader {
        RedfishReader {
            fetch,
            last: BTreeMap::new(),
            errors: Vec::new(),
            held: BTreeMap::new(),
            behind: Vec::new(),
            took: std::time::Duration::ZERO,
            features: Features::default(),
            not: Vec::new(),
        }
    }

    /// The reader of a service that can do what `features` says ([`super::plan::features`]
    /// of its root): several resources in one GET where it expands, one request at a time
    /// where it says so.
    pub fn with_features(mut self, features: Features) -> RedfishReader {
        self.features = features;
        self
    }

    /// GETs every resource of `uris` once at `now_ms` and keeps what they say; a resource
    /// that fails leaves its sensors unreadable this sweep. A resource that asks to be left
    /// alone (503 or 429 with `Retry-After`, at most [`MAX_RETRY_AFTER_MS`]) gets no request
    /// until then, and its sensors are unreadable meanwhile; the others are read on time.
    pub fn refresh<'a>(&mut self, uris: impl IntoIterator<Item = &'a str>, now_ms: u64) {
        self.refresh_urgent_first(uris, [], now_ms);
    }

    /// [`RedfishReader::refresh`] in an order that keeps the protection first when the
    /// turn's time budget runs out ([`Fetch::left`]): the resources of `urgent`, then those
    /// the last refresh left unread, then the rest of `rest`. A resource not reached in time
    /// is unread this sweep (an error that says so), and read early at the next.
    pub fn refresh_urgent_first<'a>(
        &mut self,
        urgent: impl IntoIterator<Item = &'a str>,
        rest: impl IntoIterator<Item = &'a str>,
        now_ms: u64,
    ) {
        let behind = std::mem::take(&mut self.behind);
        let docs = in_turn(
            &behind,
            [
                urgent.into_iter().map(document).collect(),
                rest.into_iter().map(document).collect(),
            ],
        );
        // A call for a few (a confirming read) leaves the others' place in the queue.
        self.behind = behind.into_iter().filter(|d| !docs.contains(d)).collect();
        self.last.clear();
        self.errors.clear();
        // Bounded by the resources the items live in (only those are asked); a hold ends at
        // its time, whatever this call asks.
        self.held.retain(|_, until| now_ms < *until);
        let mut asked = 0;
        let mut gets: std::collections::VecDeque<Get> =
            plan(&docs, self.features.expand, &self.not).into();
        // Resources an expanded answer lacked, read alone next, and the path that lacked them.
        let mut lacked: Vec<(String, String)> = Vec::new();
        let in_flight = if self.features.one_at_a_time {
            1
        } else {
            self.fetch.in_flight().max(1)
        };
        while !gets.is_empty() {
            // The next GETs, as many at once as the client has in flight.
            let mut batch = Vec::new();
            while batch.len() < in_flight {
                let Some(g) = gets.pop_front() else { break };
                if self.may_ask(&g, asked, now_ms) {
                    batch.push(g);
                }
            }
            if batch.is_empty() {
                continue;
            }
            asked += batch.len();
            let started = std::time::Instant::now();
            let paths: Vec<&str> = batch.iter().map(|g| g.path.as_str()).collect();
            let answers = self.fetch.get_many(&paths);
            if answers.iter().any(Result::is_ok) {
                self.took = started.elapsed();
            }
            // What the batch leaves to read alone goes next, in the batch's order.
            let mut again = Vec::new();
            for (g, got) in batch.into_iter().zip(answers) {
                again.extend(self.take(g, got, &mut lacked, now_ms));
            }
            for d in again.into_iter().rev() {
                gets.push_front(Get::plain(&d));
            }
        }
    }

    /// What one GET brought: its resources kept, or its error (and the hold it asks for).
    /// Returns the resources to read alone next: those an expanded answer lacks, or all of
    /// an expansion that failed as a refusal might (noted in `lacked` with the path); a
    /// resource read alone after its expansion lacked it marks that path not expanded.
    fn take(
        &mut self,
        g: Get,
        got: Result<serde_json::Value, RfError>,
        lacked: &mut Vec<(String, String)>,
        now_ms: u64,
    ) -> Vec<String> {
        let lacking = match got {
            Ok(v) if g.expanded => self.keep_expanded(&v, &g.docs, now_ms),
            Err(e) if g.expanded && refuses_expansion(&e) => g.docs.clone(),
            Ok(v) => {
                match self.keep(&v) {
                    Err(e) => self.failed(e, &g.docs, now_ms),
                    Ok(()) => {
                        // It reads alone: the expansion that lacked it is not one the
                        // service makes.
                        if let Some((_, path)) = lacked.iter().find(|(d, _)| *d == g.path) {
                            if !self.not.contains(path) {
                                self.not.push(path.clone());
                            }
                        }
                    }
                }
                return Vec::new();
            }
            Err(e) => {
                self.failed(e, &g.docs, now_ms);
                return Vec::new();
            }
        };
        let path = super::plan::expanded_path(&g).to_string();
        lacked.extend(lacking.iter().map(|d| (d.clone(), path.clone())));
        lacking
    }

    /// Whether `g` may be asked now, `asked` GETs into the turn: not while the service asked
    /// to wait for any of its resources; the first batch of a turn always, the others when
    /// the budget has room for one as long as the last (what is not asked is unread, said as
    /// such, and left behind for the next turn).
    fn may_ask(&mut self, g: &Get, asked: usize, now_ms: u64) -> bool {
        if let Some(until) = g.docs.iter().filter_map(|d| self.held.get(d)).max() {
            self.errors.push(RfError::new(
                super::RfErrorKind::Timeout,
                format!(
                    "{}: the service asked to wait {} ms more",
                    g.path,
                    until - now_ms
                ),
            ));
            return false;
        }
        let room = self
            .fetch
            .left()
            .is_none_or(|left| !left.is_zero() && (asked == 0 || left >= self.took));
        if !room {
            self.errors.push(RfError::new(
                super::RfErrorKind::Timeout,
                format!("{}: not read: the sweep's time budget was spent", g.path),
            ));
            self.behind.extend(g.docs.iter().cloned());
        }
        room
    }

    /// Keeps what one resource says.
    fn keep(&mut self, v: &serde_json::Value) -> Result<(), RfError> {
        for s in map::resource(v)? {
            self.last.insert(s.uri.clone(), s);
        }
        Ok(())
    }

    /// Keeps a GET's error, and the hold it asks for (on each of its resources).
    fn failed(&mut self, e: RfError, docs: &[String], now_ms: u64) {
        let wait = e.retry_after.map(|d| {
            u64::try_from(d.as_millis())
                .unwrap_or(u64::MAX)
                .min(MAX_RETRY_AFTER_MS)
        });
        self.errors.push(e);
        if let Some(w) = wait {
            for d in docs {
                self.held.insert(d.clone(), now_ms.saturating_add(w));
            }
        }
    }

    /// Keeps the resources `docs` found whole in an expanded answer; the ones it lacks.
    fn keep_expanded(
        &mut self,
        answer: &serde_json::Value,
        docs: &[String],
        now_ms: u64,
    ) -> Vec<String> {
        let whole = super::plan::Whole::of(answer);
        let mut lacking = Vec::new();
        for d in docs {
            match whole.get(d) {
                Some(v) => {
                    if let Err(e) = self.keep(v) {
                        self.failed(e, std::slice::from_ref(d), now_ms);
                    }
                }
                None => lacking.push(d.clone()),
            }
        }
        lacking
    }

    /// Resources the last refresh left unread because the turn's budget was spent.
    pub fn behind(&self) -> usize {
        self.behind.len()
    }

    /// The reading of the sensor at `uri` from the last refresh.
    pub fn reading(&self, uri: &str) -> Reading {
        self.last.get(uri).map_or(Reading::Unreadable, reading_of)
    }

    /// The state that says the sensor's part is not there or not in use ([`NOT_IN_USE`]),
    /// if the service says one.
    pub fn not_in_use(&self, uri: &str) -> Option<&str> {
        self.last
            .get(uri)
            .and_then(|s| s.state.as_deref())
            .filter(|st| NOT_IN_USE.contains(st))
    }

    /// Whether the last refresh brought the sensor at `uri` (with a reading or without one):
    /// the service answered for it.
    pub fn answered(&self, uri: &str) -> bool {
        self.last.contains_key(uri)
    }

    /// Whether the last refresh brought any sensor at all (none: the service did not answer,
    /// or asked to be left alone).
    pub fn answered_any(&self) -> bool {
        !self.last.is_empty()
    }

    /// Whether the last refresh failed only because the service refused the user or
    /// password (every error an HTTP 401 or 403).
    pub fn refused(&self) -> bool {
        !self.errors.is_empty()
            && self
                .errors
                .iter()
                .all(|e| matches!(e.kind, super::RfErrorKind::Status(401 | 403)))
    }

    /// Where the service is ([`Fetch::origin`]).
    pub fn origin(&self) -> String {
        self.fetch.origin()
    }

    /// Requests made so far.
    pub fn requests(&self) -> u64 {
        self.fetch.requests()
    }

    /// Whether the last refresh reached the service for every resource.
    pub fn healthy(&self) -> bool {
        self.errors.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redfish::RfThresholds;

    fn s(resource: RfResource, health: Option<&str>, reading: Option<f64>) -> RfSensor {
        RfSensor {
            uri: "/x".into(),
            name: "x".into(),
            resource,
            reading_type: None,
            units: None,
            context: None,
            reading,
            thresholds: RfThresholds::default(),
            state: Some("Enabled".into()),
            health: health.map(str::to_string),
        }
    }

    /// Answers `busy` with 503 and `Retry-After: wait` the first time, everything else (and
    /// `busy` afterwards) with a temperature sensor at that path; counts the requests per
    /// path.
    struct Busy {
        busy: &'static str,
        wait: std::time::Duration,
        asked: Vec<String>,
    }

    impl Fetch for Busy {
        fn get(&mut self, path: &str) -> Result<serde_json::Value, RfError> {
            let first = !self.asked.iter().any(|p| p == path);
            self.asked.push(path.to_string());
            if path == self.busy && first {
                let mut e = RfError::new(super::super::RfErrorKind::Status(503), path);
                e.retry_after = Some(self.wait);
                return Err(e);
            }
            Ok(serde_json::json!({
                "@odata.id": path, "@odata.type": "#Sensor.v1_0_0.Sensor",
                "Reading": 30, "ReadingUnits": "Cel"
            }))
        }
        fn requests(&self) -> u64 {
            self.asked.len() as u64
        }
    }

    /// A service whose turn budget is spent after `per_turn` requests of a turn (the turn
    /// starts with [`Slow::turn`]).
    struct Slow {
        inner: Busy,
        per_turn: usize,
        from: usize,
    }

    impl Slow {
        fn turn(&mut self) {
            self.from = self.inner.asked.len();
        }
    }

    impl Fetch for std::sync::Arc<std::sync::Mutex<Slow>> {
        fn get(&mut self, path: &str) -> Result<serde_json::Value, RfError> {
            self.lock().unwrap().inner.get(path)
        }
        fn requests(&self) -> u64 {
            self.lock().unwrap().inner.requests()
        }
        fn left(&self) -> Option<std::time::Duration> {
            let s = self.lock().unwrap();
            let spent = s.inner.asked.len() - s.from >= s.per_turn;
            Some(if spent {
                std::time::Duration::ZERO
            } else {
                std::time::Duration::from_secs(1)
            })
        }
    }

    /// Issue 33 (3): a turn whose budget is spent reads no more (what is left is unread
    /// this sweep, said as such); the urgent resources go first every time, and those left
    /// behind go before the others at the next turn, so that every resource is read.
    #[test]
    fn a_spent_budget_leaves_the_rest_for_the_next_turn_urgent_first() {
        use std::sync::{Arc, Mutex};
        let slow = Arc::new(Mutex::new(Slow {
            inner: Busy {
                busy: "none",
                wait: std::time::Duration::ZERO,
                asked: Vec::new(),
            },
            per_turn: 2,
            from: 0,
        }));
        let mut r = RedfishReader::new(Box::new(Arc::clone(&slow)));
        let (a, rest) = (
            "/redfish/v1/A",
            ["/redfish/v1/B", "/redfish/v1/C", "/redfish/v1/D"],
        );
        let mut turns = Vec::new();
        for t in 0..3 {
            slow.lock().unwrap().turn();
            r.refresh_urgent_first([a], rest, t * 1000);
            let s = slow.lock().unwrap();
            turns.push(
                s.inner.asked[s.from..]
                    .join(" ")
                    .replace("/redfish/v1/", ""),
            );
        }
        assert_eq!(turns, ["A B", "A C", "A D"]);
        assert_eq!(r.behind(), 2, "B and C wait for the next turn");
        assert_eq!(r.reading("/redfish/v1/B"), Reading::Unreadable);
        assert!(
            r.errors[0]
                .to_string()
                .contains("the sweep's time budget was spent"),
            "{:?}",
            r.errors
        );
        // A confirming read of one resource between sweeps keeps their place.
        slow.lock().unwrap().turn();
        r.refresh([a], 2500);
        assert_eq!(r.behind(), 2, "a read of A alone leaves B and C behind");
        // Room for one request a turn: the urgent resources take turns too.
        slow.lock().unwrap().per_turn = 1;
        let (a2, mut turns) = ("/redfish/v1/A2", Vec::new());
        for t in 3..7 {
            slow.lock().unwrap().turn();
            r.refresh_urgent_first([a, a2], rest, t * 1000);
            let s = slow.lock().unwrap();
            turns.push(
                s.inner.asked[s.from..]
                    .join(" ")
                    .replace("/redfish/v1/", ""),
            );
        }
        assert_eq!(turns, ["A", "A2", "A", "A2"]);
    }

    /// Issue 33 (2): `Retry-After` holds the resource that said it, and only that one (at
    /// most [`MAX_RETRY_AFTER_MS`]): the others are read every sweep.
    #[test]
    fn retry_after_holds_only_its_resource_and_is_bounded() {
        const T: &str = "/redfish/v1/S/Thermal";
        const P: &str = "/redfish/v1/S/Power";
        let busy = |wait| Busy {
            busy: P,
            wait,
            asked: Vec::new(),
        };
        let mut r = RedfishReader::new(Box::new(busy(std::time::Duration::from_secs(2))));
        r.refresh([T, P], 0);
        assert_eq!(r.requests(), 2);
        assert_eq!(r.reading(T), Reading::Value(30.0), "Thermal read on time");
        assert_eq!(r.reading(P), Reading::Unreadable);
        assert!(!r.healthy() && r.answered_any());
        r.refresh([T, P], 1_500);
        assert_eq!(
            r.requests(),
            3,
            "Thermal again, Power held for the 2 s asked"
        );
        assert_eq!(r.reading(T), Reading::Value(30.0));
        r.refresh([T, P], 2_000);
        assert_eq!(r.requests(), 5);
        assert_eq!(r.reading(P), Reading::Value(30.0));
        assert!(r.healthy());
        // A service asking for an hour is asked again after a minute.
        let mut r = RedfishReader::new(Box::new(busy(std::time::Duration::from_secs(3600))));
        r.refresh([P], 0);
        r.refresh([P], MAX_RETRY_AFTER_MS - 1);
        assert_eq!(r.requests(), 1);
        r.refresh([P], MAX_RETRY_AFTER_MS);
        assert_eq!(r.requests(), 2);
    }

    /// A read of one resource (a shutdown's confirmation) lifts no other's `Retry-After`.
    #[test]
    fn a_hold_outlives_a_read_of_another_resource() {
        const T: &str = "/redfish/v1/S/Thermal";
        const P: &str = "/redfish/v1/S/Power";
        let mut r = RedfishReader::new(Box::new(Busy {
            busy: P,
            wait: std::time::Duration::from_secs(2),
            asked: Vec::new(),
        }));
        r.refresh([T, P], 0);
        r.refresh([T], 500);
        r.refresh([T, P], 1_000);
        assert_eq!(r.requests(), 4, "Power still held at 1 s");
        assert_eq!(r.reading(P), Reading::Unreadable);
    }

    /// A collection of three temperature sensors whose expansion is answered with
    /// `expand` (a whole answer, or an error status).
    struct Expanding {
        expand: Result<(), u16>,
        /// A sensor left out of the expansion, and whether it fails when read alone.
        omit: Option<(u32, bool)>,
        asked: Vec<String>,
    }

    impl Expanding {
        fn new(expand: Result<(), u16>, omit: Option<(u32, bool)>) -> Box<Expanding> {
            Box::new(Expanding {
                expand,
                omit,
                asked: Vec::new(),
            })
        }
    }

    impl Fetch for Expanding {
        fn get(&mut self, path: &str) -> Result<serde_json::Value, RfError> {
            self.asked.push(path.to_string());
            let sensor = |k: u32| {
                serde_json::json!({"@odata.id": format!("/redfish/v1/C/1/Sensors/{k}"),
                    "@odata.type": "#Sensor.v1_0_0.Sensor", "Reading": 30 + k,
                    "ReadingUnits": "Cel"})
            };
            let omit = self.omit;
            let member = |k: u32| match omit {
                Some((o, _)) if o == k => {
                    serde_json::json!({"@odata.id": format!("/redfish/v1/C/1/Sensors/{k}")})
                }
                _ => sensor(k),
            };
            match (path.split_once('?'), self.expand) {
                (Some((coll, _)), Ok(())) => Ok(serde_json::json!({"@odata.id": coll,
                    "@odata.type": "#SensorCollection.SensorCollection",
                    "Members": [member(1), member(2), member(3)]})),
                (Some((coll, _)), Err(status)) => {
                    let mut e = RfError::new(super::super::RfErrorKind::Status(status), coll);
                    if status == 503 {
                        e.retry_after = Some(std::time::Duration::from_secs(2));
                    }
                    Err(e)
                }
                (None, _) => {
                    let k = path.rsplit('/').next().and_then(|k| k.parse().ok());
                    if omit.is_some_and(|(o, fails)| fails && Some(o) == k) {
                        return Err(RfError::new(super::super::RfErrorKind::Status(500), path));
                    }
                    Ok(sensor(k.unwrap_or(0)))
                }
            }
        }
        fn requests(&self) -> u64 {
            self.asked.len() as u64
        }
    }

    /// Issue 34: a service that expands gives three sensors in one GET; one that refuses
    /// the expansion (501) has them read one by one in the same refresh, and is not asked
    /// to expand that collection again; a busy one (503, `Retry-After`) holds every
    /// resource of the expansion and keeps it for after the hold. A member the
    /// expansion lacks is read alone; when it reads, the service does not expand as it
    /// says (one by one from then on); when it fails alone too, the expansion is kept.
    #[test]
    fn an_expansion_reads_a_collection_at_once_and_a_refused_one_falls_back() {
        let uris = ["1", "2", "3"].map(|k| format!("/redfish/v1/C/1/Sensors/{k}"));
        let reads = |r: &RedfishReader| uris.iter().map(|u| r.reading(u)).collect::<Vec<_>>();
        let want = [31.0, 32.0, 33.0].map(Reading::Value).to_vec();
        let reader = |expand, omit| {
            RedfishReader::new(Expanding::new(expand, omit)).with_features(Features {
                expand: 1,
                one_at_a_time: false,
            })
        };
        let mut r = reader(Ok(()), None);
        r.refresh(uris.iter().map(String::as_str), 0);
        assert_eq!((reads(&r), r.requests()), (want.clone(), 1));
        let mut r = reader(Err(501), None);
        r.refresh(uris.iter().map(String::as_str), 0);
        assert_eq!((reads(&r), r.requests()), (want.clone(), 4));
        assert!(r.healthy(), "{:?}", r.errors);
        r.refresh(uris.iter().map(String::as_str), 1000);
        assert_eq!(r.requests(), 7, "one by one from then on");
        // Busy, for 2 s: every resource of the expansion is held, a confirming read of one
        // of them (a GET of its own) too.
        let mut r = reader(Err(503), None);
        r.refresh(uris.iter().map(String::as_str), 0);
        assert_eq!(r.requests(), 1);
        assert_eq!(r.reading(&uris[0]), Reading::Unreadable);
        r.refresh([uris[0].as_str()], 1000);
        assert_eq!(r.requests(), 1, "held: not asked alone either");
        r.refresh(uris.iter().map(String::as_str), 2000);
        assert_eq!(r.requests(), 2, "asked expanded again after the hold");
        // A member left out because it fails alone too: the expansion is kept.
        let mut r = reader(Ok(()), Some((2, true)));
        for t in [0, 1000] {
            r.refresh(uris.iter().map(String::as_str), t);
        }
        assert_eq!(
            r.requests(),
            4,
            "each sweep: the expansion and the failing sensor"
        );
        assert_eq!(r.reading(&uris[1]), Reading::Unreadable);
        assert_eq!(r.reading(&uris[2]), Reading::Value(33.0));
        // A member left out that reads alone: the service does not expand as it says.
        let mut r = reader(Ok(()), Some((2, false)));
        r.refresh(uris.iter().map(String::as_str), 0);
        assert_eq!((reads(&r), r.requests()), (want.clone(), 2));
        r.refresh(uris.iter().map(String::as_str), 1000);
        assert_eq!(r.requests(), 5, "one by one from then on");
    }

    /// A service answering every GET, with three in flight, whose turn budget is spent
    /// after `per_turn` GETs of a turn; records each batch.
    struct Batches {
        per_turn: usize,
        in_turn: usize,
        batches: Vec<Vec<String>>,
    }

    impl Fetch for std::sync::Arc<std::sync::Mutex<Batches>> {
        fn get(&mut self, path: &str) -> Result<serde_json::Value, RfError> {
            self.get_many(&[path]).remove(0)
        }
        fn get_many(&mut self, paths: &[&str]) -> Vec<Result<serde_json::Value, RfError>> {
            let mut b = self.lock().unwrap();
            b.in_turn += paths.len();
            b.batches.push(
                paths
                    .iter()
                    .map(|p| p.replace("/redfish/v1/", ""))
                    .collect(),
            );
            paths
                .iter()
                .map(|p| {
                    Ok(serde_json::json!({"@odata.id": p,
                        "@odata.type": "#Sensor.v1_0_0.Sensor", "Reading": 30}))
                })
                .collect()
        }
        fn in_flight(&self) -> usize {
            3
        }
        fn requests(&self) -> u64 {
            self.lock()
                .unwrap()
                .batches
                .iter()
                .map(Vec::len)
                .sum::<usize>() as u64
        }
        fn left(&self) -> Option<std::time::Duration> {
            let b = self.lock().unwrap();
            Some(if b.in_turn >= b.per_turn {
                std::time::Duration::ZERO
            } else {
                std::time::Duration::from_secs(1)
            })
        }
    }

    /// Issue 34: GETs go three at a time, the urgent first; the first batch of a turn always
    /// goes, and what the spent budget leaves is read first at the next turn. A service
    /// that says it takes one request at a time gets batches of one.
    #[test]
    fn batches_keep_the_urgent_first_and_the_budget() {
        use std::sync::{Arc, Mutex};
        let b = Arc::new(Mutex::new(Batches {
            per_turn: 3,
            in_turn: 0,
            batches: Vec::new(),
        }));
        let mut r = RedfishReader::new(Box::new(Arc::clone(&b)));
        let rest = ["B", "C", "D", "E"].map(|x| format!("/redfish/v1/{x}"));
        for t in 0..2 {
            b.lock().unwrap().in_turn = 0;
            r.refresh_urgent_first(["/redfish/v1/A"], rest.iter().map(String::as_str), t);
        }
        assert_eq!(
            b.lock().unwrap().batches,
            [vec!["A", "B", "C"], vec!["A", "D", "E"]]
        );
        assert_eq!(r.behind(), 2, "B and C, for the next turn");
        let mut r = RedfishReader::new(Box::new(Arc::clone(&b))).with_features(Features {
            expand: 0,
            one_at_a_time: true,
        });
        b.lock().unwrap().batches.clear();
        b.lock().unwrap().per_turn = 100;
        r.refresh(rest.iter().map(String::as_str), 0);
        assert!(b.lock().unwrap().batches.iter().all(|x| x.len() == 1));
    }

    #[test]
    fn health_and_values_become_readings() {
        use RfResource as R;
        assert_eq!(
            reading_of(&s(R::PowerSupply, Some("OK"), None)),
            Reading::Good
        );
        assert_eq!(
            reading_of(&s(R::PowerSupply, Some("Warning"), None)),
            Reading::Good
        );
        assert_eq!(
            reading_of(&s(R::PowerSupply, Some("Critical"), None)),
            Reading::Bad
        );
        assert_eq!(
            reading_of(&s(R::SupplyRedundancy, Some("Warning"), None)),
            Reading::Bad
        );
        assert_eq!(
            reading_of(&s(R::Fan, Some("Critical"), Some(2000.0))),
            Reading::Bad
        );
        assert_eq!(
            reading_of(&s(R::Fan, Some("OK"), Some(2000.0))),
            Reading::Value(2000.0)
        );
        assert_eq!(
            reading_of(&s(R::Sensor, Some("OK"), None)),
            Reading::Unreadable
        );
        let mut absent = s(R::PowerSupply, None, None);
        absent.state = Some("Absent".into());
        assert_eq!(reading_of(&absent), Reading::Unreadable);
    }
}
