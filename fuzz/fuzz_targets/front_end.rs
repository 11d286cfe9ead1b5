//! Fuzz target: any text through the whole front end (parse, resolve, differentiate,
//! simplify, lower, verify). It must return a model or an error, never panic or overflow.
//!
//! Run: `cargo fuzz run front_end -- -max_total_time=60` (from the repository root).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Two variables, so that models over x and y are reachable too.
    if let Ok(model) = jitfit::Model::parse_with_vars(text, &["x", "y"]).or_else(|_| jitfit::Model::parse(text)) {
        model.kernel().verify().expect("a kernel built by jitfit verifies");
        let json = model.kernel().to_json();
        let back = jitfit::ir::Kernel::from_json(&json).expect("round trip");
        assert_eq!(&back, model.kernel());
        let _ = model.derivative_texts();
        let mut interp = jitfit::ir::Interpreter::new(model.kernel());
        let vars = vec![0.5; model.vars().len()];
        let params = vec![1.25; model.n_params()];
        let _ = interp.eval_point(&vars, 2.0, &params);
    }
});
