//! One reader per board item whose source is on the board's own buses (hwmon, I2C, GPIO,
//! network carrier). A read never panics and never invents a value: a missing or garbage
//! file, or a bus error, is `Reading::Unreadable`, and the reason is logged once per change.

use crate::{i2c, sysfs};
use envmon_board_defs::{I2cDriver, Source};
use envmon_core::engine::Reading;
use std::path::{Path, PathBuf};

enum Kind {
    Hwmon {
        chip: String,
        label: String,
        input: Option<(PathBuf, sysfs::HwmonKind)>,
    },
    I2c {
        bus: u8,
        address: u8,
        driver: I2cDriver,
        dev: Option<I2cBus>,
    },
    Gpio {
        line: u32,
        active_low: bool,
    },
    Net(String),
}

/// An open I2C bus: plain transfers, or SMBus reads for adapters that only speak SMBus.
enum I2cBus {
    Hal(linux_embedded_hal::I2cdev),
    Smbus(i2c::SmbusBus),
}

/// A reader for one item.
pub struct LocalReader {
    root: PathBuf,
    what: String,
    kind: Kind,
    last_problem: Option<String>,
}

impl LocalReader {
    /// The reader for `source` under `root`; `None` for IPMI sources.
    pub fn new(source: &Source, root: &Path) -> Option<LocalReader> {
        let kind = match source {
            Source::IpmiName(_) | Source::IpmiNumber(_) | Source::Redfish(_) => return None,
            Source::Hwmon { chip, label } => Kind::Hwmon {
                chip: chip.clone(),
                label: label.clone(),
                input: None,
            },
            Source::I2c {
                bus,
                address,
                driver,
            } => Kind::I2c {
                bus: *bus,
                address: *address,
                driver: *driver,
                dev: None,
            },
            Source::Gpio { line, active_low } => Kind::Gpio {
                line: *line,
                active_low: *active_low,
            },
            Source::Net(iface) => Kind::Net(iface.clone()),
        };
        Some(LocalReader {
            root: root.to_path_buf(),
            what: source.to_string(),
            kind,
            last_problem: None,
        })
    }

    fn try_read(&mut self) -> Result<Reading, String> {
        let root = &self.root;
        match &mut self.kind {
            Kind::Hwmon { chip, label, input } => read_hwmon(root, chip, label, input),
            Kind::Net(iface) => Ok(if sysfs::net_carrier(root, iface)? {
                Reading::Good
            } else {
                Reading::Bad
            }),
            Kind::Gpio { line, active_low } => {
                Ok(if sysfs::gpio_active(root, *line, *active_low)? {
                    Reading::Good
                } else {
                    Reading::Bad
                })
            }
            Kind::I2c {
                bus,
                address,
                driver,
                dev,
            } => read_i2c_item(root, *bus, *address, *driver, dev),
        }
    }

    /// Reads once. Problems are logged when they start or change, and once when they end.
    pub fn read(&mut self) -> Reading {
        match self.try_read() {
            Ok(r) => {
                if self.last_problem.take().is_some() {
                    log::info!("{}: readable again", self.what);
                }
                r
            }
            Err(why) => {
                if self.last_problem.as_deref() != Some(why.as_str()) {
                    log::warn!("{}: unavailable: {why}", self.what);
                    self.last_problem = Some(why);
                }
                Reading::Unreadable
            }
        }
    }
}

/// A hwmon channel: the one found before, else found now. A chip re-probed since (driver
/// reloaded, device re-bound) has a new `hwmonN`: when the old path fails, look once more,
/// within this read, so that a re-probe costs no reading. The path is kept only while it
/// reads.
fn read_hwmon(
    root: &Path,
    chip: &str,
    label: &str,
    input: &mut Option<(PathBuf, sysfs::HwmonKind)>,
) -> Result<Reading, String> {
    let stale = match input.take() {
        Some((path, kind)) => match sysfs::hwmon_read(&path, kind) {
            Ok(v) => {
                *input = Some((path, kind));
                return Ok(Reading::Value(v));
            }
            Err(e) => Some(e),
        },
        None => None,
    };
    let (path, kind) = sysfs::hwmon_find(root, chip, label).map_err(|why| match &stale {
        Some(e) => format!("{e}; looked again: {why}"),
        None => why,
    })?;
    let v = sysfs::hwmon_read(&path, kind)?;
    *input = Some((path, kind));
    Ok(Reading::Value(v))
}

