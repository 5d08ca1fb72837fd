//! The threshold engine: one explicit state machine per sensor, pure (time is passed in).
//!
//! Every sensor has a class (which messages it speaks), limits (where its states begin), a
//! hysteresis (how far back a reading must come before a state is left) and a debounce (how
//! many consecutive samples must agree before a state is entered or left).
//!
//! States are ranked per class:
//!
//! | class | ranks |
//! |---|---|
//! | temperatures | ok < warm < critical < shutdown |
//! | fan (minimum RPM), discrete (PSU, PSU fan, backplane link) | ok < failed |
//! | voltage (low/high) | ok < critical |
//!
//! Each sample is classified twice: by the plain thresholds (`up`) and by the thresholds
//! moved by the hysteresis towards "worse" (`down`, used to leave a state). For every rank L
//! above the current one the engine counts consecutive samples with `up >= L`; for every rank
//! below, consecutive samples with `down <= L`. When a count reaches the debounce the state
//! moves: upwards to the highest such rank, downwards to the lowest. So one glitch never
//! changes a state, a `critical, shutdown` pair of samples commits `critical` (not
//! `shutdown`), and exactly one message is produced per committed transition.
//!
//! A sensor that cannot be read is not a reading of 0: after `unavailable_after` consecutive
//! failures it is marked unavailable (an overlay: the judged state is kept, no message is
//! made for it, and the first good reading resumes judging from the kept state). An
//! unreadable sample restarts every debounce count, so samples on both sides of a gap never
//! add up; in particular a sensor last seen critical that becomes unreadable never reaches
//! the shutdown rank without `debounce` fresh readings beyond the threshold.

use std::fmt;

/// What kind of item a sensor is; decides its ranks and its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Chassis cooling fan (735002 / 735001).
    Fan,
    /// Power supply presence/failure (735004 / 735003), and redundancy (735006 / 735005).
    Psu,
    /// Power supply fan (735012 / 735011).
    PsuFan,
    /// Power supply temperature (735019 / 735018 / 735017).
    PsuTemp,
    /// CPU temperature (735015 / 735007 / 735020).
    CpuTemp,
    /// CPU voltage regulator temperature (only a shutdown message, 735027).
    CpuVrTemp,
    /// Chassis ambient temperature (735016 / 735008 / 735021).
    ChassisAmbient,
    /// IO hub temperature (735026 / 735025 / 735024).
    IohubTemp,
    /// Voltage channel (735014 / 735013).
    Voltage,
    /// Backplane link (743001 / 743002).
    Backplane,
    /// The BMC's own power-supply redundancy sensor (735006 when lost / 735005 when
    /// regained). A board with one does not count supplies for redundancy.
    PsuRedundancy,
}

impl Class {
    /// Every class, in a stable order.
    pub const ALL: [Class; 11] = [
        Class::Fan,
        Class::Psu,
        Class::PsuFan,
        Class::PsuTemp,
        Class::CpuTemp,
        Class::CpuVrTemp,
        Class::ChassisAmbient,
        Class::IohubTemp,
        Class::Voltage,
        Class::Backplane,
        Class::PsuRedundancy,
    ];

    /// The class name used in board files and on the socket.
    pub fn name(self) -> &'static str {
        match self {
            Class::Fan => "fan",
            Class::Psu => "psu",
            Class::PsuFan => "psu_fan",
            Class::PsuTemp => "psu_temp",
            Class::CpuTemp => "cpu_temp",
            Class::CpuVrTemp => "cpu_vr_temp",
            Class::ChassisAmbient => "chassis_ambient",
            Class::IohubTemp => "iohub_temp",
            Class::Voltage => "voltage",
            Class::Backplane => "backplane",
            Class::PsuRedundancy => "psu_redundancy",
        }
    }

    /// Parses a class name.
    pub fn from_name(name: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Whether this class is a temperature.
    pub fn is_temperature(self) -> bool {
        matches!(
            self,
            Class::PsuTemp
                | Class::CpuTemp
                | Class::CpuVrTemp
                | Class::ChassisAmbient
                | Class::IohubTemp
        )
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A sensor's judged state, as `show environment` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Within limits.
    Ok,
    /// Above the warm threshold (temperatures).
    Warm,
    /// Above the critical threshold, or a voltage outside its limits.
    Critical,
    /// Above the shutdown threshold (temperatures).
    Shutdown,
    /// A fan below its minimum, or a discrete failure.
    Failed,
    /// Not readable (shown instead of the judged state; see the module docs).
    Unavailable,
}

impl State {
    /// The name on the socket.
    pub fn name(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Warm => "warm",
            State::Critical => "critical",
            State::Shutdown => "shutdown",
            State::Failed => "failed",
            State::Unavailable => "unavailable",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a sensor's states begin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limits {
    /// Temperatures: each threshold is optional (a missing one is never reached).
    Temperature {
        /// Warm at or above.
        warm: Option<f64>,
        /// Critical at or above.
        critical: Option<f64>,
        /// Shutdown at or above.
        shutdown: Option<f64>,
    },
    /// Fans: failed below this speed (none: shown, never failed).
    Fan {
        /// Minimum RPM.
        min_rpm: Option<f64>,
    },
    /// Voltages: critical below `low` or above `high`; a missing side is never reached.
    Voltage {
        /// Lowest good value.
        low: Option<f64>,
        /// Highest good value.
        high: Option<f64>,
    },
    /// The source says ok or failed itself (PSU presence/failure, PSU fan).
    Discrete,
}

/// Everything the engine needs to know about one sensor.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorSpec {
    /// The class.
    pub class: Class,
    /// The device number markings the messages print (`1`, `PSU2`, ...).
    pub label: String,
    /// The limits.
    pub limits: Limits,
    /// How far a reading must come back past a threshold before the state is left.
    pub hysteresis: f64,
    /// Consecutive samples that must agree before a state changes (at least 1).
    pub debounce: u8,
    /// Consecutive read failures that make the sensor unavailable (at least 1).
    pub unavailable_after: u8,
    /// The unit of a temperature's values, thresholds and messages (`C` or `F`): readings
    /// come to the engine in it, converted from their source's ([`TempUnit::convert`]).
    pub unit: TempUnit,
}

/// The temperature unit of a sensor's values, thresholds and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TempUnit {
    /// Degrees Celsius (IPMI's unit).
    #[default]
    C,
    /// Degrees Fahrenheit.
    F,
}

