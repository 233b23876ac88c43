//! Memory for task cells: mimalloc, not the process's global allocator.
//!
//! Why: a task cell is allocated by whichever thread spawns or submits the task and
//! freed by whichever thread drops its last reference — usually a worker, so most
//! frees cross threads. glibc's malloc serves those frees slowly (a lock on the
//! allocating thread's arena and chunk coalescing that misses the cache), which took
//! about a tenth of the workers' time on task graphs. mimalloc keeps free lists per
//! thread and per page and hands a cross-thread free back to the owning page with one
//! atomic push, which suits this pattern. The cells only; everything else the
//! runtime allocates still uses the global allocator.
//!
//! Without the `mimalloc` feature (on by default; `--no-default-features` turns it
//! off), or under loom, cells come from the global allocator instead: to count them
//! with a counting allocator (`examples/task_memory.rs`), or to run the tests under
//! valgrind, which does not see inside mimalloc's pages.
//!
//! A few allocations ahead: each thread keeps `AHEAD` (4) spare blocks of the
//! layout it allocated last, and asks the allocator for a new spare (and starts
//! loading its cache lines for writing) as it hands out the oldest. A recycled block
//! was usually last written by the worker that freed it, so its lines must first be
//! fetched from that core; ahead of time, that fetch overlaps with the setup of the
//! next few tasks instead of stalling this one. One spare ahead saved 4–10 ns per task
//! building the `dag` benchmark's graphs on one thread (up to a tenth of the build);
//! four ahead save another 4–9 (one task's setup is shorter than the fetch). A thread
//! keeps spares from its second allocation of a layout in a row on (a thread that
//! allocates once holds nothing), and replaces them once `SPARE_PATIENCE` allocations
//! in a row asked for other layouts; they are freed when the thread exits. Cells over
//! `MAX_SPARE_SIZE` bytes are allocated directly.
//!
//! Invariant: a pointer from [`allocate`] is freed only by [`free`], with the same
//! `T`, after its value was dropped or moved out. A spare holds no value: it is
//! uninitialized memory of its layout, owned by its thread until handed out or freed.

use std::alloc::Layout;
use std::ptr::NonNull;

/// The largest alignment `mi_malloc` guarantees (mimalloc's `MI_MAX_ALIGN_SIZE`).
#[cfg(all(feature = "mimalloc", not(taskweave_loom)))]
const MI_MALLOC_ALIGN: usize = 16;

/// `mi_malloc` for the usual cell (alignment 16 or less), `mi_malloc_aligned` only
/// beyond. The `mimalloc` crate's `GlobalAlloc` always takes the aligned entry point,
/// which over-allocates by the alignment whenever the page's local free list is empty
/// — the usual case for cells, whose frees come back from other threads — and so put
/// a 192-byte cell in a 224-byte block, across four cache lines instead of three.
#[cfg(all(feature = "mimalloc", not(taskweave_loom)))]
#[inline]
fn alloc_raw(layout: Layout) -> *mut u8 {
    if layout.align() <= MI_MALLOC_ALIGN {
        // SAFETY: plain C allocation of a non-zero size (`allocate` checks it); its
        // blocks are aligned to `MI_MALLOC_ALIGN`, enough for `layout`.
        unsafe { libmimalloc_sys::mi_malloc(layout.size()).cast() }
    } else {
        // SAFETY: as above, asking for the layout's (power-of-two) alignment.
        unsafe { libmimalloc_sys::mi_malloc_aligned(layout.size(), layout.align()).cast() }
    }
}

#[cfg(all(feature = "mimalloc", not(taskweave_loom)))]
/// # Safety
/// `ptr` came from [`alloc_raw`] with `layout` and is freed once.
#[inline]
unsafe fn free_raw(ptr: *mut u8, _layout: Layout) {
    // SAFETY: per the contract, `ptr` came from `mi_malloc` or `mi_malloc_aligned`
    // (both freed by `mi_free`) and is freed once.
    unsafe { libmimalloc_sys::mi_free(ptr.cast()) }
}

#[cfg(not(all(feature = "mimalloc", not(taskweave_loom))))]
#[inline]
fn alloc_raw(layout: Layout) -> *mut u8 {
    // SAFETY: the caller's layout has a non-zero size (`allocate` checks it).
    unsafe { std::alloc::alloc(layout) }
}

#[cfg(not(all(feature = "mimalloc", not(taskweave_loom))))]
/// # Safety
/// `ptr` came from [`alloc_raw`] with `layout` and is freed once.
#[inline]
unsafe fn free_raw(ptr: *mut u8, layout: Layout) {
    // SAFETY: per the contract.
    unsafe { std::alloc::dealloc(ptr, layout) }
}

