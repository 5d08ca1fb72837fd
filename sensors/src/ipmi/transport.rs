//! The real transports: the kernel device (through ipmi-rs) and RMCP+ (envmon's own,
//! `rmcpplus/`).

use super::{
    IpmiError, IpmiErrorKind, Transport,
    rmcpplus::{Patience, RmcpPlus},
};
use ipmi_rs::{
    Ipmi, IpmiError as RsError,
    connection::{CompletionErrorCode, IpmiCommand, Message, NetFn},
    rmcp::{RmcpIpmiError, RmcpIpmiReceiveError},
};
use std::{path::Path, time::Duration};

/// Any request, answered with its raw data (the state bits ipmi-rs keeps private included).
struct Raw {
    netfn: u8,
    cmd: u8,
    data: Vec<u8>,
}

impl From<Raw> for Message {
    fn from(r: Raw) -> Message {
        Message::new_request(NetFn::from(r.netfn), r.cmd, r.data)
    }
}

impl IpmiCommand for Raw {
    type Output = Vec<u8>;
    type Error = ();
    fn parse_success_response(data: &[u8]) -> Result<Vec<u8>, ()> {
        Ok(data.to_vec())
    }
}

/// The byte of a completion code (ipmi-rs-core only maps the other way).
fn cc_byte(c: CompletionErrorCode) -> u8 {
    use CompletionErrorCode as C;
    match c {
        C::NodeBusy => 0xC0,
        C::InvalidCommand => 0xC1,
        C::InvalidCommandForLun => 0xC2,
        C::ProcessingTimeout => 0xC3,
        C::OutOfSpace => 0xC4,
        C::ReservationCancelledOrInvalidId => 0xC5,
        C::RequestDataTruncated => 0xC6,
        C::RequestDataLenInvalid => 0xC7,
        C::RequestDataLengthLimitExceeded => 0xC8,
        C::ParameterOutOfRange => 0xC9,
        C::CannotReturnNumOfRequestedBytes => 0xCA,
        C::RequestedDatapointNotPresent => 0xCB,
        C::InvalidDataFieldInRequest => 0xCC,
        C::CommandIllegalForSensorOrRecord => 0xCD,
        // ipmi-rs-core does not export the reason type, so 0xD0-0xD2 all read as 0xCE.
        C::ResponseUnavailable { .. } => 0xCE,
        C::CannotExecuteDuplicateRequest => 0xCF,
        C::DestinationUnavailable => 0xD3,
        C::InsufficientPrivilege => 0xD4,
        C::CannotExecuteCommandInCurrentState => 0xD5,
        C::SubFunctionDisabled => 0xD6,
        C::Unspecified => 0xFF,
        C::Oem(v) | C::CommandSpecific(v) | C::Reserved(v) => v,
    }
}

/// What an ipmi-rs connection error means for the session: the one place that maps ipmi-rs's
/// error types to [`IpmiErrorKind`], one impl per connection type.
pub trait ErrorKindOf {
    /// The kind.
    fn ipmi_kind(&self) -> IpmiErrorKind;
}

/// The device: an I/O error loses the request; the device itself has no session.
impl ErrorKindOf for std::io::Error {
    fn ipmi_kind(&self) -> IpmiErrorKind {
        IpmiErrorKind::Transport
    }
}

/// RMCP+: a socket error or timeout loses the request; everything of the session layer (not
/// active, a reply that fails its integrity or decryption check, is not IPMI, or is too
/// short) means the session no longer holds.
impl ErrorKindOf for RmcpIpmiError {
    fn ipmi_kind(&self) -> IpmiErrorKind {
        match self {
            RmcpIpmiError::Receive(RmcpIpmiReceiveError::Io(_)) | RmcpIpmiError::Send(_) => {
                IpmiErrorKind::Transport
            }
            RmcpIpmiError::NotActive | RmcpIpmiError::Receive(_) => IpmiErrorKind::Session,
        }
    }
}

/// An ipmi-rs connection as a [`Transport`], counting the requests it sends.
pub struct IpmiRs<C: ipmi_rs::connection::IpmiConnection> {
    ipmi: Ipmi<C>,
    what: String,
    commands: u64,
}

impl<C> Transport for IpmiRs<C>
where
    C: ipmi_rs::connection::IpmiConnection,
    C::Error: std::fmt::Debug + ErrorKindOf,
{
    fn call(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Result<Vec<u8>, IpmiError> {
        self.commands += 1;
        let detail = || format!("{}: netfn 0x{netfn:02x} cmd 0x{cmd:02x}", self.what);
        match self.ipmi.send_recv(Raw {
            netfn,
            cmd,
            data: data.to_vec(),
        }) {
            Ok(d) => Ok(d),
            Err(RsError::Failed {
                completion_code, ..
            })
            | Err(RsError::Command {
                completion_code: Some(completion_code),
                ..
            }) => Err(IpmiError::new(
                IpmiErrorKind::Completion(cc_byte(completion_code)),
                detail(),
            )),
            Err(RsError::Connection(e)) => Err(IpmiError::new(
                e.ipmi_kind(),
                format!("{}: {e:?}", detail()),
            )),
            // A reply to another request: the stream is out of step with the requests.
            Err(e @ (RsError::UnexpectedResponse { .. } | RsError::NetFnIsResponse(_))) => Err(
                IpmiError::new(IpmiErrorKind::Session, format!("{}: {e:?}", detail())),
            ),
            Err(e) => Err(IpmiError::new(
                IpmiErrorKind::Malformed,
                format!("{}: {e:?}", detail()),
            )),
        }
    }

    fn commands(&self) -> u64 {
        self.commands
    }
}

/// Where the BMC is and how to log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The kernel's IPMI device.
    Device(std::path::PathBuf),
    /// RMCP+ over UDP.
    Rmcp {
        /// Host.
        host: String,
        /// Port.
        port: u16,
        /// User name.
        user: String,
        /// Password (never logged).
        password: String,
        /// Requests in flight at once (see [`super::rmcpplus::Patience::window`]).
        window: usize,
    },
}

