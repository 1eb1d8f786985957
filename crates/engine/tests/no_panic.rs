//! Property test: no input makes the engine panic, and every error message is one
//! short line. Inputs are soups of the characters the lexer cares about, plus any
//! string at all.

use proptest::prelude::*;

fn check(input: &str) -> Result<(), TestCaseError> {
    if let Err(e) = engine::evaluate(input) {
        let msg = e.to_string();
        prop_assert!(!msg.contains('\n'), "{:?} -> {:?}", input, msg);
        prop_assert!(msg.len() <= 120, "{:?} -> {:?}", input, msg);
    }
    let _ = engine::swap_case(input);
    let _ = engine::reverse(input);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    /// Token soup: digits, operators, parentheses, exponents, underscores, dots.
    #[test]
    fn token_soup_never_panics(input in "[0-9eE._+\\-*/%^() jx'#<=!]{0,60}") {
        check(&input)?;
    }

    /// Operator-dense expressions with big literals and powers.
    #[test]
    fn arithmetic_soup_never_panics(
        parts in prop::collection::vec(
            prop_oneof![
                Just("**".to_owned()), Just("^".to_owned()), Just("//".to_owned()),
                Just("%".to_owned()), Just("/".to_owned()), Just("-".to_owned()),
                Just("*".to_owned()), Just("(".to_owned()), Just(")".to_owned()),
                Just("0".to_owned()), Just("0.0".to_owned()), Just("-0.0".to_owned()),
                Just("1e308".to_owned()), Just("1e-320".to_owned()), Just("1e309".to_owned()),
                "[0-9]{1,30}", "[0-9]{1,3}\\.[0-9]{0,3}",
            ],
            0..40,
        )
    ) {
        check(&parts.concat())?;
    }

    /// Any Unicode text at all.
    #[test]
    fn any_text_never_panics(input in any::<String>()) {
        check(&input)?;
    }
}
