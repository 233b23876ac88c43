//! Cache prefetch hints. A prefetch only starts loading a cache line: it never
//! dereferences its address and cannot fault, so any address (stale, dangling, past
//! an allocation) is sound to pass. No-ops off x86_64.

/// Starts loading the cache line holding `address`, to be read soon.
#[inline]
pub(crate) fn for_read(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has, and never
    // dereferences its address (see the module docs).
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

/// Starts loading the cache line holding `address`, to be written soon.
#[inline]
pub(crate) fn for_write(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: as in `for_read`.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_ET0 }>(address.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}
