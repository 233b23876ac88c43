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
//! Invariant: a pointer from [`allocate`] is freed only by [`free`], with the same
//! `T`, after its value was dropped or moved out.

use std::alloc::Layout;
use std::ptr::NonNull;

#[cfg(all(feature = "mimalloc", not(taskweave_loom)))]
fn alloc_raw(layout: Layout) -> *mut u8 {
    use std::alloc::GlobalAlloc;
    // SAFETY: the caller's layout has a non-zero size (`allocate` checks it).
    unsafe { mimalloc::MiMalloc.alloc(layout) }
}

#[cfg(all(feature = "mimalloc", not(taskweave_loom)))]
/// # Safety
/// `ptr` came from [`alloc_raw`] with `layout` and is freed once.
unsafe fn free_raw(ptr: *mut u8, layout: Layout) {
    use std::alloc::GlobalAlloc;
    // SAFETY: per the contract.
    unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
}

#[cfg(not(all(feature = "mimalloc", not(taskweave_loom))))]
fn alloc_raw(layout: Layout) -> *mut u8 {
    // SAFETY: the caller's layout has a non-zero size (`allocate` checks it).
    unsafe { std::alloc::alloc(layout) }
}

#[cfg(not(all(feature = "mimalloc", not(taskweave_loom))))]
/// # Safety
/// `ptr` came from [`alloc_raw`] with `layout` and is freed once.
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
    let ptr = alloc_raw(layout).cast::<T>();
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
