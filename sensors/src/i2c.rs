//! I2C drivers, generic over embedded-hal 1.0's `I2c` trait. Each owns its bus
//! (`new(bus, address)` / `destroy()`), as rust-embedded's sensor drivers do; on Linux the bus
//! is linux-embedded-hal's `I2cdev` (`open`).

use embedded_hal::i2c::I2c;

/// LM75 / TMP75-class temperature sensor: the temperature register (0x00) is a big-endian
/// two's-complement value in 1/256 °C steps (LM75 uses the top 9 bits, TMP75 the top 12).
pub struct Lm75<I2C> {
    bus: I2C,
    address: u8,
}

impl<I2C: I2c> Lm75<I2C> {
    /// The driver for the chip at `address` on `bus`.
    pub fn new(bus: I2C, address: u8) -> Self {
        Lm75 { bus, address }
    }

    /// The bus back.
    pub fn destroy(self) -> I2C {
        self.bus
    }

    /// The temperature in °C.
    pub fn temperature(&mut self) -> Result<f64, I2C::Error> {
        let mut buf = [0u8; 2];
        self.bus.write_read(self.address, &[0x00], &mut buf)?;
        Ok(f64::from(i16::from_be_bytes(buf)) / 256.0)
    }
}

/// PMBus commands envmon reads.
pub mod pmbus_cmd {
    /// STATUS_WORD.
    pub const STATUS_WORD: u8 = 0x79;
    /// READ_TEMPERATURE_1 (LINEAR11, °C).
    pub const READ_TEMPERATURE_1: u8 = 0x8D;
    /// READ_FAN_SPEED_1 (LINEAR11, RPM).
    pub const READ_FAN_SPEED_1: u8 = 0x90;
}

/// STATUS_WORD bits envmon reads (PMBus part II, 10.2 and 10.3).
pub mod status_bits {
    /// The unit is off (not providing power).
    pub const OFF: u16 = 1 << 6;
    /// Output overvoltage fault.
    pub const VOUT_OV_FAULT: u16 = 1 << 5;
    /// Output overcurrent fault.
    pub const IOUT_OC_FAULT: u16 = 1 << 4;
    /// Input undervoltage fault.
    pub const VIN_UV_FAULT: u16 = 1 << 3;
    /// A temperature fault or warning.
    pub const TEMPERATURE: u16 = 1 << 2;
    /// POWER_GOOD# (set: power is not good).
    pub const POWER_GOOD_N: u16 = 1 << 11;
    /// A fan fault or warning.
    pub const FANS: u16 = 1 << 10;
    /// An input fault or warning.
    pub const INPUT: u16 = 1 << 13;
    /// An output voltage fault or warning.
    pub const VOUT: u16 = 1 << 15;
}

/// Whether a STATUS_WORD says the supply has failed: off, an output or input fault, or power
/// not good. A temperature or fan warning alone is not a supply failure.
pub fn status_failed(word: u16) -> bool {
    use status_bits::*;
    word & (OFF | VOUT_OV_FAULT | IOUT_OC_FAULT | VIN_UV_FAULT | POWER_GOOD_N | INPUT | VOUT) != 0
}

/// Whether a STATUS_WORD reports a fan fault.
pub fn status_fan_failed(word: u16) -> bool {
    word & status_bits::FANS != 0
}

/// Decodes PMBus LINEAR11: a 5-bit two's-complement exponent over an 11-bit two's-complement
/// mantissa.
pub fn linear11(raw: u16) -> f64 {
    let exponent = ((raw as i16) >> 11) as i32;
    let mantissa = (((raw & 0x07ff) as i16) << 5) >> 5;
    f64::from(mantissa) * 2f64.powi(exponent)
}

/// A PMBus power supply.
pub struct Pmbus<I2C> {
    bus: I2C,
    address: u8,
}

