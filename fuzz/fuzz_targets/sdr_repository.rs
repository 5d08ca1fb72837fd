//! A hostile BMC answering the chunked SDR repository walk with the fuzzer's bytes: the
//! reader ends (bounded), errs or returns records, never loops or panics.
#![no_main]
use envmon_sensors::ipmi::{IpmiError, IpmiErrorKind, Transport, repo};
use libfuzzer_sys::fuzz_target;

/// Each answer: a length byte, then that many bytes (0xFF length: a completion code next).
struct Hostile<'a> {
    data: &'a [u8],
    calls: u32,
}

impl Transport for Hostile<'_> {
    fn call(&mut self, _: u8, _: u8, _: &[u8]) -> Result<Vec<u8>, IpmiError> {
        self.calls += 1;
        assert!(self.calls < 100_000, "the walk does not end");
        let Some((&len, rest)) = self.data.split_first() else {
            return Err(IpmiError::new(IpmiErrorKind::Transport, "end of input"));
        };
        if len == 0xFF {
            let cc = rest.first().copied().unwrap_or(0xC0);
            self.data = rest.get(1..).unwrap_or(&[]);
            return Err(IpmiError::new(IpmiErrorKind::Completion(cc), "cc"));
        }
        let n = usize::from(len).min(rest.len());
        let (answer, tail) = rest.split_at(n);
        self.data = tail;
        Ok(answer.to_vec())
    }
    fn commands(&self) -> u64 {
        u64::from(self.calls)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut t = Hostile { data, calls: 0 };
    let _ = repo::info(&mut t);
    if let Ok(records) = repo::read_all(&mut t) {
        for r in records {
            let _ = envmon_sensors::ipmi::sdr::parse_record(&r);
        }
    }
});