impl TempUnit {
    /// `C` or `F`.
    pub fn as_str(self) -> &'static str {
        match self {
            TempUnit::C => "C",
            TempUnit::F => "F",
        }
    }

    /// The unit a text names (`C` or `F`; none for any other).
    pub fn parse(s: &str) -> Option<TempUnit> {
        match s {
            "C" => Some(TempUnit::C),
            "F" => Some(TempUnit::F),
            _ => None,
        }
    }

    /// `v`, a temperature in `self`, in `to`. A board in `F` over a source that reads in
    /// `C` (hwmon, I2C, Redfish, most SDRs) judges the converted reading: before issue 35 it
    /// relabelled it.
    pub fn convert(self, v: f64, to: TempUnit) -> f64 {
        match (self, to) {
            (TempUnit::C, TempUnit::F) => v * 9.0 / 5.0 + 32.0,
            (TempUnit::F, TempUnit::C) => (v - 32.0) * 5.0 / 9.0,
            _ => v,
        }
    }
}

/// One sample from a source.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reading {
    /// A numeric value in the sensor's unit.
    Value(f64),
    /// A discrete sensor that reports healthy.
    Good,
    /// A discrete sensor that reports failure (or absence).
    Bad,
    /// The value could not be read (error, reading unavailable, scanning disabled).
    Unreadable,
}

/// A message the engine wants sent: catalog ID and arguments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Emission {
    /// Catalog message number.
    pub id: u32,
    /// Its arguments, in template order.
    pub args: Vec<String>,
    /// Structured data for RFC 5424 frames (name, value), in order; empty for messages
    /// about no one sensor. RFC 3164 frames never carry it.
    pub sd: Vec<(&'static str, String)>,
}

impl Emission {
    fn new(id: u32, args: &[&str]) -> Self {
        Emission {
            id,
            sd: Vec::new(),
            args: args.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// A committed change of a sensor's judged state.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// The value that completed the debounce (None for discrete sensors).
    pub value: Option<f64>,
}

const MAX_RANK: usize = 3;

/// The per-sensor state the engine keeps between samples.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorState {
    rank: usize,
    runs: [u8; MAX_RANK + 1],
    failures: u8,
    unavailable: bool,
    /// The last good value (None until one arrives, and while unavailable).
    pub value: Option<f64>,
    /// When the last good sample arrived (caller's milliseconds), if one has.
    pub updated_ms: Option<u64>,
    /// Why the last sample was not judged (None after a judged one).
    pub fault: Option<Fault>,
    /// What the jump check measures a value against.
    base: JumpBase,
    /// When the last committed transitions happened (the flap window), oldest first.
    changes: [Option<u64>; MAX_DAMP_CHANGES],
    /// Damped: held at the worse state until this time (restarted whenever the state the
    /// samples suggest changes).
    held_until: Option<u64>,
    /// While held: the rank the samples last suggested.
    proposed: usize,
    /// What the last [`SensorState::step`] has to say beside a transition (taken by the
    /// caller with [`SensorState::take_notice`]).
    notice: Option<Notice>,
    /// A rise the runs support that waits one sample to be said at its true level: a gap
    /// (no judged sample) commits it rather than losing it.
    deferred: Option<usize>,
    /// The last [`ERRATIC_WINDOW`] value samples, newest in bit 0: 1 for an unconfirmed
    /// jump (the evidence of [`Fault::Erratic`]).
    recent: u16,
}

impl Default for SensorState {
    fn default() -> Self {
        SensorState {
            rank: 0,
            runs: [0; MAX_RANK + 1],
            failures: 0,
            unavailable: false,
            value: None,
            updated_ms: None,
            fault: None,
            base: JumpBase::default(),
            changes: [None; MAX_DAMP_CHANGES],
            held_until: None,
            proposed: 0,
            notice: None,
            deferred: None,
            recent: 0,
        }
    }
}

/// The values a jump is measured from (each with the caller's milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct JumpBase {
    /// The last plausible value seen, judged or not.
    seen: Option<(f64, u64)>,
    /// The last value judged (kept while the item is unavailable).
    judged: Option<(f64, u64)>,
    /// The last unconfirmed jump: (the value, the value before it).
    jump: Option<(f64, f64)>,
    /// The sensor is erratic: set past [`MAX_UNCONFIRMED`] jumps in the window, cleared only
    /// at [`ERRATIC_CLEAR`] or fewer (so that a rate at the edge does not flip it).
    erratic: bool,
}

