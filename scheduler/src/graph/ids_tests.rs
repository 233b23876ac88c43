use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

fn id(n: u64) -> TaskId {
    TaskId::new(n)
}

/// Records ids `[lo, lo + n)` as a block, id `lo + k` live in slot `base + k`.
fn block(ids: &mut Ids, lo: u64, n: usize, base: u32) {
    assert!(ids.block_fits(lo, n), "[{lo}, {lo} + {n}) fits");
    let mut cells = ids.take_cells(n);
    for (k, cell) in cells.iter_mut().enumerate() {
        *cell = base + k as u32;
    }
    ids.push_block(lo, cells);
    ids.check();
}

#[test]
fn block_ids_are_found_without_the_map_and_reused_in_place() {
    let mut ids = Ids::default();
    block(&mut ids, 100, 40, 0);
    assert_eq!(ids.len(), 40);
    assert!(ids.map.is_empty());
    assert_eq!(ids.get(id(100)), Some(Entry::Live(0)));
    assert_eq!(ids.get(id(139)), Some(Entry::Live(39)));
    assert_eq!(ids.get(id(99)), None);
    assert_eq!(ids.get(id(140)), None);

    // A single insert into the block's range is a duplicate, and changes nothing.
    assert!(!ids.insert_new(id(120), 77));
    assert_eq!(ids.get(id(120)), Some(Entry::Live(20)));
    // Next to it, the id goes into the map.
    assert!(ids.insert_new(id(140), 50));
    assert_eq!(ids.get(id(140)), Some(Entry::Live(50)));
    assert_eq!(ids.len(), 41);

    // Forgetting one id of the block leaves the others where they were; the id can
    // be reused, in its cell (not in the map).
    assert_eq!(ids.remove(id(120)), Some(Entry::Live(20)));
    assert_eq!(ids.remove(id(120)), None);
    assert_eq!(ids.get(id(120)), None);
    assert_eq!(ids.get(id(119)), Some(Entry::Live(19)));
    assert_eq!(ids.get(id(121)), Some(Entry::Live(21)));
    assert_eq!(ids.len(), 40);
    ids.check();
    assert!(ids.insert_new(id(120), 90));
    assert_eq!(ids.get(id(120)), Some(Entry::Live(90)));
    assert!(!ids.map.contains_key(&id(120)));
    assert_eq!(ids.len(), 41);
    ids.check();
}

#[test]
fn a_new_block_must_not_meet_any_known_id() {
    let mut ids = Ids::default();
    block(&mut ids, 100, 40, 0);
    // Overlapping the block at either end, inside it, or around it.
    assert!(!ids.block_fits(70, 40));
    assert!(!ids.block_fits(139, 40));
    assert!(!ids.block_fits(90, 100));
    // Touching it is fine.
    assert!(ids.block_fits(60, 40));
    assert!(ids.block_fits(140, 40));
    // Too small, or past the end of the id space.
    assert!(!ids.block_fits(1000, MIN_BLOCK - 1));
    assert!(!ids.block_fits(u64::MAX - 10, 40));
    // Even a forgotten block id keeps the range from a new block: the batch goes id
    // by id into the cells.
    ids.remove(id(100));
    assert!(!ids.block_fits(61, 40));

    // A map id in the range refuses the block: found by scanning a small map ...
    assert!(ids.insert_new(id(200), 0));
    assert!(!ids.block_fits(180, 40));
    assert!(!ids.block_fits(200, 40));
    assert!(ids.block_fits(201, 40), "beyond the map's bounds");
    assert!(ids.block_fits(160, 40), "ends right before the map id");
    // ... or by probing each id of the range in a large one.
    for k in 1..=100 {
        assert!(ids.insert_new(id(200 + k * 1000), k as u32));
    }
    assert!(!ids.block_fits(190, 40));
    assert!(!ids.block_fits(1190, 40));
    assert!(
        ids.block_fits(300, 40),
        "within the bounds but no map id in range"
    );
    block(&mut ids, 300, 40, 1000);
    ids.check();
}

#[test]
fn failure_records_inside_blocks() {
    let mut ids = Ids::default();
    block(&mut ids, 100, 40, 0);
    ids.set_failed(id(105), FailureReason::Panicked);
    ids.set_failed(id(106), FailureReason::DependencyFailed(id(105)));
    ids.check();
    assert_eq!(ids.len(), 40);
    assert_eq!(
        ids.get(id(105)),
        Some(Entry::Failed(FailureReason::Panicked))
    );
    assert_eq!(
        ids.remove(id(106)),
        Some(Entry::Failed(FailureReason::DependencyFailed(id(105))))
    );
    assert_eq!(ids.get(id(106)), None);
    assert!(!ids.insert_new(id(105), 9), "a failed id is still taken");
    ids.check();

    // Forgetting failures and the refused live records trims the block to what is
    // left; ids outside the trimmed range then go to the map.
    ids.retain_live(|slot| (10..20).contains(&slot));
    ids.check();
    assert_eq!(ids.len(), 10);
    assert_eq!(ids.get(id(105)), None);
    assert_eq!(ids.get(id(110)), Some(Entry::Live(10)));
    assert_eq!((ids.blocks[0].lo, ids.blocks[0].cells.len()), (110, 10));
    assert!(ids.insert_new(id(105), 3));
    assert!(ids.map.contains_key(&id(105)));
    ids.check();
}

