//! `calculator`: arithmetic by an expression evaluator (evalexpr), never by the model.

use evalexpr::{ContextWithMutableFunctions, DefaultNumericTypes, Function, HashMapContext, Value};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::{ToolContext, ToolError, ToolResult};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CalcArgs {
    /// An arithmetic expression, e.g. "(12.5 + 7) * 3 / 2" or "sqrt(2) ^ 2".
    pub expression: String,
}

pub(crate) fn calculator(_ctx: &ToolContext, a: CalcArgs) -> ToolResult<String> {
    evaluate(&a.expression)
}

/// Evaluates an expression with decimal division (`7/2` is 3.5) and prints integral results
/// without a fraction.
pub fn evaluate(expression: &str) -> ToolResult<String> {
    if expression.trim().is_empty() {
        return Err(ToolError::InvalidArgs("expression is empty".into()));
    }
    if expression.len() > 2000 {
        return Err(ToolError::InvalidArgs(
            "expression is longer than 2000 characters".into(),
        ));
    }
    let source = floats(&drop_thousands_separators(expression));
    let ctx = context().map_err(|e| ToolError::failed(format!("calculator setup: {e}")))?;
    let value = evalexpr::eval_with_context(&source, &ctx).map_err(|e| match &e {
        evalexpr::EvalexprError::VariableIdentifierNotFound(name)
        | evalexpr::EvalexprError::FunctionIdentifierNotFound(name) => ToolError::failed(format!(
            "cannot evaluate {expression:?}: {name:?} is not a number or a known function. The calculator only sees the numbers you write: put the values themselves, e.g. \"12 + 30 + 18\" or \"sum(12, 30, 18)\""
        )),
        _ => ToolError::failed(format!("cannot evaluate {expression:?}: {e}")),
    })?;
    match value {
        Value::Float(f) => Ok(format_number(f)),
        Value::Int(i) => Ok(i.to_string()),
        Value::Boolean(b) => Ok(b.to_string()),
        other => Err(ToolError::failed(format!(
            "{expression:?} is not arithmetic (it gives {other})"
        ))),
    }
}

fn format_number(f: f64) -> String {
    if !f.is_finite() {
        return f.to_string();
    }
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        let s = format!("{f:.10}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// "1,234,567" is one number; "max(1, 2)" and "max(1,2)" keep their commas.
fn drop_thousands_separators(expr: &str) -> String {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = String::with_capacity(expr.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == ',' && i > 0 && chars[i - 1].is_ascii_digit() {
            let group = chars
                .get(i + 1..i + 4)
                .is_some_and(|g| g.iter().all(char::is_ascii_digit));
            let ends = chars.get(i + 4).is_none_or(|n| !n.is_ascii_digit());
            if group && ends {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// Rewrites integer literals as floats so that division is not integer division.
fn floats(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len() + 8);
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let prev_is_word =
            i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_' || chars[i - 1] == '.');
        if c.is_ascii_digit() && !prev_is_word {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let lit: String = chars[start..i].iter().collect();
            out.push_str(&lit);
            let exponent = i < chars.len() && (chars[i] == 'e' || chars[i] == 'E');
            if !lit.contains('.') && !exponent {
                out.push_str(".0");
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

fn number(v: &Value) -> Result<f64, evalexpr::EvalexprError> {
    v.as_number()
}

/// The arguments of a function call as numbers: one value, or a tuple of them.
fn numbers(arg: &Value) -> Result<Vec<f64>, evalexpr::EvalexprError> {
    match arg {
        Value::Tuple(items) => items.iter().map(number).collect(),
        Value::Empty => Ok(Vec::new()),
        v => Ok(vec![number(v)?]),
    }
}

fn unary(name: &'static str, f: fn(f64) -> f64) -> (String, Function<DefaultNumericTypes>) {
    (
        name.to_string(),
        Function::new(move |arg| Ok(Value::Float(f(number(arg)?)))),
    )
}

fn context() -> Result<HashMapContext<DefaultNumericTypes>, evalexpr::EvalexprError> {
    let mut ctx = HashMapContext::<DefaultNumericTypes>::new();
    for (name, f) in [
        unary("sqrt", f64::sqrt),
        unary("abs", f64::abs),
        unary("floor", f64::floor),
        unary("ceil", f64::ceil),
        unary("ln", f64::ln),
        unary("log10", f64::log10),
        unary("exp", f64::exp),
    ] {
        ctx.set_function(name, f)?;
    }
    type Fold = fn(&[f64]) -> f64;
    let folds: [(&str, Fold); 5] = [
        ("min", |xs| xs.iter().copied().fold(f64::INFINITY, f64::min)),
        ("max", |xs| {
            xs.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        }),
        ("sum", |xs| xs.iter().sum()),
        ("avg", |xs| xs.iter().sum::<f64>() / xs.len() as f64),
        ("mean", |xs| xs.iter().sum::<f64>() / xs.len() as f64),
    ];
    for (name, fold) in folds {
        let f = Function::new(move |arg| Ok(Value::Float(fold(&numbers(arg)?))));
        // Models write SUM(...) as often as sum(...).
        ctx.set_function(name.to_uppercase(), f.clone())?;
        ctx.set_function(name.to_string(), f)?;
    }
    let round = Function::new(|arg| {
        let xs = numbers(arg)?;
        let x = xs.first().copied().unwrap_or(f64::NAN);
        let digits = xs.get(1).copied().unwrap_or(0.0).clamp(0.0, 12.0);
        let scale = 10f64.powi(digits as i32);
        Ok(Value::Float((x * scale).round() / scale))
    });
    ctx.set_function("ROUND".to_string(), round.clone())?;
    ctx.set_function("round".to_string(), round)?;
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic() {
        assert_eq!(evaluate("7/2").unwrap(), "3.5");
        assert_eq!(evaluate("2^10").unwrap(), "1024");
        assert_eq!(evaluate("(12.5 + 7) * 3 / 2").unwrap(), "29.25");
        assert_eq!(evaluate("sqrt(16) + abs(-2)").unwrap(), "6");
        assert_eq!(evaluate("max(3, 9, 4)").unwrap(), "9");
        assert_eq!(evaluate("1,234 + 1").unwrap(), "1235");
        assert_eq!(evaluate("1,234,567 - 7").unwrap(), "1234560");
        assert_eq!(evaluate("max(1,2)").unwrap(), "2");
        assert_eq!(evaluate("1.5e3 / 3").unwrap(), "500");
        assert_eq!(evaluate("10 % 4").unwrap(), "2");
        assert_eq!(evaluate("sum(12, 30, 18)").unwrap(), "60");
        assert_eq!(evaluate("SUM(1, 2)").unwrap(), "3");
        assert_eq!(evaluate("avg(1, 2, 6)").unwrap(), "3");
        assert_eq!(evaluate("max(7)").unwrap(), "7");
        assert_eq!(evaluate("round(2.345, 2)").unwrap(), "2.35");
        assert_eq!(evaluate("round(2.5)").unwrap(), "3");
    }

    #[test]
    fn errors_are_clear() {
        assert!(evaluate("").is_err());
        let e = evaluate("2 +").unwrap_err().to_string();
        assert!(e.contains("cannot evaluate"), "{e}");
        assert!(evaluate("\"text\"").is_err());
        let e = evaluate("SUM(B)").unwrap_err().to_string();
        assert!(
            e.contains("\"B\" is not a number") && e.contains("sum(12, 30, 18)"),
            "{e}"
        );
    }
}
