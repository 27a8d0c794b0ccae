//! A hint to bring a cache line in before it is read (docs/architecture.md, "Prefetching").

/// Asks the CPU to start loading the cache line holding `p`. Only a hint: it never faults,
/// whatever the address, and stores nothing.
#[inline(always)]
pub(crate) fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing architecturally and cannot fault, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
