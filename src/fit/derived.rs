//! Derived quantities: any expression of the parameters in the model language
//! (`log(2)/b`), its value at the fit and its standard error by the delta method with the
//! exact symbolic gradient: σ² = ∇gᵀ C ∇g.

use super::{Fit, FitError};
use crate::ir::Interpreter;
use crate::{Model, ModelOptions, Names};

/// A derived quantity of a fit.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Derived {
    pub name: String,
    pub expression: String,
    pub value: f64,
    /// ∞ when a parameter it depends on is not determined by the data.
    pub std_error: f64,
    /// ∂g/∂p over every parameter of the model (0 for those it does not use).
    pub gradient: Vec<f64>,
}

/// What a derived quantity is computed from: the parameters' names, values, which are
/// fixed, their standard errors (∞ where undetermined) and covariance (n × n row-major).
struct Estimates<'a> {
    names: &'a [String],
    values: &'a [f64],
    fixed: &'a [bool],
    std_errors: &'a [f64],
    covariance: &'a [f64],
}

impl Fit {
    /// `name = expression`, as `--derive` takes it.
    pub fn derive_definition(&self, definition: &str) -> Result<Derived, FitError> {
        let (name, expression) = definition_parts(definition)?;
        self.derive(name, expression)
    }

    /// The value and delta-method standard error of `expression`, a function of the model's
    /// parameters.
    pub fn derive(&self, name: &str, expression: &str) -> Result<Derived, FitError> {
        self.estimates().derive(name, expression)
    }

    /// √(gᵀ C g) over the free parameters g depends on; ∞ where one of them is undetermined.
    pub(crate) fn delta_method(&self, gradient: &[f64]) -> f64 {
        self.estimates().delta_method(gradient)
    }

    fn estimates(&self) -> Estimates<'_> {
        Estimates {
            names: &self.param_names,
            values: &self.values,
            fixed: &self.fixed,
            std_errors: &self.std_errors,
            covariance: &self.covariance,
        }
    }
}

impl super::GlobalFit {
    /// `name = expression` of set `set`'s parameters (from 0; shared ones included), its value
    /// and delta-method standard error from that set's covariance; the gradient is over the
    /// set's model's parameters.
    pub fn derive_definition(&self, set: usize, definition: &str) -> Result<Derived, FitError> {
        let (name, expression) = definition_parts(definition)?;
        let s = self.sets.get(set).ok_or_else(|| FitError::Invalid(format!("there is no data set {}", set + 1)))?;
        let estimates = Estimates {
            names: &s.param_names,
            values: &s.values,
            fixed: &s.fixed,
            std_errors: &s.std_errors,
            covariance: &s.covariance,
        };
        estimates.derive(name, expression)
    }
}

/// (name, expression) of `name = expression`.
fn definition_parts(definition: &str) -> Result<(&str, &str), FitError> {
    let Some((name, expression)) = definition.split_once('=') else {
        return Err(FitError::Invalid(format!(
            "`{definition}` is not a definition: write `name = expression`, e.g. `half_life = log(2)/b`"
        )));
    };
    Ok((name.trim(), expression.trim()))
}

impl Estimates<'_> {
    fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
    fn derive(&self, name: &str, expression: &str) -> Result<Derived, FitError> {
        let invalid = |message: String| FitError::Invalid(format!("derived quantity `{name}`: {message}"));
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(invalid("its name must be a word (letters, digits, _)".into()));
        }
        if self.names.iter().any(|p| p == name) {
            return Err(invalid("that is already a parameter's name".into()));
        }
        let options = ModelOptions { names: Names { vars: Vec::new(), params: None }, ..Default::default() };
        let model = Model::parse_with(expression, &options).map_err(|e| invalid(format!("{e}")))?;
        if model.response_name().is_some() {
            return Err(invalid("an expression of the parameters has no left side".into()));
        }
        let mut map = Vec::with_capacity(model.n_params());
        for p in model.params() {
            match self.index(p) {
                Some(k) => map.push(k),
                None => {
                    return Err(invalid(format!(
                        "`{p}` is not a parameter of the model (parameters: {})",
                        self.names.join(", ")
                    )));
                }
            }
        }
        let params: Vec<f64> = map.iter().map(|k| self.values[*k]).collect();
        let kernel = model.kernel();
        let mut interpreter = Interpreter::new(kernel);
        let all = interpreter.eval_point(&[], f64::NAN, &params);
        let value = all[kernel.outputs.value.index()];
        let n = self.values.len();
        let mut gradient = vec![0.0; n];
        for (j, d) in kernel.outputs.derivatives.iter().enumerate() {
            gradient[map[j]] = all[d.index()];
        }
        Ok(Derived {
            name: name.to_owned(),
            expression: expression.to_owned(),
            value,
            std_error: self.delta_method(&gradient),
            gradient,
        })
    }

    /// √(gᵀ C g) over the free parameters g depends on; ∞ where one of them is undetermined.
    fn delta_method(&self, gradient: &[f64]) -> f64 {
        let n = self.values.len();
        let used: Vec<usize> = (0..n).filter(|k| gradient[*k] != 0.0 && !self.fixed[*k]).collect();
        if used.iter().any(|k| !self.std_errors[*k].is_finite()) {
            return f64::INFINITY;
        }
        let mut variance = 0.0;
        for &a in &used {
            for &b in &used {
                variance += gradient[a] * self.covariance[a * n + b] * gradient[b];
            }
        }
        if variance.is_finite() { variance.max(0.0).sqrt() } else { f64::INFINITY }
    }
}
