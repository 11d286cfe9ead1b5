//! The fitted curve at new points, and its confidence and prediction bands by the delta
//! method with the exact Jacobian: the confidence half-width is q·√(J C Jᵀ), the prediction
//! half-width q·√(J C Jᵀ + noise), q the level's quantile (Student's t with the fit's dof where
//! σ is estimated from the residuals, the normal one where it is known — lmfit's
//! `eval_uncertainty`). Values are on the model's scale (t(y) for a left side like `log[y]`).

use super::levels::{Level, Scale};
use super::{Data, Estimator, Fit, FitError};
use crate::ir::Interpreter;

/// A fit's curve and bands at a set of points.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Bands {
    pub level: Level,
    pub probability: f64,
    pub scale: Scale,
    /// The quantile q multiplying the standard deviations.
    pub quantile: f64,
    /// f at each point.
    pub value: Vec<f64>,
    /// Half-width of the confidence band (the curve's own uncertainty); ∞ where a parameter it
    /// depends on is undetermined.
    pub confidence: Vec<f64>,
    /// Half-width of the prediction band (a new observation's), when the noise at the points
    /// is known.
    pub prediction: Option<Vec<f64>>,
    /// Why there is no prediction band.
    pub prediction_note: Option<String>,
}

impl Fit {
    /// f at the points of `data` (its variable columns; y and σ are not used).
    pub fn predict(&self, data: &Data) -> Result<Vec<f64>, FitError> {
        let source = self.source()?;
        let columns = point_columns(&source.curve, data)?;
        Ok(curve(&source.curve, &columns, &self.values)?.0)
    }

    /// The curve with its confidence band at the points of `data` and, where the noise there is
    /// known, its prediction band: σ from `data` (required when the fit was weighted), the
    /// residuals' scale of an unweighted fit, or f itself for Poisson counts.
    pub fn bands(&self, data: &Data, level: Level) -> Result<Bands, FitError> {
        let source = self.source()?;
        level.check().map_err(FitError::Invalid)?;
        let model = &source.curve;
        let columns = point_columns(model, data)?;
        let (value, jacobian) = curve(model, &columns, &self.values)?;
        let (m, n) = (value.len(), self.values.len());
        let scale = self.scale();
        if scale == (Scale::Estimated { dof: 0 }) {
            return Err(FitError::Invalid(
                "no degrees of freedom left to estimate σ from the residuals: bands need σ known (absolute sigma) \
                 or more points than free parameters"
                    .into(),
            ));
        }
        let probability = level.probability();
        let q = scale.quantile(probability);
        let spreads: Vec<f64> = (0..m).map(|i| self.delta_method(&jacobian[i * n..(i + 1) * n])).collect();
        let confidence: Vec<f64> = spreads.iter().map(|s| q * s).collect();
        let weighted = source.data.sigma_values().is_some();
        let sigma = data.sigma_values();
        if let Some(s) = sigma
            && s.len() != m
        {
            return Err(FitError::LengthMismatch { name: "sigma".into(), expected: m, found: s.len() });
        }
        let s2 = if self.absolute_sigma { 1.0 } else { self.reduced_chi2 };
        let noise: Result<Vec<f64>, String> = match (self.estimator, weighted, sigma) {
            _ if !source.errors_in_x.is_empty() => Err(format!(
                "with errors in {} the noise at a point depends on σ of x there and the curve's slope: no \
                 prediction band",
                source.errors_in_x.join(", ")
            )),
            (Estimator::Poisson, _, _) => Ok(value.iter().map(|f| f.max(0.0)).collect()),
            (_, true, Some(s)) => Ok(s.iter().map(|s| s2 * s * s).collect()),
            (_, true, None) => {
                Err("the fit was weighted by σ: give σ at these points for a prediction band".to_owned())
            }
            (_, false, None) => Ok(vec![s2; m]),
            (_, false, Some(_)) => {
                return Err(FitError::Invalid(
                    "σ at the points of an unweighted fit: its noise is estimated from the residuals, not given".into(),
                ));
            }
        };
        let (prediction, prediction_note) = match noise {
            Ok(noise) => (Some(spreads.iter().zip(&noise).map(|(s, v)| q * (s * s + v).sqrt()).collect()), None),
            Err(note) => (None, Some(note)),
        };
        Ok(Bands { level, probability, scale, quantile: q, value, confidence, prediction, prediction_note })
    }
}

impl crate::CompiledModel {
    /// f at the points of `data` (its variable columns) with explicit parameters, in the
    /// model's parameter order: the compiled kernel, not the interpreter. Values are on the
    /// model's scale (t(y) for a left side like `log[y]`).
    ///
    /// ```
    /// let model = jitfit::compile("a*exp(-b*x)").unwrap();
    /// let at = jitfit::Data::new().var("x", vec![0.0, 1.0]);
    /// let f = model.predict(&at, &[2.0, 0.5]).unwrap();
    /// assert_eq!(f, vec![2.0, 2.0 * (-0.5f64).exp()]);
    /// ```
    pub fn predict(&self, data: &Data, params: &[f64]) -> Result<Vec<f64>, FitError> {
        if params.len() != self.n_params() {
            return Err(FitError::Invalid(format!(
                "{} parameter values for a model of {} parameters ({})",
                params.len(),
                self.n_params(),
                self.params().join(", ")
            )));
        }
        let columns = point_columns(self, data)?;
        Ok(curve(self, &columns, params)?.0)
    }
}

/// f and ∂f/∂p (row-major) at the points: the compiled kernel with y = 0 (its residual is f
/// itself), or the interpreter where the left side transforms y (t(0) may not exist).
fn curve(model: &crate::CompiledModel, columns: &[&[f64]], params: &[f64]) -> Result<(Vec<f64>, Vec<f64>), FitError> {
    if model.transforms_response() {
        let batch = Interpreter::new(model.kernel()).eval_batch(columns, None, params);
        return Ok((batch.value, batch.jacobian));
    }
    use crate::backend::{Chunk, Kernels};
    let m = columns.first().map_or(0, |c| c.len());
    let zeros = vec![0.0; m];
    let (mut value, mut jacobian) = (vec![0.0; m], vec![0.0; m * params.len()]);
    let chunk = Chunk { vars: columns, y: &zeros, weights: None };
    model.kernels().residual_jacobian(&chunk, params, &mut value, &mut jacobian).map_err(crate::problem::evaluation)?;
    Ok((value, jacobian))
}

/// The model's variable columns in `data`, of equal length, finite.
fn point_columns<'d>(model: &crate::CompiledModel, data: &'d Data) -> Result<Vec<&'d [f64]>, FitError> {
    let mut columns = Vec::new();
    for name in model.vars() {
        let column = data.column(name).ok_or_else(|| FitError::MissingColumn {
            name: name.clone(),
            available: data.column_names().collect::<Vec<_>>().join(", "),
        })?;
        if let Some(first) = columns.first().map(|c: &&[f64]| c.len())
            && column.len() != first
        {
            return Err(FitError::LengthMismatch { name: name.clone(), expected: first, found: column.len() });
        }
        if let Some(row) = column.iter().position(|v| !v.is_finite()) {
            return Err(FitError::NonFinite { what: format!("column `{name}`"), row, value: column[row] });
        }
        columns.push(column);
    }
    Ok(columns)
}
