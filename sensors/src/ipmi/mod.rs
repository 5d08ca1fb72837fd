//! The BMC over IPMI.
//!
//! - [`Transport`]: the one narrow trait: send a request, get the response data. The two
//!   real ones ([`connect`]): `/dev/ipmi0` through ipmi-rs, and RMCP+, envmon's own
//!   (`rmcpplus/`: replies checked against requests, retransmission); tests use fakes.
//! - [`sdr`], [`reading`]: pure decoding of SDR records and sensor readings.
//! - [`repo`]: reading the SDR repository in chunks (Reserve SDR Repository + Get SDR with
//!   offset and length), because ipmi-rs asks for whole records and many BMCs, ipmi_sim
//!   among them, answer 0xCA to that.
//! - [`IpmiSource`]: the steady-state sweep: one Get Sensor Reading per monitored sensor.

pub mod command;
pub mod fake;
pub mod info;
pub mod reading;
pub mod repo;
pub mod rmcpplus;
pub mod rto;
pub mod sdr;
pub mod sel;
mod transport;

pub use transport::{Connected, ErrorKindOf, IpmiRs, Target, connect};

use command::{Command, GetSensorHysteresis, GetSensorReading, GetSensorThresholds};
use envmon_core::engine::Reading;
use sdr::SdrEntry;
use std::{error::Error, fmt};

/// What kind of IPMI failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpmiErrorKind {
    /// Opening the device or the session failed.
    Connect,
    /// The request or its response was lost (timeout, socket error).
    Transport,
    /// The session no longer holds: the BMC does not know it, its integrity or
    /// confidentiality check fails, or the replies no longer answer the requests (a reply
    /// to another request: the stream is out of step).
    Session,
    /// The BMC answered with a non-zero completion code.
    Completion(u8),
    /// The BMC answered something that cannot be right (too short, wrong record).
    Malformed,
}

/// An IPMI error: its kind, and what was being done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpmiError {
    /// Branch on this.
    pub kind: IpmiErrorKind,
    /// For people.
    pub detail: String,
}

/// Completion codes after which the session cannot be trusted to go on: 0xD4, insufficient
/// privilege (a BMC that reset its session table lowers or forgets our privilege).
pub const SESSION_COMPLETION_CODES: &[u8] = &[0xD4];

impl IpmiError {
    /// A new error.
    pub fn new(kind: IpmiErrorKind, detail: impl Into<String>) -> Self {
        IpmiError {
            kind,
            detail: detail.into(),
        }
    }

    /// Whether the connection must be opened again before the next request: the one rule
    /// the poll loop uses to reconnect. A completion code about one sensor or a malformed
    /// answer to one request does not; a lost link, a lost session or an answer out of step
    /// does.
    pub fn needs_new_session(&self) -> bool {
        match self.kind {
            IpmiErrorKind::Connect | IpmiErrorKind::Transport | IpmiErrorKind::Session => true,
            IpmiErrorKind::Completion(cc) => SESSION_COMPLETION_CODES.contains(&cc),
            IpmiErrorKind::Malformed => false,
        }
    }
}

impl fmt::Display for IpmiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            IpmiErrorKind::Completion(cc) => {
                write!(f, "{}: completion code 0x{cc:02x}", self.detail)
            }
            _ => f.write_str(&self.detail),
        }
    }
}

impl Error for IpmiError {}