impl<I2C: I2c> Pmbus<I2C> {
    /// The driver for the supply at `address` on `bus`.
    pub fn new(bus: I2C, address: u8) -> Self {
        Pmbus { bus, address }
    }

    /// The bus back.
    pub fn destroy(self) -> I2C {
        self.bus
    }

    fn word(&mut self, cmd: u8) -> Result<u16, I2C::Error> {
        let mut buf = [0u8; 2];
        self.bus.write_read(self.address, &[cmd], &mut buf)?;
        Ok(u16::from_le_bytes(buf))
    }

    /// READ_TEMPERATURE_1, °C.
    pub fn temperature(&mut self) -> Result<f64, I2C::Error> {
        self.word(pmbus_cmd::READ_TEMPERATURE_1).map(linear11)
    }

    /// READ_FAN_SPEED_1, RPM.
    pub fn fan_speed(&mut self) -> Result<f64, I2C::Error> {
        self.word(pmbus_cmd::READ_FAN_SPEED_1).map(linear11)
    }

    /// STATUS_WORD.
    pub fn status_word(&mut self) -> Result<u16, I2C::Error> {
        self.word(pmbus_cmd::STATUS_WORD)
    }
}

/// An embedded-hal I2C bus over SMBus word and byte reads, for adapters that only speak
/// SMBus (i2c-stub, many SMBus controllers), as the kernel's own lm75 and pmbus drivers do.
/// It carries `write_read(addr, [cmd], buf)` with a 1- or 2-byte `buf`, which is all the
/// drivers here ask; anything else is `Unsupported`.
pub struct SmbusBus {
    path: std::path::PathBuf,
    dev: Option<(u8, i2cdev::linux::LinuxI2CDevice)>,
}

/// An SMBus error.
#[derive(Debug)]
pub struct SmbusError {
    kind: embedded_hal::i2c::ErrorKind,
    /// What went wrong.
    pub detail: String,
}

impl embedded_hal::i2c::Error for SmbusError {
    fn kind(&self) -> embedded_hal::i2c::ErrorKind {
        self.kind
    }
}

impl SmbusBus {
    /// The bus at `path` (`/dev/i2c-N`); opened on first use.
    pub fn new(path: &std::path::Path) -> Self {
        SmbusBus {
            path: path.to_path_buf(),
            dev: None,
        }
    }
}

impl embedded_hal::i2c::ErrorType for SmbusBus {
    type Error = SmbusError;
}

impl I2c for SmbusBus {
    fn transaction(
        &mut self,
        address: u8,
        ops: &mut [embedded_hal::i2c::Operation<'_>],
    ) -> Result<(), SmbusError> {
        use embedded_hal::i2c::{ErrorKind, Operation};
        use i2cdev::core::I2CDevice;
        let other = |detail: String| SmbusError {
            kind: ErrorKind::Other,
            detail,
        };
        let [Operation::Write([cmd]), Operation::Read(buf)] = ops else {
            return Err(SmbusError {
                kind: ErrorKind::Other,
                detail: "only command reads over SMBus".into(),
            });
        };
        if self.dev.as_ref().map(|(a, _)| *a) != Some(address) {
            let d = i2cdev::linux::LinuxI2CDevice::new(&self.path, u16::from(address))
                .map_err(|e| other(format!("{}: {e}", self.path.display())))?;
            self.dev = Some((address, d));
        }
        let Some((_, dev)) = self.dev.as_mut() else {
            return Err(other("no device".into()));
        };
        match buf.len() {
            1 => {
                buf[0] = dev
                    .smbus_read_byte_data(*cmd)
                    .map_err(|e| other(e.to_string()))?
            }
            2 => buf.copy_from_slice(
                &dev.smbus_read_word_data(*cmd)
                    .map_err(|e| other(e.to_string()))?
                    .to_le_bytes(),
            ),
            n => return Err(other(format!("an SMBus read of {n} bytes"))),
        }
        Ok(())
    }
}

/// Opens `/dev/i2c-BUS` (under `root`) through linux-embedded-hal.
pub fn open(root: &std::path::Path, bus: u8) -> Result<linux_embedded_hal::I2cdev, String> {
    let path = root.join(format!("dev/i2c-{bus}"));
    linux_embedded_hal::I2cdev::new(&path).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::i2c::ErrorKind;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};

