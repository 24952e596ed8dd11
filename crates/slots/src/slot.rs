//! Which hash slot a key belongs to.
//!
//! Redis Cluster hashes keys with CRC16/XMODEM modulo 16384. When a key contains `{...}` with at
//! least one byte between the first `{` and the next `}`, only that part (the hash tag) is hashed,
//! so that related keys can be kept in one slot. redis-rs keeps its own slot function private,
//! hence this module.

/// Number of hash slots in a Redis Cluster.
pub const SLOTS: u16 = 16384;

/// The hash slot of `key`, honouring hash tags.
///
/// # Examples
/// ```
/// use cairn_slots::slot::slot_of;
/// assert_eq!(slot_of(b"{user1000}.following"), slot_of(b"{user1000}.followers"));
/// assert_eq!(slot_of(b"123456789"), 0x31C3 % 16384);
/// ```
pub fn slot_of(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) % SLOTS
}

/// The part of `key` that is hashed: the bytes between the first `{` and the next `}` when that
/// is not empty, else the whole key.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{')
        && let Some(len) = key[open + 1..].iter().position(|&b| b == b'}')
        && len > 0
    {
        return &key[open + 1..open + 1 + len];
    }
    key
}

/// CRC16/XMODEM (polynomial 0x1021, initial value 0), the checksum Redis Cluster uses.
pub fn crc16(data: &[u8]) -> u16 {
    crc16::State::<crc16::XMODEM>::calculate(data)
}

/// A key that hashes to `slot`, built as `{<tag>}<suffix>` where the tag is searched once per
/// slot; useful to write test data or load into a chosen slot.
///
/// Keys made by [`SlotKeys`] all carry the same hash tag, so every key lands in `slot`.
#[derive(Debug, Clone)]
pub struct SlotKeys {
    tags: Vec<String>,
}

impl SlotKeys {
    /// Finds one short hash tag for every slot (about 200k CRC computations; a few ms).
    pub fn new() -> SlotKeys {
        let mut tags: Vec<Option<String>> = vec![None; usize::from(SLOTS)];
        let mut missing = usize::from(SLOTS);
        let mut n: u64 = 0;
        while missing > 0 {
            let tag = format!("t{n}");
            let slot = usize::from(crc16(tag.as_bytes()) % SLOTS);
            if tags[slot].is_none() {
                tags[slot] = Some(tag);
                missing -= 1;
            }
            n += 1;
        }
        SlotKeys {
            tags: tags.into_iter().map(Option::unwrap_or_default).collect(),
        }
    }

    /// The hash tag (without braces) that maps to `slot`.
    ///
    /// # Panics
    /// When `slot >= 16384`.
    pub fn tag(&self, slot: u16) -> &str {
        &self.tags[usize::from(slot)]
    }

    /// A key in `slot`: `{tag}suffix`.
    ///
    /// # Panics
    /// When `slot >= 16384`.
    pub fn key(&self, slot: u16, suffix: &str) -> String {
        format!("{{{}}}{suffix}", self.tag(slot))
    }
}

impl Default for SlotKeys {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_test_vector() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn known_slots_from_redis_docs() {
        // `CLUSTER KEYSLOT` values observed on a real server.
        assert_eq!(slot_of(b"foo"), 12182);
        assert_eq!(slot_of(b"bar"), 5061);
        assert_eq!(slot_of(b"somekey"), 11058);
        assert_eq!(slot_of(b"hello"), 866);
    }

    #[test]
    fn hash_tags() {
        assert_eq!(hash_tag(b"{user1000}.following"), b"user1000");
        assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");
        assert_eq!(hash_tag(b"no tag"), b"no tag");
        assert_eq!(hash_tag(b"open{only"), b"open{only");
    }

    #[test]
    fn slot_keys_land_in_their_slot() {
        let keys = SlotKeys::new();
        for slot in [0u16, 1, 866, 12182, 16383] {
            assert_eq!(slot_of(keys.key(slot, ":x").as_bytes()), slot);
        }
    }
}