/// Jumps in the window at or below which an erratic sensor is trusted again.
pub const ERRATIC_CLEAR: u8 = 1;

/// Why a sample was not judged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// No reading (an error, "reading unavailable", scanning disabled, a kind mismatch).
    NoReading,
    /// A value the sensor cannot produce: outside its SDR range or the physical range of its
    /// class (a stuck or failed sensor: raw 0xFF is 255 degrees).
    Implausible {
        /// The value read.
        value: f64,
        /// The lowest plausible value.
        low: f64,
        /// The highest plausible value.
        high: f64,
    },
    /// A temperature at the top of its sensor's range: the converter's rail (raw 0xFF of an
    /// unsigned sensor), not a value.
    Saturated {
        /// The value read.
        value: f64,
        /// The sensor's lowest value.
        low: f64,
        /// The sensor's highest value (the rail).
        high: f64,
    },
    /// A jump faster than the part can change between two samples: not judged until the
    /// next sample confirms it (stays within a plausible step of it).
    Unconfirmed {
        /// The value read.
        value: f64,
        /// The value before the jump.
        from: f64,
    },
    /// Jumps that keep coming: more than [`MAX_UNCONFIRMED`] unconfirmed jumps among the
    /// last [`ERRATIC_WINDOW`] samples (a sensor that alternates between values, or glitches
    /// on every other read). A sensor fault: the item is unavailable (735010, `degraded`)
    /// until the window holds no more than [`MAX_UNCONFIRMED`] again, never silently not
    /// judged. The samples that do pass the jump check are still judged underneath, and a
    /// jump to or past the shutdown threshold asks for the direct confirmation
    /// ([`SensorState::unconfirmed_shutdown`]): a real rise behind glitches still acts.
    Erratic {
        /// The value read.
        value: f64,
        /// The value before the jump.
        from: f64,
        /// Unconfirmed jumps among the last [`ERRATIC_WINDOW`] samples.
        jumps: u8,
    },
}

/// Unconfirmed jumps among the last [`ERRATIC_WINDOW`] samples a sensor may give before they
/// are a fault ([`Fault::Erratic`]): one glitch, or a real step confirmed by the next sample,
/// is one jump.
pub const MAX_UNCONFIRMED: u8 = 3;

/// The samples [`MAX_UNCONFIRMED`] counts over.
pub const ERRATIC_WINDOW: u32 = 16;

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::NoReading => f.write_str("no reading"),
            Fault::Implausible { value, low, high } => write!(
                f,
                "implausible reading {} (outside {} to {})",
                format_value(*value),
                format_value(*low),
                format_value(*high)
            ),
            Fault::Saturated { value, low, high } => write!(
                f,
                "saturated reading {} (the top of the sensor's range {} to {})",
                format_value(*value),
                format_value(*low),
                format_value(*high)
            ),
            Fault::Unconfirmed { value, from } => write!(
                f,
                "unconfirmed jump from {} to {}",
                format_value(*from),
                format_value(*value)
            ),
            Fault::Erratic { value, from, jumps } => write!(
                f,
                "erratic: {jumps} unconfirmed jumps in the last {ERRATIC_WINDOW} readings (the \
                 last from {} to {}): the sensor is not trusted",
                format_value(*from),
                format_value(*value)
            ),
        }
    }
}

/// What a sensor's flapping did (see [`Damping`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Too many changes in the window: held at `held` (the worse state) until quiet.
    Damped {
        /// Committed changes within the window, this one included.
        changes: u8,
        /// The window, milliseconds.
        window_ms: u64,
        /// The state the sensor is held at.
        held: State,
        /// How long it must stay without an attempted change to be released, ms.
        quiet_ms: u64,
    },
    /// Quiet for the whole quiet window: judged normally again (from `held`).
    Released {
        /// The state it was held at.
        held: State,
    },
}

/// Flap damping: at most `max_changes` committed transitions per `window_ms`; the change
/// that would exceed it is not made towards "better" (the sensor is held at the worse state)
/// and the sensor stays held until `quiet_ms` pass without an attempted change. A change
/// towards "worse" is always made, held or not: damping never hides a danger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Damping {
    /// Changes allowed within the window (1 to [`MAX_DAMP_CHANGES`]).
    pub max_changes: u8,
    /// The window, milliseconds.
    pub window_ms: u64,
    /// Quiet time that releases a held sensor, milliseconds.
    pub quiet_ms: u64,
}

/// The most changes a damping window can allow.
pub const MAX_DAMP_CHANGES: usize = 16;

impl Default for Damping {
    /// 4 changes per 5 minutes, released after 5 quiet minutes.
    fn default() -> Self {
        Damping {
            max_changes: 4,
            window_ms: 300_000,
            quiet_ms: 300_000,
        }
    }
}

/// What the engine checks a sample against besides the spec, before judging it. The
/// default checks nothing (the bare state machine); the agent turns everything on
/// ([`Checks::guarded`]).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Checks {
    /// The values the sensor can produce, if its source says (the SDR's sensor minimum and
    /// maximum readings).
    pub sensor_range: Option<(f64, f64)>,
    /// Refuse values outside the class's [`physical_range`].
    pub physical: bool,
    /// Hold a temperature that jumps further than the part can change until the next sample
    /// confirms it.
    pub jumps: bool,
    /// Flap damping (none: every debounced change is made).
    pub damping: Option<Damping>,
}

