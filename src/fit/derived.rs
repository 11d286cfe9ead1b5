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

impl Fit {
    /// `name = expression`, as `--derive` takes it.
    pub fn derive_definition(&self, definition: &str) -> Result<Derived, FitError> {
        let Some((name, expression)) = definition.split_once('=') else {
            return Err(FitError::Invalid(format!(
                "`{definition}` is not a definition: write `name = expression`, e.g. `half_life = log(2)/b`"
            )));
        };
        self.derive(name.trim(), expression.trim())
    }

    /// The value and delta-method standard error of `expression`, a function of the model's
    /// parameters.
    pub fn derive(&self, name: &str, expression: &str) -> Result<Derived, FitError> {
        let invalid = |message: String| FitError::Invalid(format!("derived quantity `{name}`: {message}"));
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(invalid("its name must be a word (letters, digits, _)".into()));
        }
        if self.param_names.iter().any(|p| p == name) {
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
                        self.param_names.join(", ")
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
    pub(crate) fn delta_method(&self, gradient: &[f64]) -> f64 {
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
