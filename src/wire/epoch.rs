//! The epoch travels as its 16 raw bytes; the store and everything above the
//! wire hold it as 32 lowercase hex characters.

use super::WireError;

pub(super) fn to_bytes(epoch: &str) -> Result<[u8; 16], WireError> {
    let bad = || WireError::BadEpoch(epoch.to_owned());
    let hex = epoch.as_bytes();
    if hex.len() != 32 {
        return Err(bad());
    }
    let mut bytes = [0u8; 16];
    for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = (nibble(pair[0]).ok_or_else(bad)? << 4) | nibble(pair[1]).ok_or_else(bad)?;
    }
    Ok(bytes)
}

pub(super) fn to_hex(bytes: &[u8; 16]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lowercase only: an uppercase epoch would not come back as the same string.
fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_what_would_not() {
        let epoch = "00112233445566778899aabbccddeeff";
        let bytes = to_bytes(epoch).expect("valid");
        assert_eq!(bytes[0], 0x00);
        assert_eq!(bytes[15], 0xff);
        assert_eq!(to_hex(&bytes), epoch);
        for bad in [
            "",
            "e1",
            "00112233445566778899AABBCCDDEEFF",
            "00112233445566778899aabbccddeef",
            "00112233445566778899aabbccddeeff0",
            "0011223344556677889gaabbccddeeff",
            "00112233445566778899aabbccddeé",
        ] {
            assert_eq!(to_bytes(bad), Err(WireError::BadEpoch(bad.to_owned())));
        }
    }
}