impl Checks {
    /// Every check: the sensor's range, the physical range, jumps and `damping`.
    pub fn guarded(sensor_range: Option<(f64, f64)>, damping: Option<Damping>) -> Checks {
        Checks {
            sensor_range,
            physical: true,
            jumps: true,
            damping,
        }
    }
}

/// The physical range of a class's values (in the spec's unit): a reading outside it is a
/// sensor fault, never a state. Silicon is cut off by its own THERMTRIP near 100-125 C and
/// boards are rated down to -40 C: -55 to 150 C leaves a margin on both sides. Fans spin
/// below 50,000 RPM.
pub fn physical_range(spec: &SensorSpec) -> Option<(f64, f64)> {
    let c = |v: f64| match spec.unit {
        TempUnit::C => v,
        TempUnit::F => v * 9.0 / 5.0 + 32.0,
    };
    match spec.limits {
        Limits::Temperature { .. } => Some((c(-55.0), c(150.0))),
        Limits::Fan { .. } => Some((0.0, 50_000.0)),
        Limits::Voltage { .. } | Limits::Discrete => None,
    }
}

/// The fault of a value the sensor cannot produce (outside the sensor's range or the
/// class's physical range, or a temperature at the top of its sensor's range: saturated),
/// else `None`. No history: the jump check is [`SensorState`]'s.
pub fn implausible(spec: &SensorSpec, checks: &Checks, v: f64) -> Option<Fault> {
    let physical = physical_range(spec).filter(|_| checks.physical);
    for (low, high) in [checks.sensor_range, physical].into_iter().flatten() {
        if !(low..=high).contains(&v) {
            return Some(Fault::Implausible {
                value: v,
                low,
                high,
            });
        }
    }
    // A temperature at the top of the sensor's own range is saturated (raw 0xFF of an
    // unsigned sensor: a stuck or failed sensor, or at least not a value).
    match (spec.limits, checks.sensor_range) {
        (Limits::Temperature { .. }, Some((low, high))) if v >= high => Some(Fault::Saturated {
            value: v,
            low,
            high,
        }),
        _ => None,
    }
}

/// How far a temperature may move between two samples `dt_ms` apart before the new value
/// needs confirming: 20 degrees C plus 10 per second. A package under a sudden full load
/// rises a few degrees a second at most; 30 in one second is a sensor glitch or a bus error.
fn max_step(spec: &SensorSpec, dt_ms: u64) -> Option<f64> {
    let per_c = match spec.unit {
        TempUnit::C => 1.0,
        TempUnit::F => 1.8,
    };
    matches!(spec.limits, Limits::Temperature { .. })
        .then(|| (20.0 + 10.0 * dt_ms as f64 / 1000.0) * per_c)
}

fn ranks(limits: &Limits) -> &'static [State] {
    match limits {
        Limits::Temperature { .. } => &[State::Ok, State::Warm, State::Critical, State::Shutdown],
        Limits::Voltage { .. } => &[State::Ok, State::Critical],
        Limits::Fan { .. } | Limits::Discrete => &[State::Ok, State::Failed],
    }
}

/// The rank a value reaches; `bias` is added to the value for comparisons against
/// "upper" thresholds and subtracted for "lower" ones (so a positive bias makes it worse).
fn classify(limits: &Limits, reading: Reading, bias: f64) -> Option<usize> {
    match (limits, reading) {
        (
            Limits::Temperature {
                warm,
                critical,
                shutdown,
            },
            Reading::Value(v),
        ) => {
            let v = v + bias;
            let reached = |t: &Option<f64>| t.is_some_and(|t| v >= t);
            Some(if reached(shutdown) {
                3
            } else if reached(critical) {
                2
            } else if reached(warm) {
                1
            } else {
                0
            })
        }
        (Limits::Fan { min_rpm }, Reading::Value(v)) => {
            Some(usize::from(min_rpm.is_some_and(|m| v - bias < m)))
        }
        (Limits::Voltage { low, high }, Reading::Value(v)) => Some(usize::from(
            low.is_some_and(|l| v - bias < l) || high.is_some_and(|h| v + bias > h),
        )),
        (Limits::Discrete, Reading::Good) => Some(0),
        (Limits::Discrete, Reading::Bad) => Some(1),
        // A fan its source says has failed (Redfish: `Health: Critical`) is failed, whatever
        // speed it last read; a source saying "good" gives no speed to judge.
        (Limits::Fan { .. }, Reading::Bad) => Some(1),
        // A discrete sensor given a number, or a numeric one given good/bad: treat a
        // mismatch as unreadable rather than guess.
        _ => None,
    }
}

impl SensorState {
    /// The judged state, ignoring availability.
    pub fn judged(&self, spec: &SensorSpec) -> State {
        ranks(&spec.limits)
            .get(self.rank)
            .copied()
            .unwrap_or(State::Ok)
    }

    /// The state to show: `Unavailable` while unreadable, else the judged state.
    pub fn shown(&self, spec: &SensorSpec) -> State {
        if self.unavailable {
            State::Unavailable
        } else {
            self.judged(spec)
        }
    }

    /// Whether the sensor is currently unavailable.
    pub fn is_unavailable(&self) -> bool {
        self.unavailable
    }