/// Moves the value `make` returns into a new allocation of its own layout (as
/// `Box::new`). `make` runs once the memory is there, so that the value can be built
/// in place rather than on the stack and copied (a cell is a few cache lines). It
/// must not panic: the memory would leak (the one caller builds a plain struct).
#[inline(always)]
pub(crate) fn allocate<T>(make: impl FnOnce() -> T) -> NonNull<T> {
    let layout = Layout::new::<T>();
    const {
        assert!(
            std::mem::size_of::<T>() > 0,
            "task cells are never zero-sized"
        )
    };
    let ptr = alloc_ahead(layout).cast::<T>();
    let Some(ptr) = NonNull::new(ptr) else {
        std::alloc::handle_alloc_error(layout)
    };
    // SAFETY: `ptr` is fresh memory with `T`'s layout, valid for writes.
    unsafe { ptr.as_ptr().write(make()) };
    ptr
}

/// Frees an allocation made by [`allocate`] without dropping its value.
///
/// # Safety
/// `ptr` came from [`allocate::<T>`](allocate), is not freed yet, and its value was
/// dropped (or moved out); nothing uses the allocation afterwards.
pub(crate) unsafe fn free<T>(ptr: NonNull<T>) {
    // SAFETY: per the contract, `ptr` was allocated by `alloc_raw` with this layout
    // and is freed once.
    unsafe { free_raw(ptr.as_ptr().cast(), Layout::new::<T>()) }
}

/// A block of `layout` (null if the allocator failed), allocated ahead (see the
/// module docs).
#[cfg(not(taskweave_loom))]
#[inline]
fn alloc_ahead(layout: Layout) -> *mut u8 {
    ahead::take(layout).unwrap_or_else(|| alloc_raw(layout))
}

/// Under loom, threads are simulated: no per-thread spare.
#[cfg(taskweave_loom)]
#[inline]
fn alloc_ahead(layout: Layout) -> *mut u8 {
    alloc_raw(layout)
}

/// The per-thread spare blocks.
#[cfg(not(taskweave_loom))]
mod ahead {
    use std::alloc::Layout;
    use std::cell::Cell;

    use super::{alloc_raw, free_raw};

    /// How many allocations in a row may miss a thread's spare (another layout) before
    /// the spare is replaced by one of the layout asked for.
    const SPARE_PATIENCE: u32 = 8;

    /// The largest cell kept as a spare: larger ones (futures of kilobytes) are rare,
    /// a spare would hold as much memory again, and their setup dwarfs the fetch.
    const MAX_SPARE_SIZE: usize = 1024;

    /// How many blocks a thread keeps ahead: enough that a block's lines have arrived
    /// when it is handed out, a few tasks' setups after it was allocated.
    const AHEAD: usize = 4;

    /// A thread's spare blocks: uninitialized memory of `layout`, handed out oldest
    /// first (the one at `next`). All null if the thread keeps none; one is null only
    /// if the allocator failed.
    #[derive(Clone, Copy)]
    struct Spares {
        blocks: [*mut u8; AHEAD],
        /// The oldest block, handed out next.
        next: usize,
        layout: Layout,
        /// Allocations in a row that asked for another layout.
        misses: u32,
    }

    const NONE: Spares = Spares {
        blocks: [std::ptr::null_mut(); AHEAD],
        next: 0,
        layout: Layout::new::<u8>(),
        misses: 0,
    };

    /// A new block of `layout` (null if the allocator failed), whose lines start
    /// loading for writing now.
    #[inline]
    fn fetch(layout: Layout) -> *mut u8 {
        let block = alloc_raw(layout);
        if !block.is_null() {
            for line in (0..layout.size()).step_by(64) {
                crate::prefetch::for_write(block.wrapping_add(line));
            }
        }
        block
    }

    impl Spares {
        /// A full set of spares of `layout`.
        fn fresh(layout: Layout) -> Spares {
            Spares {
                blocks: std::array::from_fn(|_| fetch(layout)),
                layout,
                ..NONE
            }
        }

        /// Whether the thread keeps spares (of `layout`).
        fn kept(&self) -> bool {
            !self.blocks[0].is_null()
        }

        /// Frees the blocks.
        fn free(self) {
            for block in self.blocks {
                if !block.is_null() {
                    // SAFETY: the block came from `alloc_raw` with this layout and was
                    // not handed out: whoever takes the spares out of `SPARES` frees
                    // them or hands one out and puts the rest back, never both for one
                    // block (see `take` and `Reaper`).
                    unsafe { free_raw(block, self.layout) }
                }
            }
        }
    }

    thread_local! {
        /// Without a destructor, so that the hot path reads it without the checks a
        /// destructor-registered thread local needs: `REAPER` frees the spares instead.
        static SPARES: Cell<Spares> = const { Cell::new(NONE) };
        /// Frees the thread's spares when the thread exits; touched once per thread,
        /// when its first spares are made.
        static REAPER: Reaper = const { Reaper };
    }

    /// Frees the thread's spares at thread exit.
    struct Reaper;

    impl Drop for Reaper {
        fn drop(&mut self) {
            // `SPARES` has no destructor, so it is still readable here.
            let _ = SPARES.try_with(|cell| cell.replace(NONE).free());
        }
    }

