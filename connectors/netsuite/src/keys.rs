//! Idempotency keys in the form NetSuite documents them, and their generations.
//!
//! "Asynchronous Request Idempotency" (REST Web Services, subsect_164494900632) takes the key in
//! `X-NetSuite-Idempotency-Key` as a UUID (RFC 4122). Junction's keys are deterministic strings
//! (pipeline, route, source event, target), so the connector derives a name-based UUID (v5)
//! from them: the same write always goes under the same UUID, a different write never does.
//!
//! A key can be spent: NetSuite answers a key it has seen with the job it started, even when
//! that job failed. Sending the write again then needs a new key, derived from the same write
//! and a generation number, so that a crash between two generations still finds the same key.

use uuid::Uuid;

/// The namespace of every key this connector derives (a fixed random UUID).
const NAMESPACE: Uuid = Uuid::from_u128(0x23816e2e_24e8_4399_af92_b6a827552196);

/// Generations of one write's key tried before the connector gives up on it.
pub const MAX_GENERATIONS: u32 = 8;

/// The UUID sent for `key` in `generation` (0 is the write's own key).
pub fn idempotency_uuid(key: &str, generation: u32) -> String {
    let name = if generation == 0 {
        key.to_string()
    } else {
        format!("{key}#generation-{generation}")
    };
    Uuid::new_v5(&NAMESPACE, name.as_bytes())
        .hyphenated()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_rfc4122_uuids_stable_per_write_and_generation() {
        let k = idempotency_uuid(
            "stripe-to-netsuite/subscription-to-billing/evt_1/netsuite",
            0,
        );
        let parsed = Uuid::parse_str(&k).expect("a UUID");
        assert_eq!(parsed.get_version_num(), 5);
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(
            k,
            idempotency_uuid(
                "stripe-to-netsuite/subscription-to-billing/evt_1/netsuite",
                0
            )
        );
        let other = idempotency_uuid(
            "stripe-to-netsuite/subscription-to-billing/evt_2/netsuite",
            0,
        );
        let next = idempotency_uuid(
            "stripe-to-netsuite/subscription-to-billing/evt_1/netsuite",
            1,
        );
        assert_ne!(k, other);
        assert_ne!(k, next);
        assert_ne!(next, other);
    }
}