    /// The source stopped answering (a dead BMC, a lost session, a silent service): the
    /// value is no longer shown as current. Unavailable at once, not after
    /// `unavailable_after` samples: one sensor without a reading may be a glitch, a source
    /// that does not answer speaks for all its sensors. The judged state is kept, so nothing
    /// is said again when readings return.
    pub fn source_lost(&mut self) {
        if self.updated_ms.is_some() {
            self.unavailable = true;
            self.value = None;
        }
    }

    /// Feeds one sample taken at `now_ms`; returns the committed transition, if any. No
    /// [`Checks`]: the bare state machine.
    pub fn step(&mut self, spec: &SensorSpec, reading: Reading, now_ms: u64) -> Option<Transition> {
        self.step_with(spec, &Checks::default(), reading, now_ms)
    }

    /// Takes what the last step had to say beside its transition (damped, released).
    pub fn take_notice(&mut self) -> Option<Notice> {
        self.notice.take()
    }

    /// Whether flap damping holds the sensor at its worse state.
    pub fn is_held(&self) -> bool {
        self.held_until.is_some()
    }

    /// A value that cannot be, or that jumped: the fault, else `None` (judge it).
    fn check_value(
        &mut self,
        spec: &SensorSpec,
        checks: &Checks,
        v: f64,
        now_ms: u64,
    ) -> Option<Fault> {
        if let Some(fault) = implausible(spec, checks, v) {
            return Some(fault);
        }
        let before = self.base.seen.replace((v, now_ms));
        let (from, at) = before.filter(|_| checks.jumps)?;
        let within = |(base, at): (f64, u64)| {
            max_step(spec, now_ms.saturating_sub(at)).is_none_or(|l| (v - base).abs() <= l)
        };
        // Confirmed by the sample before (a real step, read twice), or continuing the last
        // judged value (the return from one glitch is no second jump).
        (!within((from, at)) && !self.base.judged.is_some_and(within))
            .then_some(Fault::Unconfirmed { value: v, from })
    }

    /// Whether the sensor is erratic (see [`JumpBase::erratic`]).
    fn erratic(&self) -> bool {
        self.base.erratic
    }

    /// Remembers whether the newest value sample was an unconfirmed jump, and whether the
    /// sensor is erratic now.
    fn remember_jump(&mut self, jump: bool) {
        let mask = u16::MAX >> (16 - ERRATIC_WINDOW.min(16));
        self.recent = ((self.recent << 1) | u16::from(jump)) & mask;
        let n = self.recent.count_ones();
        if n > u32::from(MAX_UNCONFIRMED) {
            self.base.erratic = true;
        } else if n <= u32::from(ERRATIC_CLEAR) {
            self.base.erratic = false;
        }
    }

    /// An erratic sensor is unavailable, its fault the last jump (whatever else the last
    /// sample was), and no value of it is shown as current.
    fn mark_erratic(&mut self) {
        if !self.erratic() {
            return;
        }
        let (value, from) = self.base.jump.unwrap_or((f64::NAN, f64::NAN));
        self.fault = Some(Fault::Erratic {
            value,
            from,
            jumps: u8::try_from(self.recent.count_ones()).unwrap_or(u8::MAX),
        });
        self.unavailable = true;
        self.value = None;
    }

    /// An erratic sensor's last jump, when it reached the shutdown threshold: the value, for
    /// the confirmation by direct reads that decides whether the rise behind the glitches is
    /// real (the samples alone cannot tell a real 105 C behind 25 C glitches from a 25 C
    /// part with 105 C glitches).
    pub fn unconfirmed_shutdown(&self, spec: &SensorSpec) -> Option<f64> {
        // Only the newest sample's jump: a judged sample since says the part is below.
        let (value, _) = self
            .base
            .jump
            .filter(|_| self.erratic() && self.recent & 1 == 1)?;
        let ranks = ranks(&spec.limits);
        (ranks.last() == Some(&State::Shutdown)
            && classify(&spec.limits, Reading::Value(value), 0.0) == Some(ranks.len() - 1))
        .then_some(value)
    }

    /// A sample that is not judged: restarts every debounce, counts towards unavailable.
    /// An unconfirmed jump does neither (the sensor reads; a glitch is no evidence either
    /// way): it is skipped, and jumps that keep coming make the sensor erratic.
    fn not_judged(&mut self, spec: &SensorSpec, fault: Fault) -> Option<Transition> {
        if let Fault::Unconfirmed { value, from } = fault {
            self.base.jump = Some((value, from));
            self.remember_jump(true);
            if !self.unavailable {
                self.fault = Some(fault);
            }
            self.mark_erratic();
            return None;
        }
        // A rise that waited for its true level is made at the level its runs supported:
        // a gap must not lose it.
        let deferred = self.deferred.take().filter(|&t| t > self.rank);
        let made = deferred.map(|t| self.commit(spec, t));
        self.runs = [0; MAX_RANK + 1];
        self.fault = Some(fault);
        self.failures = self.failures.saturating_add(1);
        // Still erratic: a missing reading does not make it trusted.
        if self.failures >= spec.unavailable_after.max(1) || self.erratic() {
            self.unavailable = true;
            self.value = None;
        }
        made
    }

