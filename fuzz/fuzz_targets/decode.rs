//! `wire::decode` on arbitrary bytes: never panics, and whatever it accepts
//! `encode` accepts and gives back.

#![no_main]

use dockside::wire::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = decode(data) {
        let bytes = encode(&msg).expect("a decoded message encodes");
        assert_eq!(decode(&bytes), Ok(msg));
    }
});
