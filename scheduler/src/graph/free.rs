//! The graph's free slots, handed out lowest index first.
//!
//! A stack of freed slots hands them back in the order tasks happened to finish, so a
//! batch built after many completions lands on scattered slots and every later access
//! to it (dependency resolution, completion) misses the cache. A bitmap handed out
//! lowest-first keeps a batch on consecutive slots, in batch order.
//!
//! Invariant: no free bit lies in a word below `low`; `count` is the number of set
//! bits.

/// A set of free slot indices.
#[derive(Debug, Default)]
pub(super) struct FreeSlots {
    words: Vec<u64>,
    low: usize,
    count: usize,
}

impl FreeSlots {
    /// Marks `slot` free. It must not be free already.
    pub(super) fn push(&mut self, slot: u32) {
        let (word, bit) = (slot as usize / 64, slot % 64);
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        debug_assert!(
            self.words[word] & (1 << bit) == 0,
            "slot {slot} freed twice"
        );
        self.words[word] |= 1 << bit;
        self.count += 1;
        self.low = self.low.min(word);
    }

    /// Takes the lowest free slot.
    pub(super) fn pop(&mut self) -> Option<u32> {
        if self.count == 0 {
            return None;
        }
        // `count > 0` and the invariant put a set bit at or after `low`.
        while self.words[self.low] == 0 {
            self.low += 1;
        }
        let word = &mut self.words[self.low];
        let bit = word.trailing_zeros();
        *word &= !(1 << bit);
        self.count -= 1;
        Some((self.low * 64) as u32 + bit)
    }
}

#[cfg(test)]
mod tests {
    use super::FreeSlots;

    #[test]
    fn hands_out_lowest_first_whatever_the_order_of_freeing() {
        let mut free = FreeSlots::default();
        for slot in [130, 3, 64, 7, 0, 129] {
            free.push(slot);
        }
        let order: Vec<u32> = std::iter::from_fn(|| free.pop()).collect();
        assert_eq!(order, [0, 3, 7, 64, 129, 130]);
        assert_eq!(free.pop(), None);
        free.push(65);
        free.push(2);
        assert_eq!(free.pop(), Some(2));
        assert_eq!(free.pop(), Some(65));
        assert_eq!(free.pop(), None);
    }
}