    /// Moves to rank `target`: the transition, the runs between the old rank and the new
    /// restarted (runs for ranks beyond both keep their meaning: a sample that already
    /// counted towards shutdown still counts after entering critical).
    fn commit(&mut self, spec: &SensorSpec, target: usize) -> Transition {
        let from = self.judged(spec);
        let (lo, hi) = (self.rank.min(target), self.rank.max(target));
        for run in self.runs.iter_mut().take(hi + 1).skip(lo) {
            *run = 0;
        }
        self.rank = target;
        Transition {
            from,
            to: self.judged(spec),
            value: self.value,
        }
    }

    /// [`SensorState::step`] with the sensor's range and flap damping.
    pub fn step_with(
        &mut self,
        spec: &SensorSpec,
        checks: &Checks,
        reading: Reading,
        now_ms: u64,
    ) -> Option<Transition> {
        self.notice = None;
        let Some(up) = classify(&spec.limits, reading, 0.0) else {
            // "Consecutive" means readable and consecutive: a gap restarts every debounce.
            return self.not_judged(spec, Fault::NoReading);
        };
        if let Reading::Value(v) = reading {
            if let Some(fault) = self.check_value(spec, checks, v, now_ms) {
                return self.not_judged(spec, fault);
            }
            self.remember_jump(false);
        }
        let transition = self.judge(spec, checks, reading, up, now_ms);
        // An erratic sensor stays unavailable (its fault said) until its window holds
        // ERRATIC_CLEAR jumps or fewer; the samples that passed are judged underneath.
        self.mark_erratic();
        transition
    }

    /// Judges a sample that passed every check (its rank `up`).
    fn judge(
        &mut self,
        spec: &SensorSpec,
        checks: &Checks,
        reading: Reading,
        up: usize,
        now_ms: u64,
    ) -> Option<Transition> {
        self.failures = 0;
        self.fault = None;
        self.unavailable = false;
        self.deferred = None;
        self.updated_ms = Some(now_ms);
        self.value = match reading {
            Reading::Value(v) => Some(v),
            _ => None,
        };
        self.base.judged = self.value.map(|v| (v, now_ms));
        let down = classify(&spec.limits, reading, spec.hysteresis.max(0.0)).unwrap_or(up);
        let top = ranks(&spec.limits).len() - 1;
        for (l, run) in self.runs.iter_mut().enumerate().take(top + 1) {
            let supports = (l > self.rank && up >= l) || (l < self.rank && down <= l);
            *run = if supports { run.saturating_add(1) } else { 0 };
        }
        if let Some(d) = checks.damping {
            let suggested = if up > self.rank {
                up
            } else if down < self.rank {
                down
            } else {
                self.rank
            };
            self.track_hold(spec, &d, suggested, now_ms);
        }
        let need = spec.debounce.max(1);
        let target = (self.rank + 1..=top)
            .rev()
            .find(|&l| self.runs[l] >= need)
            .or_else(|| (0..self.rank).find(|&l| self.runs[l] >= need))?;
        // A rise is said at its true level: while the newest sample is past the rank the
        // runs support (its own rank not confirmed yet), the move waits rather than saying
        // "Warm" of a value past critical. It waits while samples keep rising past what
        // their runs support (at most the debounce times the ranks); a sample back at the
        // supported rank commits it, and so does a gap (see `not_judged`).
        if target > self.rank && up > target {
            self.deferred = Some(target);
            return None;
        }
        if let Some(d) = checks.damping {
            if !self.damp_allows(spec, &d, target, now_ms) {
                self.runs = [0; MAX_RANK + 1];
                return None;
            }
        }
        Some(self.commit(spec, target))
    }

    /// While held: a change of what the samples suggest restarts the quiet time; a whole
    /// quiet time without one releases the sensor (judged normally again from the held state).
    fn track_hold(&mut self, spec: &SensorSpec, d: &Damping, suggested: usize, now_ms: u64) {
        let Some(until) = self.held_until else {
            return;
        };
        if suggested != self.proposed {
            self.proposed = suggested;
            self.held_until = Some(now_ms.saturating_add(d.quiet_ms));
        } else if now_ms >= until {
            self.held_until = None;
            self.changes = [None; MAX_DAMP_CHANGES];
            self.notice = Some(Notice::Released {
                held: self.judged(spec),
            });
        }
    }

    /// Whether damping lets the change to `target` be made now (and records it when it does).
    fn damp_allows(&mut self, spec: &SensorSpec, d: &Damping, target: usize, now_ms: u64) -> bool {
        let worse = target > self.rank;
        if self.held_until.is_some() {
            // Held: only a change for the worse is made (damping never hides a danger).
            return worse;
        }
        let max = usize::from(d.max_changes).clamp(1, MAX_DAMP_CHANGES);
        let recent = self
            .changes
            .iter()
            .flatten()
            .filter(|&&t| now_ms.saturating_sub(t) < d.window_ms)
            .count();
        if recent < max {
            self.changes.rotate_left(1);
            self.changes[MAX_DAMP_CHANGES - 1] = Some(now_ms);
            return true;
        }
        // One change too many: hold at the worse of the two states.
        let held_rank = self.rank.max(target);
        self.held_until = Some(now_ms.saturating_add(d.quiet_ms));
        self.proposed = target;
        let held = ranks(&spec.limits)
            .get(held_rank)
            .copied()
            .unwrap_or(State::Ok);
        self.notice = Some(Notice::Damped {
            changes: u8::try_from(recent + 1).unwrap_or(u8::MAX),
            window_ms: d.window_ms,
            held,
            quiet_ms: d.quiet_ms,
        });
        worse
    }
}

