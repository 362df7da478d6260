//! Dock doors: the signals their controllers report, the state derived from
//! them, and why a controller could not be read. No I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A signal's name as configured (`door_open`, `vehicle_present`, ...).
pub type SignalName = String;

/// Debounced signal values of one door, by name.
pub type Signals = BTreeMap<SignalName, bool>;

/// The signals the door state is derived from. Others may be configured;
/// they are carried in events but do not change the state.
pub mod signal {
    pub const DOOR_OPEN: &str = "door_open";
    pub const VEHICLE_PRESENT: &str = "vehicle_present";
    pub const RESTRAINT_ENGAGED: &str = "restraint_engaged";
    pub const LEVELLER_DEPLOYED: &str = "leveller_deployed";
    pub const FAULT: &str = "fault";
    /// Optional: a lock-out or maintenance switch.
    pub const OUT_OF_SERVICE: &str = "out_of_service";

    pub const KNOWN: [&str; 6] = [
        DOOR_OPEN,
        VEHICLE_PRESENT,
        RESTRAINT_ENGAGED,
        LEVELLER_DEPLOYED,
        FAULT,
        OUT_OF_SERVICE,
    ];
}

/// What the planner needs to know about a door.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoorState {
    /// No vehicle: the door can be assigned.
    Free,
    /// A vehicle is at the door (present or restrained), not being loaded.
    VehicleDocked,
    /// Vehicle present, door open, leveller deployed.
    Loading,
    /// The controller reports a fault.
    Fault,
    /// Locked out, or its controller cannot be read: not usable.
    OutOfService,
}

impl DoorState {
    pub const ALL: [DoorState; 5] = [
        DoorState::Free,
        DoorState::VehicleDocked,
        DoorState::Loading,
        DoorState::Fault,
        DoorState::OutOfService,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DoorState::Free => "free",
            DoorState::VehicleDocked => "vehicle_docked",
            DoorState::Loading => "loading",
            DoorState::Fault => "fault",
            DoorState::OutOfService => "out_of_service",
        }
    }

    /// The state the signals describe. A signal that is not configured
    /// counts as false. Faults win over everything, a lock-out over any use.
    pub fn derive(signals: &Signals) -> DoorState {
        let on = |name: &str| signals.get(name).copied().unwrap_or(false);
        if on(signal::FAULT) {
            DoorState::Fault
        } else if on(signal::OUT_OF_SERVICE) {
            DoorState::OutOfService
        } else if on(signal::VEHICLE_PRESENT)
            && on(signal::DOOR_OPEN)
            && on(signal::LEVELLER_DEPLOYED)
        {
            DoorState::Loading
        } else if on(signal::VEHICLE_PRESENT) || on(signal::RESTRAINT_ENGAGED) {
            DoorState::VehicleDocked
        } else {
            DoorState::Free
        }
    }
}

/// Why a device could not be read, as logged in `device_offline`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DeviceError {
    /// No (complete) reply within the per-request timeout.
    Timeout { after_ms: u64 },
    /// The device answered with a Modbus exception.
    Exception {
        /// The function code of the request (1-4).
        function: u8,
        code: u8,
        /// e.g. `illegal_data_address`.
        name: String,
    },
    /// Nothing listens on the device's address (TCP).
    ConnectionRefused,
    /// A reply that was not a valid answer to the request: bad CRC, wrong
    /// unit, wrong function, wrong length, garbage on the line.
    Framing { detail: String },
    /// Any other I/O failure: unreachable host, serial port missing or busy.
    Io { detail: String },
}

impl DeviceError {
    pub fn exception(function: u8, code: u8) -> DeviceError {
        DeviceError::Exception {
            function,
            code,
            name: exception_name(code).to_owned(),
        }
    }
}

impl std::fmt::Display for DeviceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceError::Timeout { after_ms } => write!(f, "timeout after {after_ms} ms"),
            DeviceError::Exception {
                function,
                code,
                name,
            } => write!(f, "exception {name} ({code}) to function {function}"),
            DeviceError::ConnectionRefused => f.write_str("connection refused"),
            DeviceError::Framing { detail } => write!(f, "framing error: {detail}"),
            DeviceError::Io { detail } => write!(f, "I/O error: {detail}"),
        }
    }
}

/// Modbus exception codes by name (Modbus Application Protocol v1.1b3, §7).
pub fn exception_name(code: u8) -> &'static str {
    match code {
        0x01 => "illegal_function",
        0x02 => "illegal_data_address",
        0x03 => "illegal_data_value",
        0x04 => "server_device_failure",
        0x05 => "acknowledge",
        0x06 => "server_device_busy",
        0x08 => "memory_parity_error",
        0x0A => "gateway_path_unavailable",
        0x0B => "gateway_target_device_failed_to_respond",
        _ => "unknown_exception",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signals(on: &[&str]) -> Signals {
        signal::KNOWN
            .iter()
            .map(|s| (s.to_string(), on.contains(s)))
            .collect()
    }

    #[test]
    fn state_follows_the_signals() {
        use signal::*;
        let cases: [(&[&str], DoorState); 8] = [
            (&[], DoorState::Free),
            (&[DOOR_OPEN], DoorState::Free),
            (&[VEHICLE_PRESENT], DoorState::VehicleDocked),
            (&[RESTRAINT_ENGAGED], DoorState::VehicleDocked),
            (
                &[VEHICLE_PRESENT, RESTRAINT_ENGAGED, DOOR_OPEN],
                DoorState::VehicleDocked,
            ),
            (
                &[
                    VEHICLE_PRESENT,
                    RESTRAINT_ENGAGED,
                    DOOR_OPEN,
                    LEVELLER_DEPLOYED,
                ],
                DoorState::Loading,
            ),
            (
                &[VEHICLE_PRESENT, DOOR_OPEN, LEVELLER_DEPLOYED, FAULT],
                DoorState::Fault,
            ),
            (&[VEHICLE_PRESENT, OUT_OF_SERVICE], DoorState::OutOfService),
        ];
        for (on, want) in cases {
            assert_eq!(DoorState::derive(&signals(on)), want, "{on:?}");
        }
        assert_eq!(DoorState::derive(&Signals::new()), DoorState::Free);
    }

    #[test]
    fn device_errors_serialize_with_a_type_tag() {
        let e = DeviceError::exception(3, 2);
        assert_eq!(
            serde_json::to_string(&e).expect("serializes"),
            r#"{"type":"exception","function":3,"code":2,"name":"illegal_data_address"}"#
        );
        assert_eq!(
            serde_json::to_string(&DeviceError::Timeout { after_ms: 500 }).expect("serializes"),
            r#"{"type":"timeout","after_ms":500}"#
        );
    }
}
