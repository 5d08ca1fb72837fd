//! LM75 and PMBus drivers given whatever the bus answers.
#![no_main]
use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, Operation};
use envmon_sensors::i2c::{Lm75, Pmbus, linear11, status_failed, status_fan_failed};
use libfuzzer_sys::fuzz_target;

/// A bus whose reads return the fuzzer's bytes, then errors.
struct Bus<'a>(&'a [u8]);

#[derive(Debug)]
struct Nak;
impl embedded_hal::i2c::Error for Nak {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Other
    }
}
impl ErrorType for Bus<'_> {
    type Error = Nak;
}
impl I2c for Bus<'_> {
    fn transaction(&mut self, _: u8, ops: &mut [Operation<'_>]) -> Result<(), Nak> {
        for op in ops {
            if let Operation::Read(buf) = op {
                if self.0.len() < buf.len() {
                    return Err(Nak);
                }
                let (now, rest) = self.0.split_at(buf.len());
                buf.copy_from_slice(now);
                self.0 = rest;
            }
        }
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let mut lm75 = Lm75::new(Bus(data), 0x48);
    if let Ok(t) = lm75.temperature() {
        assert!(t.is_finite());
    }
    let mut p = Pmbus::new(Bus(data), 0x58);
    let _ = p.temperature();
    let _ = p.fan_speed();
    if let Ok(w) = p.status_word() {
        let _ = (status_failed(w), status_fan_failed(w));
    }
    if let Some(b) = data.get(..2) {
        let _ = linear11(u16::from_le_bytes([b[0], b[1]]));
    }
});