/// Formats a value for a message: whole numbers without decimals, others with one.
pub fn format_value(v: f64) -> String {
    let rounded = v.round();
    if (v - rounded).abs() < 0.05 {
        format!("{rounded:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A reading with its unit as operators read it (`show environment`, the agent's own log
/// lines): volts with two decimals, everything else as [`format_value`] gives it. The one
/// place a value with its unit is formatted.
pub fn format_reading(v: f64, unit: &str) -> String {
    match unit {
        "V" => format!("{v:.2} V"),
        unit => format!("{} {unit}", format_value(v)),
    }
}

/// The catalog message for a committed transition of a sensor, if its class has one.
pub fn message_for(spec: &SensorSpec, t: &Transition) -> Option<Emission> {
    let label = spec.label.as_str();
    let value = t.value.map(format_value).unwrap_or_else(|| "-".into());
    let unit = spec.unit.as_str();
    let temp = |ok: u32, warm: u32, crit: u32| {
        let id = match t.to {
            State::Ok => ok,
            State::Warm => warm,
            State::Critical | State::Shutdown => crit,
            State::Failed | State::Unavailable => return None,
        };
        Some(Emission::new(id, &[label, &value, unit]))
    };
    let pair = |ok: u32, bad: u32| {
        let id = if t.to == State::Ok { ok } else { bad };
        Some(Emission::new(id, &[label]))
    };
    // Critical and shutdown share their message (the shutdown has its own, 735022, from the
    // shutdown path): a move between the two says nothing again.
    let crit = |s: State| matches!(s, State::Critical | State::Shutdown);
    if crit(t.from) && crit(t.to) {
        return None;
    }
    match spec.class {
        Class::Fan => pair(735001, 735002),
        Class::Psu => pair(735003, 735004),
        Class::PsuFan => pair(735011, 735012),
        Class::Voltage => pair(735013, 735014),
        // The BMC's redundancy sensor is one witness of [`Redundancy::judge`], which speaks.
        Class::PsuRedundancy => None,
        Class::Backplane => Some(Emission::new(
            if t.to == State::Ok { 743002 } else { 743001 },
            &[],
        )),
        Class::CpuTemp => temp(735020, 735015, 735007),
        Class::ChassisAmbient => temp(735021, 735016, 735008),
        Class::PsuTemp => temp(735017, 735019, 735018),
        Class::IohubTemp => temp(735024, 735026, 735025),
        // The guide has no warm/critical/OK message for the regulator; only 735027 at shutdown.
        Class::CpuVrTemp => None,
    }
}

/// Power-supply redundancy: lost when fewer than `min_ok` power supplies are judged OK.
/// An unreadable supply keeps its last judged state, so a BMC outage does not report a loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Redundancy {
    lost: Option<bool>,
}

impl Redundancy {
    /// Whether redundancy is currently lost (`None` before the first evaluation).
    pub fn lost(&self) -> Option<bool> {
        self.lost
    }

    /// Re-evaluates with `ok` supplies judged OK of a board that needs `min_ok`. At the first
    /// evaluation only a loss is reported; afterwards every change is.
    pub fn update(&mut self, ok: usize, min_ok: usize) -> Option<Emission> {
        self.judge(None, Some(ok < min_ok))
    }

    /// Re-evaluates from both witnesses: the BMC's redundancy sensor (`sensor`: lost or not,
    /// `None` when there is none or it has not read) and the count of healthy supplies
    /// against the board's need (`count`). Lost when either says lost; OK only when every
    /// witness that speaks says OK; nothing changes while none speaks.
    pub fn judge(&mut self, sensor: Option<bool>, count: Option<bool>) -> Option<Emission> {
        let lost = match (sensor, count) {
            (None, None) => return None,
            (s, c) => s == Some(true) || c == Some(true),
        };
        let before = self.lost.replace(lost);
        match (before, lost) {
            (None, true) | (Some(false), true) => Some(Emission::new(735006, &[])),
            (Some(true), false) => Some(Emission::new(735005, &[])),
            _ => None,
        }
    }
}

/// What the count of supplies says of redundancy, for [`Redundancy::judge`]: lost when the
/// supplies that have not failed cannot make `min_ok` (a supply read and failed, or the board
/// names fewer than it needs), OK when `ok` read OK are enough, and nothing (`None`) while
/// supplies never read leave it open, or the board needs none. A supply never read is
/// unknown, never a failure: missing data raises no 735006.
pub fn supply_count_says_lost(ok: usize, unknown: usize, min_ok: usize) -> Option<bool> {
    if min_ok == 0 {
        None
    } else if ok >= min_ok {
        Some(false)
    } else if ok + unknown < min_ok {
        Some(true)
    } else {
        None
    }
}

/// 735010 ("failed to update one or more of its records"), said once per failure: sent when
/// a record fails that was not failing when 735010 was last sent, at most once per
/// `interval_ms`. Records that keep failing are not reported again; one that recovers and
/// fails later is. Records are the caller's keys `K` (an item's position, or a key for "no
/// CPU temperature is readable").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateFailures<K: Ord + Copy = usize> {
    interval_ms: u64,
    last_sent_ms: Option<u64>,
    reported: std::collections::BTreeSet<K>,
    failing: bool,
}

impl<K: Ord + Copy> UpdateFailures<K> {
    /// A limiter sending at most one 735010 per `interval_ms`.
    pub fn new(interval_ms: u64) -> Self {
        UpdateFailures {
            interval_ms,
            last_sent_ms: None,
            reported: std::collections::BTreeSet::new(),
            failing: false,
        }
    }

    /// Records a sweep's failing records at `now_ms`; returns 735010 when it should be sent.
    pub fn sweep(
        &mut self,
        failing: &std::collections::BTreeSet<K>,
        now_ms: u64,
    ) -> Option<Emission> {
        self.reported.retain(|k| failing.contains(k));
        self.failing = !failing.is_empty();
        if failing.is_subset(&self.reported) {
            return None;
        }
        let due = self
            .last_sent_ms
            .is_none_or(|t| now_ms.saturating_sub(t) >= self.interval_ms);
        due.then(|| {
            self.last_sent_ms = Some(now_ms);
            self.reported.extend(failing.iter().copied());
            Emission::new(735010, &[])
        })
    }

    /// Whether the last sweep failed to update a record.
    pub fn failing(&self) -> bool {
        self.failing
    }
}

/// What a thermal shutdown is for: the three parts the guide has shutdown messages for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShutdownKind {
    /// A CPU (735022; at the next boot 735023).
    Cpu,
    /// A CPU voltage regulator (735027; at the next boot 735028).
    CpuVr,
    /// The IO hub (735029; the guide has no boot message).
    IoHub,
}