    #[test]
    fn lm75_positive_negative_and_half_degrees() {
        let mut bus = Mock::new(&[
            Transaction::write_read(0x48, vec![0x00], vec![0x19, 0x80]),
            Transaction::write_read(0x48, vec![0x00], vec![0xE7, 0x00]),
            Transaction::write_read(0x48, vec![0x00], vec![0x00, 0x00]),
        ]);
        let mut t = Lm75::new(bus.clone(), 0x48);
        assert_eq!(t.temperature().unwrap(), 25.5);
        assert_eq!(t.temperature().unwrap(), -25.0);
        assert_eq!(t.temperature().unwrap(), 0.0);
        t.destroy();
        bus.done();
    }

    #[test]
    fn lm75_bus_error_then_recovery() {
        let mut bus = Mock::new(&[
            Transaction::write_read(0x48, vec![0x00], vec![0, 0]).with_error(ErrorKind::Other),
            Transaction::write_read(0x48, vec![0x00], vec![0x2A, 0x00]),
        ]);
        let mut t = Lm75::new(bus.clone(), 0x48);
        assert!(t.temperature().is_err());
        assert_eq!(t.temperature().unwrap(), 42.0);
        bus.done();
    }

    #[test]
    fn linear11_decodes_exponent_and_mantissa() {
        // exponent -2 (0b11110), mantissa 180 -> 45.0
        assert_eq!(linear11((0b11110 << 11) | 180), 45.0);
        // exponent 3, mantissa 500 -> 4000
        assert_eq!(linear11((3 << 11) | 500), 4000.0);
        // exponent 0, mantissa -1 (0x7ff)
        assert_eq!(linear11(0x07ff), -1.0);
        assert_eq!(linear11(0), 0.0);
    }

    #[test]
    fn pmbus_reads_temperature_fan_and_status() {
        let temp: u16 = (0b11110 << 11) | 180;
        let fan: u16 = (3 << 11) | 500;
        let mut bus = Mock::new(&[
            Transaction::write_read(0x58, vec![0x8D], temp.to_le_bytes().to_vec()),
            Transaction::write_read(0x58, vec![0x90], fan.to_le_bytes().to_vec()),
            Transaction::write_read(0x58, vec![0x79], 0x0000u16.to_le_bytes().to_vec()),
            Transaction::write_read(0x58, vec![0x79], 0x0000u16.to_le_bytes().to_vec())
                .with_error(ErrorKind::Other),
        ]);
        let mut p = Pmbus::new(bus.clone(), 0x58);
        assert_eq!(p.temperature().unwrap(), 45.0);
        assert_eq!(p.fan_speed().unwrap(), 4000.0);
        assert_eq!(p.status_word().unwrap(), 0);
        assert!(p.status_word().is_err());
        p.destroy();
        bus.done();
    }

    #[test]
    fn every_status_word_fault_bit() {
        use status_bits::*;
        for bit in [
            OFF,
            VOUT_OV_FAULT,
            IOUT_OC_FAULT,
            VIN_UV_FAULT,
            POWER_GOOD_N,
            INPUT,
            VOUT,
        ] {
            assert!(status_failed(bit), "0x{bit:04x} is a supply failure");
            assert!(!status_fan_failed(bit));
        }
        for bit in [TEMPERATURE, FANS] {
            assert!(
                !status_failed(bit),
                "0x{bit:04x} alone is not a supply failure"
            );
        }
        assert!(status_fan_failed(FANS));
        assert!(!status_failed(0) && !status_fan_failed(0));
    }
}