/// Sends IPMI requests to the BMC (LUN 0) and returns the response data after a successful
/// completion code.
pub trait Transport {
    /// One request, one response.
    fn call(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Result<Vec<u8>, IpmiError>;
    /// Several independent requests, answered in their order. A transport that can keeps
    /// several in flight at once (RMCP+: up to its window); this default sends them one
    /// after another, and once one has lost the session the rest get its error unsent.
    fn call_many(&mut self, requests: &[Request]) -> Vec<Result<Vec<u8>, IpmiError>> {
        let mut out: Vec<Result<Vec<u8>, IpmiError>> = Vec::with_capacity(requests.len());
        for r in requests {
            let lost = out.iter().find_map(|x| match x {
                Err(e) if e.needs_new_session() => Some(e.clone()),
                _ => None,
            });
            out.push(match lost {
                Some(e) => Err(e),
                None => self.call(r.netfn, r.cmd, &r.data),
            });
        }
        out
    }
    /// The first answer to copies of one request (the thermal shutdown's confirming reads:
    /// a lossy link should cost a round trip, not a retransmission timer per lost datagram).
    /// A transport that pipelines sends them all at once and takes the first reply; this
    /// default asks one copy after another until one is answered (a completion code is an
    /// answer), so a copy lost to the link is asked again at once.
    fn call_first(&mut self, requests: &[Request]) -> Result<Vec<u8>, IpmiError> {
        let mut last = Err(IpmiError::new(IpmiErrorKind::Transport, "no request"));
        for r in requests {
            match self.call(r.netfn, r.cmd, &r.data) {
                Err(e) if matches!(e.kind, IpmiErrorKind::Transport) => last = Err(e),
                answered => return answered,
            }
        }
        last
    }
    /// Requests sent so far (for the per-sweep command count).
    fn commands(&self) -> u64;
    /// Datagrams received and discarded so far: not authentic, replayed, duplicated, or
    /// answering another request (0 for transports that cannot receive such things).
    fn discarded(&self) -> u64 {
        0
    }
    /// Requests sent again because their reply did not come in time (0 where nothing is).
    fn retransmissions(&self) -> u64 {
        0
    }
    /// Sessions opened with the BMC so far (0 for a transport without sessions).
    fn sessions(&self) -> u64 {
        0
    }
}

/// One request of [`Transport::call_many`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// NetFn.
    pub netfn: u8,
    /// Command.
    pub cmd: u8,
    /// Request data.
    pub data: Vec<u8>,
}