    /// The thread's oldest spare block if its spares have `layout` (a new spare takes
    /// its place), else `None`. A thread keeps spares from its second allocation of a
    /// layout in a row on (a thread that allocates once holds nothing), and replaces
    /// them after [`SPARE_PATIENCE`] allocations in a row of other layouts.
    #[inline]
    pub(super) fn take(layout: Layout) -> Option<*mut u8> {
        if layout.size() > MAX_SPARE_SIZE {
            return None;
        }
        let mut spares = SPARES.get();
        if spares.layout == layout {
            if spares.kept() {
                let block = spares.blocks[spares.next];
                spares.blocks[spares.next] = fetch(layout);
                spares.next = (spares.next + 1) % AHEAD;
                spares.misses = 0;
                SPARES.set(spares);
                // Null only if the allocator failed: the caller asks it again.
                return (!block.is_null()).then_some(block);
            }
            // The second allocation of this layout in a row: keep spares from now on.
            // `REAPER` frees them at thread exit; while the thread exits (`REAPER`
            // gone), none are made.
            if REAPER.try_with(|_| ()).is_ok() {
                SPARES.set(Spares::fresh(layout));
            }
            return None;
        }
        if spares.kept() && spares.misses < SPARE_PATIENCE {
            spares.misses += 1;
            SPARES.set(spares);
            return None;
        }
        // The thread's first allocation, or another layout for too long: note the
        // layout (spares follow if the next allocation asks for it again).
        SPARES.set(Spares { layout, ..NONE });
        spares.free();
        None
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// Frees a block `take` handed out.
        fn give_back(block: *mut u8, layout: Layout) {
            // SAFETY: `block` came from `take`, i.e. from `alloc_raw` with `layout`,
            // and is freed once.
            unsafe { free_raw(block, layout) }
        }

        #[test]
        fn the_spare_serves_its_layout_and_is_replaced_after_patience_runs_out() {
            // A thread of its own: the test harness's thread may hold a spare already.
            std::thread::spawn(|| {
                let a = Layout::from_size_align(232, 8).unwrap();
                let b = Layout::from_size_align(128, 16).unwrap();
                assert_eq!(take(a), None, "the thread's first allocation");
                assert!(!SPARES.get().kept(), "one allocation: no spare held");
                assert_eq!(take(a), None, "the second makes the spares");
                // Each spare is handed out once, and replaced: twice round the ring
                // gives distinct blocks.
                let handed: Vec<*mut u8> = (0..2 * AHEAD)
                    .map(|_| take(a).expect("a spare, of the same layout"))
                    .collect();
                for (i, block) in handed.iter().enumerate() {
                    assert_eq!(*block as usize % a.align(), 0);
                    assert!(!handed[..i].contains(block), "a block handed out twice");
                }
                for block in handed {
                    give_back(block, a);
                }
                // Another layout misses, patiently, then takes the spare's place.
                for _ in 0..SPARE_PATIENCE {
                    assert_eq!(take(b), None);
                }
                let kept = take(a).expect("still the spare of `a` (a hit starts the count anew)");
                give_back(kept, a);
                for _ in 0..SPARE_PATIENCE + 2 {
                    assert_eq!(take(b), None);
                }
                let block = take(b).expect("the spare was replaced by one of `b`");
                assert_eq!(block as usize % b.align(), 0);
                give_back(block, b);
                assert_eq!(take(a), None, "`a` misses now");
                let large = Layout::from_size_align(MAX_SPARE_SIZE + 1, 8).unwrap();
                for _ in 0..SPARE_PATIENCE + 2 {
                    assert_eq!(take(large), None, "no spare for large cells");
                }
                let block = take(b).expect("the spare of `b` stays");
                give_back(block, b);
            })
            .join()
            .unwrap();
        }
    }
}

#[cfg(all(test, feature = "mimalloc", not(taskweave_loom)))]
mod mimalloc_tests {
    use super::*;

    extern "C" {
        /// mimalloc's size of the block behind `p` (linked from the same library).
        fn mi_usable_size(p: *const std::ffi::c_void) -> usize;
    }

    /// Cells freed by other threads go back to their page's shared free list, so the
    /// page's local list is often empty when the next cell is allocated: a cell still
    /// gets a block of its own size class (through the aligned entry point, a 192-byte
    /// cell then got 224 bytes).
    #[test]
    fn cells_freed_elsewhere_come_back_in_their_own_size_class() {
        std::thread::spawn(|| {
            let layout = Layout::from_size_align(192, 8).unwrap();
            for round in 0..3 {
                let blocks: Vec<usize> = (0..1000).map(|_| alloc_raw(layout) as usize).collect();
                for &block in &blocks {
                    // SAFETY: a live block from mimalloc.
                    let size = unsafe { mi_usable_size(block as *const std::ffi::c_void) };
                    assert_eq!(size, 192, "round {round}");
                }
                std::thread::spawn(move || {
                    for block in blocks {
                        // SAFETY: allocated above with `layout`, freed once.
                        unsafe { free_raw(block as *mut u8, layout) }
                    }
                })
                .join()
                .unwrap();
            }
        })
        .join()
        .unwrap();
    }
}
