//! Property test: on random integer expressions the evaluator agrees with a small,
//! independent reference that evaluates the tree directly with `i128` and Python's
//! flooring rules.

use proptest::prelude::*;

/// An integer expression tree over `+ - * // %` and unary minus.
#[derive(Clone, Debug)]
enum Expr {
    Lit(i64),
    Neg(Box<Expr>),
    Bin(Box<Expr>, char, Box<Expr>),
}

/// Python's floor division and modulo, written from their definition.
fn floor_div_mod(a: i128, b: i128) -> (i128, i128) {
    let (q, r) = (a / b, a % b);
    if r != 0 && (r < 0) != (b < 0) {
        (q - 1, r + b)
    } else {
        (q, r)
    }
}

/// The reference: `None` for division by zero or values beyond `i128` (skipped).
fn reference(e: &Expr) -> Option<Result<i128, ()>> {
    Some(match e {
        Expr::Lit(n) => Ok(i128::from(*n)),
        Expr::Neg(x) => match reference(x)? {
            Ok(v) => Ok(v.checked_neg()?),
            Err(()) => Err(()),
        },
        Expr::Bin(a, op, b) => {
            let (a, b) = (reference(a)?, reference(b)?);
            match (a, b) {
                (Ok(a), Ok(b)) => match op {
                    '+' => Ok(a.checked_add(b)?),
                    '-' => Ok(a.checked_sub(b)?),
                    '*' => Ok(a.checked_mul(b)?),
                    _ if b == 0 => Err(()),
                    '/' => Ok(floor_div_mod(a, b).0),
                    _ => Ok(floor_div_mod(a, b).1),
                },
                _ => Err(()),
            }
        }
    })
}

/// Text with every binary operation parenthesised, so the tree's shape is the parse.
/// `/` in the tree stands for `//`.
fn render(e: &Expr) -> String {
    match e {
        Expr::Lit(n) if *n < 0 => format!("({n})"),
        Expr::Lit(n) => n.to_string(),
        Expr::Neg(x) => format!("-{}", render(x)),
        Expr::Bin(a, op, b) => {
            let op = if *op == '/' {
                "//".to_owned()
            } else {
                op.to_string()
            };
            format!("({} {op} {})", render(a), render(b))
        }
    }
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![-20i64..20, any::<i64>()].prop_map(Expr::Lit);
    leaf.prop_recursive(6, 40, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|x| Expr::Neg(Box::new(x))),
            (
                inner.clone(),
                prop::sample::select(vec!['+', '-', '*', '/', '%']),
                inner
            )
                .prop_map(|(a, op, b)| Expr::Bin(Box::new(a), op, Box::new(b))),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// The evaluator gives the reference's exact integer, and an error exactly where the
    /// reference divides by zero.
    #[test]
    fn integer_expressions_match_the_reference(e in expr()) {
        let text = render(&e);
        if let Some(want) = reference(&e) {
            let got = engine::evaluate(&text);
            match want {
                Ok(v) => prop_assert_eq!(got, Ok(v.to_string()), "{}", text),
                Err(()) => prop_assert!(got.is_err(), "{} gave {:?}", text, got),
            }
        }
    }

    /// Operator precedence without parentheses matches a hand-parenthesised rendering:
    /// `a op1 b op2 c` against the grouping Python's precedence implies.
    #[test]
    fn flat_precedence_matches(a in -50i64..50, b in -50i64..50, c in 1i64..50,
                               op1 in prop::sample::select(vec!["+", "-", "*", "//", "%"]),
                               op2 in prop::sample::select(vec!["+", "-", "*", "//", "%"])) {
        let tight = |op: &str| op != "+" && op != "-";
        let flat = format!("{a} {op1} {b} {op2} {c}");
        // Left-associative unless the second operator binds tighter.
        let grouped = if tight(op2) && !tight(op1) {
            format!("{a} {op1} ({b} {op2} {c})")
        } else {
            format!("({a} {op1} {b}) {op2} {c}")
        };
        prop_assert_eq!(engine::evaluate(&flat), engine::evaluate(&grouped), "{}", flat);
    }
}