#[test]
fn a_block_goes_with_its_last_id_and_its_cells_are_reused() {
    let mut ids = Ids::default();
    block(&mut ids, 0, 32, 0);
    block(&mut ids, 64, 32, 100);
    for k in 0..32 {
        assert_eq!(ids.remove(id(k)), Some(Entry::Live(k as u32)));
        ids.check();
    }
    assert_eq!(ids.blocks.len(), 1);
    assert_eq!(ids.len(), 32);
    assert!(
        ids.spare.capacity() >= 32,
        "the dropped block's cells are kept"
    );
    assert!(ids.block_fits(0, 64));
    block(&mut ids, 0, 64, 200);
    assert_eq!(ids.get(id(3)), Some(Entry::Live(203)));
    // A refused batch's block goes whole.
    ids.remove_block(0);
    ids.check();
    assert_eq!(ids.len(), 32);
    assert_eq!(ids.get(id(3)), None);
    ids.retain_live(|_| false);
    ids.check();
    assert_eq!(ids.len(), 0);
    assert!(ids.blocks.is_empty());
    block(&mut ids, 64, 32, 0);
    ids.insert_new(id(7), 1);
    ids.clear();
    ids.check();
    assert_eq!(
        (ids.len(), ids.get(id(64)), ids.get(id(7))),
        (0, None, None)
    );
}

/// One operation of the model test.
#[derive(Clone, Debug)]
enum Op {
    Block(u64, usize),
    Insert(u64),
    Fail(u64),
    Remove(u64),
    Retain(u32),
    Clear,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u64..400, 28usize..80).prop_map(|(lo, n)| Op::Block(lo, n)),
        4 => (0u64..500).prop_map(Op::Insert),
        2 => (0u64..500).prop_map(Op::Fail),
        4 => (0u64..500).prop_map(Op::Remove),
        1 => (0u32..4).prop_map(Op::Retain),
        1 => Just(Op::Clear),
    ]
}

proptest! {
    /// Blocks and map together behave as one map from id to record.
    #[test]
    fn ids_behave_like_a_plain_map(ops in prop::collection::vec(op(), 1..60)) {
        let mut ids = Ids::default();
        let mut model: HashMap<u64, Entry> = HashMap::new();
        let mut next_slot = 0u32;
        for op in ops {
            match op {
                Op::Block(lo, n) => {
                    let free = n >= MIN_BLOCK && (lo..lo + n as u64).all(|i| !model.contains_key(&i));
                    let fits = ids.block_fits(lo, n);
                    // A range overlapping a block is refused even if its ids are free.
                    prop_assert!(!fits || free);
                    if fits {
                        let mut cells = ids.take_cells(n);
                        for (k, cell) in cells.iter_mut().enumerate() {
                            *cell = next_slot;
                            model.insert(lo + k as u64, Entry::Live(next_slot));
                            next_slot += 1;
                        }
                        ids.push_block(lo, cells);
                    }
                }
                Op::Insert(i) => {
                    let fresh = !model.contains_key(&i);
                    prop_assert_eq!(ids.insert_new(id(i), next_slot), fresh);
                    if fresh {
                        model.insert(i, Entry::Live(next_slot));
                        next_slot += 1;
                    }
                }
                Op::Fail(i) => {
                    if model.contains_key(&i) {
                        let reason = FailureReason::DependencyFailed(id(i / 2));
                        ids.set_failed(id(i), reason);
                        model.insert(i, Entry::Failed(reason));
                    }
                }
                Op::Remove(i) => prop_assert_eq!(ids.remove(id(i)), model.remove(&i)),
                Op::Retain(m) => {
                    ids.retain_live(|slot| slot % 4 != m);
                    model.retain(|_, e| matches!(*e, Entry::Live(slot) if slot % 4 != m));
                }
                Op::Clear => {
                    ids.clear();
                    model.clear();
                }
            }
            ids.check();
            prop_assert_eq!(ids.len(), model.len());
            for i in 0..600 {
                prop_assert_eq!(ids.get(id(i)), model.get(&i).copied(), "id {}", i);
            }
        }
    }
}