/// A connected transport of either kind.
pub enum Connected {
    /// `/dev/ipmi0` (through ipmi-rs).
    Device(IpmiRs<ipmi_rs::File>),
    /// RMCP+ (envmon's own session layer: [`super::rmcpplus`]).
    Rmcp(Box<RmcpPlus>),
}

impl Transport for Connected {
    fn call(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Result<Vec<u8>, IpmiError> {
        match self {
            Connected::Device(t) => t.call(netfn, cmd, data),
            Connected::Rmcp(t) => t.call(netfn, cmd, data),
        }
    }
    fn commands(&self) -> u64 {
        match self {
            Connected::Device(t) => t.commands(),
            Connected::Rmcp(t) => t.commands(),
        }
    }
    fn discarded(&self) -> u64 {
        match self {
            Connected::Device(t) => t.discarded(),
            Connected::Rmcp(t) => t.discarded(),
        }
    }
    fn call_many(&mut self, requests: &[super::Request]) -> Vec<Result<Vec<u8>, IpmiError>> {
        match self {
            Connected::Device(t) => t.call_many(requests),
            Connected::Rmcp(t) => t.call_many(requests),
        }
    }
    fn call_first(&mut self, requests: &[super::Request]) -> Result<Vec<u8>, IpmiError> {
        match self {
            Connected::Device(t) => t.call_first(requests),
            Connected::Rmcp(t) => t.call_first(requests),
        }
    }
    fn retransmissions(&self) -> u64 {
        match self {
            Connected::Device(t) => t.retransmissions(),
            Connected::Rmcp(t) => t.retransmissions(),
        }
    }
    fn sessions(&self) -> u64 {
        match self {
            Connected::Device(t) => t.sessions(),
            Connected::Rmcp(t) => t.sessions(),
        }
    }
}

/// Opens the device or an RMCP+ session (one session, kept for every later sweep).
pub fn connect(target: &Target, timeout: Duration) -> Result<Connected, IpmiError> {
    match target {
        Target::Device(path) => {
            let file = ipmi_rs::File::new(Path::new(path), timeout).map_err(|e| {
                IpmiError::new(IpmiErrorKind::Connect, format!("{}: {e}", path.display()))
            })?;
            Ok(Connected::Device(IpmiRs {
                ipmi: Ipmi::new(file),
                what: path.display().to_string(),
                commands: 0,
            }))
        }
        Target::Rmcp {
            host,
            port,
            user,
            password,
            window,
        } => {
            // The retransmission timer adapts to the link (RFC 6298, see rto.rs); its first
            // value, before any reply was timed, is half the request timeout (1 s by default).
            let patience = Patience {
                rto: super::rto::RtoBounds {
                    initial: timeout / 2,
                    ..super::rto::RtoBounds::default()
                },
                window: *window,
                setup_budget: timeout * 2,
                ..Patience::default()
            };
            let s = RmcpPlus::connect(host, *port, user, password, patience)?;
            Ok(Connected::Rmcp(Box::new(s)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rmcp_errors_say_whether_the_request_or_the_session_was_lost() {
        let io = || std::io::Error::new(std::io::ErrorKind::WouldBlock, "timed out");
        let cases = [
            (
                RmcpIpmiError::Receive(RmcpIpmiReceiveError::Io(io())),
                IpmiErrorKind::Transport,
            ),
            (RmcpIpmiError::NotActive, IpmiErrorKind::Session),
            (
                RmcpIpmiError::Receive(RmcpIpmiReceiveError::NotIpmi),
                IpmiErrorKind::Session,
            ),
            (
                RmcpIpmiError::Receive(RmcpIpmiReceiveError::EmptyMessage),
                IpmiErrorKind::Session,
            ),
            (
                RmcpIpmiError::Receive(RmcpIpmiReceiveError::NotEnoughData),
                IpmiErrorKind::Session,
            ),
        ];
        for (e, kind) in cases {
            assert_eq!(e.ipmi_kind(), kind, "{e:?}");
            assert!(IpmiError::new(e.ipmi_kind(), "x").needs_new_session());
        }
        assert_eq!(io().ipmi_kind(), IpmiErrorKind::Transport);
        assert!(!IpmiError::new(IpmiErrorKind::Completion(0xCB), "x").needs_new_session());
        assert!(IpmiError::new(IpmiErrorKind::Completion(0xD4), "x").needs_new_session());
        assert!(!IpmiError::new(IpmiErrorKind::Malformed, "x").needs_new_session());
    }
}