/// A chip on an I2C bus. The bus is kept only after a good read (a bus error reopens it
/// next time); plain I2C transfers first (linux-embedded-hal), and an adapter that only
/// speaks SMBus gets SMBus reads from then on.
fn read_i2c_item(
    root: &Path,
    bus: u8,
    address: u8,
    driver: I2cDriver,
    dev: &mut Option<I2cBus>,
) -> Result<Reading, String> {
    let what = |e: String| format!("i2c-{bus} 0x{address:02x}: {e}");
    match dev.take() {
        Some(I2cBus::Hal(d)) => {
            let (r, d) = read_i2c(d, address, driver);
            if r.is_ok() {
                *dev = Some(I2cBus::Hal(d));
            }
            r.map_err(what)
        }
        Some(I2cBus::Smbus(d)) => {
            let (r, d) = read_i2c(d, address, driver);
            if r.is_ok() {
                *dev = Some(I2cBus::Smbus(d));
            }
            r.map_err(what)
        }
        None => {
            let (r, d) = read_i2c(i2c::open(root, bus).map_err(what)?, address, driver);
            if r.is_ok() {
                *dev = Some(I2cBus::Hal(d));
                return r.map_err(what);
            }
            let path = root.join(format!("dev/i2c-{bus}"));
            let (r2, d2) = read_i2c(i2c::SmbusBus::new(&path), address, driver);
            if r2.is_ok() {
                if first_said(bus) {
                    log::info!("i2c-{bus}: the adapter speaks SMBus only; using SMBus reads");
                }
                *dev = Some(I2cBus::Smbus(d2));
            }
            r2.map_err(|e2| what(format!("{} (SMBus: {e2})", r.err().unwrap_or_default())))
        }
    }
}

/// Whether `bus` is named for the first time by this process: the adapter's kind is said
/// once per bus, not once per chip on it.
fn first_said(bus: u8) -> bool {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SAID: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
    let bit = 1u64 << (bus % 64);
    SAID[usize::from(bus / 64)].fetch_or(bit, Ordering::Relaxed) & bit == 0
}

/// One read with a driver that owns the bus for the read, returning the bus.
pub fn read_i2c<I2C: embedded_hal::i2c::I2c>(
    bus: I2C,
    address: u8,
    driver: I2cDriver,
) -> (Result<Reading, String>, I2C) {
    let err = |e: I2C::Error| format!("bus error: {:?}", embedded_hal::i2c::Error::kind(&e));
    match driver {
        I2cDriver::Lm75 => {
            let mut d = i2c::Lm75::new(bus, address);
            let r = d.temperature().map(Reading::Value).map_err(err);
            (r, d.destroy())
        }
        I2cDriver::PmbusTemp | I2cDriver::PmbusFan | I2cDriver::PmbusStatus => {
            let mut d = i2c::Pmbus::new(bus, address);
            let r = match driver {
                I2cDriver::PmbusTemp => d.temperature().map(Reading::Value),
                I2cDriver::PmbusFan => d.fan_speed().map(Reading::Value),
                _ => d.status_word().map(|w| {
                    if i2c::status_failed(w) {
                        Reading::Bad
                    } else {
                        Reading::Good
                    }
                }),
            }
            .map_err(err);
            (r, d.destroy())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::i2c::ErrorKind;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};

    #[test]
    fn a_bus_error_is_unreadable_and_the_next_read_recovers() {
        let mut bus = Mock::new(&[
            Transaction::write_read(0x48, vec![0x00], vec![0, 0])
                .with_error(ErrorKind::ArbitrationLoss),
            Transaction::write_read(0x48, vec![0x00], vec![0x1E, 0x00]),
            Transaction::write_read(0x58, vec![0x79], vec![0x40, 0x00]),
            Transaction::write_read(0x58, vec![0x79], vec![0x00, 0x00]),
        ]);
        let (r, b) = read_i2c(bus.clone(), 0x48, I2cDriver::Lm75);
        assert!(r.unwrap_err().contains("ArbitrationLoss"));
        let (r, b) = read_i2c(b, 0x48, I2cDriver::Lm75);
        assert_eq!(r, Ok(Reading::Value(30.0)));
        let (r, b) = read_i2c(b, 0x58, I2cDriver::PmbusStatus);
        assert_eq!(r, Ok(Reading::Bad), "STATUS_WORD OFF: supply failed");
        let (r, _) = read_i2c(b, 0x58, I2cDriver::PmbusStatus);
        assert_eq!(r, Ok(Reading::Good));
        bus.done();
    }
}