impl ShutdownKind {
    /// The kind a class's shutdown rank triggers; other classes never shut down (their
    /// shutdown threshold acts as a critical one).
    pub fn for_class(class: Class) -> Option<ShutdownKind> {
        match class {
            Class::CpuTemp => Some(ShutdownKind::Cpu),
            Class::CpuVrTemp => Some(ShutdownKind::CpuVr),
            Class::IohubTemp => Some(ShutdownKind::IoHub),
            _ => None,
        }
    }

    /// The name in the reason record: `cpu`, `cpu_vr`, `iohub`.
    pub fn name(self) -> &'static str {
        match self {
            ShutdownKind::Cpu => "cpu",
            ShutdownKind::CpuVr => "cpu_vr",
            ShutdownKind::IoHub => "iohub",
        }
    }

    /// Parses [`ShutdownKind::name`].
    pub fn from_name(name: &str) -> Option<ShutdownKind> {
        [ShutdownKind::Cpu, ShutdownKind::CpuVr, ShutdownKind::IoHub]
            .into_iter()
            .find(|k| k.name() == name)
    }

    /// The message sent before shutting down; `label` is the sensor's device number.
    pub fn message(self, label: &str) -> Emission {
        match self {
            ShutdownKind::Cpu => Emission::new(735022, &[label]),
            ShutdownKind::CpuVr => Emission::new(735027, &[label]),
            ShutdownKind::IoHub => Emission::new(735029, &[]),
        }
    }

    /// The message at the next boot, if the guide has one.
    pub fn boot_message(self) -> Option<Emission> {
        match self {
            ShutdownKind::Cpu => Some(Emission::new(735023, &[])),
            ShutdownKind::CpuVr => Some(Emission::new(735028, &[])),
            ShutdownKind::IoHub => None,
        }
    }
}

/// The thermal shutdown a committed transition calls for: entering the shutdown rank of a
/// CPU, CPU regulator or IO hub temperature. The rank is only entered after `debounce`
/// consecutive readable samples at or above the threshold, so a glitch, or a sensor that
/// becomes unreadable while critical, never calls for one.
pub fn shutdown_for(spec: &SensorSpec, t: &Transition) -> Option<ShutdownKind> {
    // A committed transition always changes state, so entering is `to == Shutdown`.
    (t.to == State::Shutdown)
        .then(|| ShutdownKind::for_class(spec.class))
        .flatten()
}

/// The threshold a transition reached (going up) or cleared (coming back to ok), as
/// (index, value): temperatures warm 1, critical 2, shutdown 3; a fan's minimum 1; a
/// voltage's low 1 and high 2 (the one nearer the value). `None` for discrete sensors and
/// for transitions to or from `unavailable`.
pub fn transition_threshold(
    limits: &Limits,
    from: State,
    to: State,
    value: Option<f64>,
) -> Option<(u32, f64)> {
    if from == State::Unavailable || to == State::Unavailable {
        return None;
    }
    match *limits {
        Limits::Temperature {
            warm,
            critical,
            shutdown,
        } => {
            let rank = |s: State| match s {
                State::Warm => Some(1),
                State::Critical => Some(2),
                State::Shutdown => Some(3),
                _ => None,
            };
            let index = rank(to).or(rank(from))?;
            let value = [warm, critical, shutdown][index as usize - 1]?;
            Some((index, value))
        }
        Limits::Fan { min_rpm } => min_rpm.map(|m| (1, m)),
        Limits::Voltage { low, high } => match (low, high, value) {
            (Some(l), Some(h), Some(v)) => Some(if (v - l).abs() <= (v - h).abs() {
                (1, l)
            } else {
                (2, h)
            }),
            (Some(l), _, _) => Some((1, l)),
            (None, Some(h), _) => Some((2, h)),
            (None, None, _) => None,
        },
        Limits::Discrete => None,
    }
}

/// The shutdown threshold of a spec, if it has one.
pub fn shutdown_threshold(spec: &SensorSpec) -> Option<f64> {
    match spec.limits {
        Limits::Temperature { shutdown, .. } => shutdown,
        _ => None,
    }
}
