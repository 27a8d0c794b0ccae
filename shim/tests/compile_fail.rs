//! Borrow rules of the ring API, enforced at compile time: each case under `tests/ui` must be
//! rejected by the compiler with the error recorded next to it.

#[test]
fn ring_views_cannot_be_misused() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