impl Request {
    /// A request.
    pub fn new(netfn: u8, cmd: u8, data: &[u8]) -> Request {
        Request {
            netfn,
            cmd,
            data: data.to_vec(),
        }
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn call(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Result<Vec<u8>, IpmiError> {
        (**self).call(netfn, cmd, data)
    }
    fn call_many(&mut self, requests: &[Request]) -> Vec<Result<Vec<u8>, IpmiError>> {
        (**self).call_many(requests)
    }
    fn call_first(&mut self, requests: &[Request]) -> Result<Vec<u8>, IpmiError> {
        (**self).call_first(requests)
    }
    fn commands(&self) -> u64 {
        (**self).commands()
    }
    fn discarded(&self) -> u64 {
        (**self).discarded()
    }
    fn retransmissions(&self) -> u64 {
        (**self).retransmissions()
    }
    fn sessions(&self) -> u64 {
        (**self).sessions()
    }
}

/// The steady-state reader: the cached SDR entries of the monitored sensors and a transport.
pub struct IpmiSource<T: Transport> {
    transport: T,
    /// Get Sensor Reading replies asked for ahead ([`IpmiSource::prefetch`]), by number.
    prefetched: Vec<(u8, Result<Vec<u8>, IpmiError>)>,
}

impl<T: Transport> IpmiSource<T> {
    /// Wraps a connected transport.
    pub fn new(transport: T) -> Self {
        IpmiSource {
            transport,
            prefetched: Vec::new(),
        }
    }

    /// Asks for the readings of the BMC's own sensors among `entries` all at once
    /// ([`Transport::call_many`]: pipelined over RMCP+); the reads that follow take them
    /// instead of asking, each once. [`IpmiSource::end_prefetch`] forgets what was not taken.
    pub fn prefetch<'a>(&mut self, entries: impl IntoIterator<Item = &'a SdrEntry>) {
        let mut numbers: Vec<u8> = entries
            .into_iter()
            .filter(|e| e.owner_id == 0x20 && e.owner_lun == 0)
            .map(|e| e.number)
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        let requests: Vec<Request> = numbers
            .iter()
            .map(|n| GetSensorReading(*n).request())
            .collect();
        let replies = self.transport.call_many(&requests);
        self.prefetched = numbers.into_iter().zip(replies).collect();
    }

    /// Forgets prefetched readings no read took (a later read asks the BMC afresh).
    pub fn end_prefetch(&mut self) {
        self.prefetched.clear();
    }

    /// Get Sensor Reading of sensor `number`: the prefetched reply, or one request.
    fn get_reading(&mut self, number: u8) -> Result<Vec<u8>, IpmiError> {
        match self.prefetched.iter().position(|(n, _)| *n == number) {
            Some(at) => self.prefetched.swap_remove(at).1,
            None => command::send(&mut self.transport, &GetSensorReading(number)),
        }
    }

    /// The transport back.
    pub fn destroy(self) -> T {
        self.transport
    }

    /// The transport, for repository reads.
    pub fn transport(&mut self) -> &mut T {
        &mut self.transport
    }

    /// The transport, for its counters.
    pub fn transport_ref(&self) -> &T {
        &self.transport
    }

    /// Reads one sensor: exactly one Get Sensor Reading. Sensors owned by another controller
    /// or LUN would need bridging, which envmon does not do: they read as unreadable.
    pub fn read(&mut self, entry: &SdrEntry) -> Result<Reading, IpmiError> {
        self.read_scan(entry).map(|(r, _)| r)
    }

    /// [`IpmiSource::read`], and whether the BMC answered that it does not scan the sensor
    /// (a well-formed reply with "scanning disabled": evidence about the entity only where
    /// the SDR says so, see [`sdr::SdrEntry::ignore_if_absent`]).
    pub fn read_scan(&mut self, entry: &SdrEntry) -> Result<(Reading, bool), IpmiError> {
        if entry.owner_id != 0x20 || entry.owner_lun != 0 {
            return Ok((Reading::Unreadable, false));
        }
        match self.get_reading(entry.number) {
            Ok(data) => Ok((reading::decode(entry, &data), reading::not_scanning(&data))),
            // "Requested sensor, data or record not present" and "sensor not readable":
            // the BMC is fine, this sensor is not.
            Err(e) if matches!(e.kind, IpmiErrorKind::Completion(0xCB | 0xCD | 0xD5)) => {
                Ok((Reading::Unreadable, false))
            }
            Err(e) => Err(e),
        }
    }

    /// One reading asked for `copies` times at once ([`Transport::call_first`]: the first
    /// answer is taken): what the thermal shutdown's confirming reads use, so that a lossy
    /// link costs a round trip rather than a retransmission timer per lost datagram.
    pub fn read_first(&mut self, entry: &SdrEntry, copies: usize) -> Result<Reading, IpmiError> {
        if entry.owner_id != 0x20 || entry.owner_lun != 0 {
            return Ok(Reading::Unreadable);
        }
        let requests = vec![GetSensorReading(entry.number).request(); copies.max(1)];
        match self.transport.call_first(&requests) {
            Ok(data) => Ok(reading::decode(entry, &data)),
            Err(e) if matches!(e.kind, IpmiErrorKind::Completion(0xCB | 0xCD | 0xD5)) => {
                Ok(Reading::Unreadable)
            }
            Err(e) => Err(e),
        }
    }

    /// What a presence sensor says of its entity: `Some(true)` present, `Some(false)` absent,
    /// `None` when it says nothing (see [`reading::presence`]).
    pub fn presence(&mut self, entry: &SdrEntry) -> Result<Option<bool>, IpmiError> {
        if entry.owner_id != 0x20 || entry.owner_lun != 0 {
            return Ok(None);
        }
        match self.get_reading(entry.number) {
            Ok(data) => Ok(reading::presence(entry, &data)),
            Err(e) if matches!(e.kind, IpmiErrorKind::Completion(0xCB | 0xCD | 0xD5)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Decodes a Get Sensor Thresholds response (readable mask, then LNC, LC, LNR, UNC, UC, UNR)
/// into `[UNR, UC, UNC, LNR, LC, LNC]`. `None` when the response is too short.
pub fn decode_thresholds(conv: &sdr::Conversion, data: &[u8]) -> Option<[Option<f64>; 6]> {
    let (&mask, values) = data.split_first()?;
    let values = values.get(..6)?;
    // (index in the response values, readable bit) for UNR, UC, UNC, LNR, LC, LNC.
    let at = [(5, 5), (4, 4), (3, 3), (2, 2), (1, 1), (0, 0)];
    let mut out = [None; 6];
    for (slot, (i, bit)) in out.iter_mut().zip(at) {
        if mask & (1 << bit) != 0 {
            *slot = values.get(i).and_then(|&raw| conv.apply(raw));
        }
    }
    Some(out)
}

/// [`read_live_limits`] for every entry, in two rounds of [`Transport::call_many`] (all
/// thresholds, then all hysteresis) instead of two round trips per sensor.
pub fn read_live_limits_all(
    t: &mut impl Transport,
    entries: &mut [SdrEntry],
) -> Result<(), IpmiError> {
    let readable = |access: u8| access == 1 || access == 2;
    let thresholds = ask_each(
        t,
        entries,
        |e| readable(e.threshold_access),
        |n| GetSensorThresholds(n).request(),
    );
    for (i, r) in thresholds {
        let e = &mut entries[i];
        let Some(conv) = e.conversion else { continue };
        match r {
            Ok(d) => match decode_thresholds(&conv, &d) {
                Some(live) => e.thresholds = live,
                None => log::debug!("{}: short Get Sensor Thresholds reply", e.name),
            },
            Err(err) if err.needs_new_session() => return Err(err),
            Err(err) => log::debug!("{}: live thresholds: {err}; keeping the SDR's", e.name),
        }
    }
    let hysteresis = ask_each(
        t,
        entries,
        |e| readable(e.hysteresis_access),
        |n| GetSensorHysteresis(n).request(),
    );
    for (i, r) in hysteresis {
        let e = &mut entries[i];
        let Some(conv) = e.conversion else { continue };
        match r {
            Ok(d) => e.hysteresis = live_hysteresis(&conv, &d).or(e.hysteresis),
            Err(err) if err.needs_new_session() => return Err(err),
            Err(err) => log::debug!("{}: live hysteresis: {err}; keeping the SDR's", e.name),
        }
    }
    Ok(())
}

/// One request (`request(sensor number)`) for each of the BMC's own threshold sensors with
/// a conversion that `wants`, all in one [`Transport::call_many`]; the replies by index.
fn ask_each(
    t: &mut impl Transport,
    entries: &[SdrEntry],
    wants: impl Fn(&SdrEntry) -> bool,
    request: impl Fn(u8) -> Request,
) -> Vec<(usize, Result<Vec<u8>, IpmiError>)> {
    let asked: Vec<usize> = (0..entries.len())
        .filter(|&i| {
            let e = &entries[i];
            e.conversion.is_some()
                && e.reading_type == sdr::THRESHOLD_READING
                && e.owner_id == 0x20
                && e.owner_lun == 0
                && wants(e)
        })
        .collect();
    let requests: Vec<Request> = asked.iter().map(|&i| request(entries[i].number)).collect();
    asked.into_iter().zip(t.call_many(&requests)).collect()
}

/// The larger of a Get Sensor Hysteresis reply's two spans, in the sensor's unit (`None`
/// for none).
fn live_hysteresis(conv: &sdr::Conversion, d: &[u8]) -> Option<f64> {
    let span = |raw: u8| Some((conv.apply(raw)? - conv.apply(0)?).abs());
    d.iter()
        .take(2)
        .filter_map(|&h| span(h))
        .reduce(f64::max)
        .filter(|h| *h > 0.0)
}

/// Asks the BMC for a threshold sensor's live thresholds and hysteresis, where the SDR says
/// they are readable, and puts them in `entry` (many BMCs, Dell's and Quanta's among them,
/// set thresholds at run time that differ from their SDRs). A completion code keeps the
/// SDR's values; a lost link or session is an error. At most two commands.
pub fn read_live_limits(t: &mut impl Transport, entry: &mut SdrEntry) -> Result<(), IpmiError> {
    read_live_limits_all(t, std::slice::from_mut(entry))
}
