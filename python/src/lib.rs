//! `jitfit` for Python: `curve_fit` with scipy's semantics and the model as text; `fit` and
//! `compile` for the whole fit as a `FitResult` (lmfit's names, the CLI's report and JSON);
//! `fit_many` for a fit per row.
//!
//! A fit's columns come in through `numpy.ascontiguousarray(…, float64)` (no copy when they
//! already are) and are read in place, the array kept alive by the column; a `.npy` path is
//! memory-mapped instead. The GIL is released while the model compiles and the fit runs, so
//! arrays must not be written, or resized with `refcheck=False`, by another thread while a fit
//! reads them (as with any numpy extension that releases the GIL); nothing keeps them after
//! the call returns. `fit_many`'s rows are copied. Errors raise `ValueError` with
//! jitfit's message (a model error carries its caret); a `curve_fit` that does not converge
//! raises `RuntimeError`, as scipy's does, where `fit` returns the result with `success` False.

use numpy::{PyArray1, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use std::sync::Arc;

fn value_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// `numpy.ascontiguousarray(obj, float64)`: the array itself when it is one already.
fn contiguous<'py>(py: Python<'py>, obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Bound<'py, PyAny>> {
    // A C-contiguous float64 array of one dimension or more is what numpy would return as it
    // is: taken without the call into Python (a microsecond per array of a warm fit).
    if let Ok(array) = obj.cast::<PyArrayDyn<f64>>()
        && array.ndim() >= 1
        && array.is_c_contiguous()
    {
        return Ok(obj.clone());
    }
    py.import("numpy")?
        .call_method1("ascontiguousarray", (obj, "float64"))
        .map_err(|e| value_error(format!("{what}: not an array of numbers ({e})")))
}

/// An array-like as float64 values and its shape.
fn array(py: Python<'_>, obj: &Bound<'_, PyAny>, what: &str) -> PyResult<(Vec<f64>, Vec<usize>)> {
    // A flat list or tuple of Python floats and ints (a p0 as most write it) is read directly,
    // as numpy converts each; anything else — nested, arrays inside (which float() would take
    // but numpy makes a dimension of), an int too large for a float — goes to numpy and its
    // errors.
    if let Ok(items) = obj
        .cast::<pyo3::types::PyList>()
        .map(|l| l.as_sequence().clone())
        .or_else(|_| obj.cast::<PyTuple>().map(|t| t.as_sequence().clone()))
        && let Ok(len) = items.len()
    {
        let mut values = Vec::with_capacity(len);
        for k in 0..len {
            let item = items.get_item(k)?;
            if !(item.is_instance_of::<pyo3::types::PyFloat>() || item.is_instance_of::<pyo3::types::PyInt>()) {
                break;
            }
            match item.extract::<f64>() {
                Ok(v) => values.push(v),
                Err(_) => break,
            }
        }
        if values.len() == len {
            return Ok((values, vec![len]));
        }
    }
    let a: PyReadonlyArrayDyn<'_, f64> = contiguous(py, obj, what)?.extract()?;
    let shape = a.shape().to_vec();
    Ok((a.as_slice().map_err(value_error)?.to_vec(), shape))
}

/// A 1-D column of a fit: an array-like (read in place), or the path (`str` or path-like) of a
/// 1-D float64 `.npy` file, memory-mapped as `jitfit fit --x FILE.npy` maps it (no copy, no
/// Python memory: the way to fit 10^8 points from Python).
/// `expected`: what the error says a column must be.
fn column(py: Python<'_>, obj: &Bound<'_, PyAny>, what: &str, expected: &str) -> PyResult<jitfit::data::Column> {
    // (An array is never a path: asking it for `__fspath__` costs a failed attribute lookup.)
    let is_path = obj.is_instance_of::<pyo3::types::PyString>()
        || (!obj.is_instance_of::<numpy::PyUntypedArray>() && obj.hasattr("__fspath__")?);
    if is_path {
        let path: std::path::PathBuf = obj.extract()?;
        if path.extension().is_none_or(|e| e != "npy") {
            return Err(value_error(format!(
                "{what}: `{}` is not a .npy file (pass an array or a .npy path)",
                path.display()
            )));
        }
        let (_, mut columns) = jitfit::data::npy::read_npy(&path).map_err(value_error)?;
        if columns.len() != 1 {
            return Err(value_error(format!(
                "{what}: `{}` holds a 2-D array ({} columns); a column is a 1-D array",
                path.display(),
                columns.len()
            )));
        }
        return Ok(columns.remove(0));
    }
    let a = contiguous(py, obj, what)?;
    let view: PyReadonlyArrayDyn<'_, f64> = a.extract()?;
    let shape = view.shape().to_vec();
    if shape.len() != 1 {
        return Err(value_error(format!("{what}: expected {expected}, got shape {shape:?}")));
    }
    let values = view.as_slice().map_err(value_error)?;
    if values.is_empty() {
        return Ok(Vec::new().into());
    }
    let (ptr, len) = (values.as_ptr(), values.len());
    drop(view);
    Ok(jitfit::data::Column::shared(Arc::new(ArrayColumn { _array: a.unbind(), ptr, len })))
}

/// A C-contiguous float64 array's values, read where numpy keeps them.
struct ArrayColumn {
    /// The array: while this reference lives, so does its buffer (numpy refuses to resize an
    /// array that has other references, unless told `refcheck=False`).
    _array: Py<PyAny>,
    ptr: *const f64,
    len: usize,
}

// SAFETY: the values are plain f64 memory that `_array` keeps alive and that nothing here
// writes; `Py` may be sent and shared between threads (its drop without the GIL is deferred
// by pyo3). Writing the array from another thread during a fit is the caller's race, as the
// module's documentation says.
unsafe impl Send for ArrayColumn {}
unsafe impl Sync for ArrayColumn {}

impl AsRef<[f64]> for ArrayColumn {
    fn as_ref(&self) -> &[f64] {
        // SAFETY: `ptr` and `len` came from the array's non-empty contiguous float64 view, and
        // `_array` keeps that buffer alive for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// Where scipy's `curve_fit` starts a parameter without p0 (`_initialize_feasible`): 1
/// without bounds, the middle of two finite bounds (even when 1 lies between them), one inside
/// a lone finite bound.
fn scipy_start(lower: f64, upper: f64) -> f64 {
    match (lower.is_finite(), upper.is_finite()) {
        (true, true) => {
            let middle = 0.5 * (lower + upper);
            if middle.is_finite() { middle } else { 0.5 * lower + 0.5 * upper }
        }
        (true, false) => lower + 1.0,
        (false, true) => upper - 1.0,
        (false, false) => 1.0,
    }
}

/// The variables: a 1-D array (or `.npy` path) is `x`; a dict maps names to 1-D arrays.
fn variables(py: Python<'_>, xdata: &Bound<'_, PyAny>) -> PyResult<Vec<(String, jitfit::data::Column)>> {
    if let Ok(dict) = xdata.cast::<PyDict>() {
        let mut vars = Vec::new();
        for (name, values) in dict.iter() {
            let name: String = name.extract().map_err(|_| value_error("xdata: the dict's keys must be names"))?;
            let v = column(py, &values, &format!("xdata[{name:?}]"), "a 1-D array")?;
            vars.push((name, v));
        }
        return Ok(vars);
    }
    let x = column(py, xdata, "xdata", "a 1-D array (the variable `x`) or a dict of named 1-D arrays")?;
    Ok(vec![("x".to_owned(), x)])
}

/// A bound: a number for every parameter, or one per parameter.
fn bound(py: Python<'_>, obj: &Bound<'_, PyAny>, n: usize, which: &str) -> PyResult<Vec<f64>> {
    if let Ok(v) = obj.extract::<f64>() {
        return Ok(vec![v; n]);
    }
    let (v, _) = array(py, obj, which)?;
    if v.len() != n {
        return Err(value_error(format!("{which}: {} values for {n} parameters", v.len())));
    }
    Ok(v)
}

/// `bounds=(lower, upper)` as scipy takes it (each a number or one per parameter); none: ±∞.
fn bounds_pair(py: Python<'_>, bounds: Option<&Bound<'_, PyAny>>, n: usize) -> PyResult<(Vec<f64>, Vec<f64>)> {
    let Some(b) = bounds else {
        return Ok((vec![f64::NEG_INFINITY; n], vec![f64::INFINITY; n]));
    };
    let pair: (Bound<'_, PyAny>, Bound<'_, PyAny>) =
        b.extract().map_err(|_| value_error("bounds: expected a pair (lower, upper)"))?;
    Ok((bound(py, &pair.0, n, "bounds[0]")?, bound(py, &pair.1, n, "bounds[1]")?))
}

/// The model's parameters, in the order of `popt` (`variables`: the model's variables, `x`
/// unless given).
#[pyfunction]
#[pyo3(signature = (model, variables=None))]
fn parameters(py: Python<'_>, model: &str, variables: Option<Vec<String>>) -> PyResult<Vec<String>> {
    let (model, vars) = (model.to_owned(), variables.unwrap_or_else(|| vec!["x".to_owned()]));
    let compiled = py.detach(|| jitfit::compile_with_vars(&model, &vars)).map_err(value_error)?;
    Ok(compiled.params().to_vec())
}

/// `xdata` for a compiled model: a 1-D array (or `.npy` path) is its one variable, whatever
/// its name; a dict must name exactly its variables.
fn model_variables(
    py: Python<'_>,
    compiled: &jitfit::CompiledModel,
    xdata: &Bound<'_, PyAny>,
) -> PyResult<Vec<(String, jitfit::data::Column)>> {
    let mut vars = variables(py, xdata)?;
    if let ([only], [(name, _)]) = (compiled.vars(), &mut vars[..])
        && xdata.cast::<PyDict>().is_err()
    {
        name.clone_from(only);
    }
    let mut given: Vec<String> = vars.iter().map(|(n, _)| n.clone()).collect();
    given.sort();
    let mut wanted = compiled.vars().to_vec();
    wanted.sort();
    if given != wanted {
        return Err(value_error(format!(
            "xdata: the model's variables are [{}], xdata gives [{}]",
            wanted.join(", "),
            given.join(", ")
        )));
    }
    Ok(vars)
}

/// A dict of parameter names and values as (name, value) pairs; None for anything else.
fn named<T>(
    obj: &Bound<'_, PyAny>,
    what: &str,
    value: impl Fn(&Bound<'_, PyAny>) -> PyResult<T>,
) -> PyResult<Option<Vec<(String, T)>>> {
    let Ok(dict) = obj.cast::<PyDict>() else {
        return Ok(None);
    };
    let mut pairs = Vec::with_capacity(dict.len());
    for (name, v) in dict.iter() {
        let name: String = name.extract().map_err(|_| value_error(format!("{what}: the dict's keys must be names")))?;
        let v = value(&v).map_err(|e| value_error(format!("{what}[{name:?}]: {}", e.value(obj.py()))))?;
        pairs.push((name, v));
    }
    Ok(Some(pairs))
}

/// The fit's options as Python passes them, checked and read once.
struct FitInputs {
    vars: Vec<(String, jitfit::data::Column)>,
    y: jitfit::data::Column,
    sigma: Option<jitfit::data::Column>,
    loss: jitfit::solve::Loss,
    f_scale: f64,
    method: jitfit::solve::Method,
    absolute_sigma: bool,
    max_nfev: Option<usize>,
}

impl FitInputs {
    #[allow(clippy::too_many_arguments)]
    fn read(
        py: Python<'_>,
        xdata: &Bound<'_, PyAny>,
        ydata: &Bound<'_, PyAny>,
        sigma: Option<&Bound<'_, PyAny>>,
        absolute_sigma: bool,
        method: Option<&str>,
        loss: &str,
        f_scale: f64,
        max_nfev: Option<usize>,
    ) -> PyResult<FitInputs> {
        let loss = jitfit::solve::Loss::from_name(loss).ok_or_else(|| {
            value_error(format!("loss: `{loss}` is not one of linear, soft_l1, huber, cauchy, arctan"))
        })?;
        let vars = variables(py, xdata)?;
        let y = column(py, ydata, "ydata", "a 1-D array")?;
        let sigma = match sigma {
            Some(s) => Some(column(py, s, "sigma", "a 1-D array of standard deviations (the only form supported)")?),
            None => None,
        };
        let method = match method {
            None => jitfit::solve::Method::Auto,
            Some("trf") => jitfit::solve::Method::Trf,
            Some("lm") => jitfit::solve::Method::Lm,
            Some(other) => return Err(value_error(format!("method: `{other}` is not one of None, 'trf', 'lm'"))),
        };
        Ok(FitInputs { vars, y, sigma, loss, f_scale, method, absolute_sigma, max_nfev })
    }

    fn names(&self) -> Vec<String> {
        self.vars.iter().map(|(n, _)| n.clone()).collect()
    }

    /// The fit of `compiled` from `p0` within `bounds`, the GIL released while it runs. No
    /// p0: `ones` starts every parameter where scipy's `curve_fit` does ([`scipy_start`]),
    /// otherwise the start is jitfit's (1, or inside bounds that exclude it) and the report
    /// says "by default". `p0`
    /// and `bounds` may name parameters (`{"b": 0.5}`, `{"b": (0, inf)}`; the others by default,
    /// unbounded); `fix` holds named parameters at values.
    fn run(
        self,
        py: Python<'_>,
        compiled: &Arc<jitfit::CompiledModel>,
        p0: Option<&Bound<'_, PyAny>>,
        starts: Starts,
        bounds: Option<&Bound<'_, PyAny>>,
        fix: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(jitfit::Fit, Guessed)> {
        let ones = starts == Starts::Scipy;
        let n = compiled.params().len();
        let named_p0 = p0.map(|p| named(p, "p0", |v| v.extract::<f64>())).transpose()?.flatten();
        let pair =
            |v: &Bound<'_, PyAny>| v.extract::<(f64, f64)>().map_err(|_| value_error("expected a pair (lower, upper)"));
        let named_bounds = bounds.map(|b| named(b, "bounds", pair)).transpose()?.flatten();
        let fixed = match fix {
            Some(f) => named(f, "fix", |v| v.extract::<f64>())?
                .ok_or_else(|| value_error("fix: expected a dict of parameter names and values"))?,
            None => Vec::new(),
        };
        // A held parameter is not fitted: a start of its own would be ignored.
        if let Some((name, _)) = named_p0.iter().flatten().find(|(n, _)| fixed.iter().any(|(f, _)| f == n)) {
            return Err(value_error(format!("p0[{name:?}]: `{name}` is fixed (fix) and does not start anywhere")));
        }
        let (lower, upper) = bounds_pair(py, bounds.filter(|_| named_bounds.is_none()), n)?;
        let p0 = match p0.filter(|_| named_p0.is_none()) {
            Some(p) => {
                let (p, _) = array(py, p, "p0")?;
                if p.len() != n {
                    let names = compiled.params().join("', '");
                    return Err(value_error(format!("p0: {} values for {n} parameters ['{names}']", p.len())));
                }
                Some(p)
            }
            // scipy's start (`_initialize_feasible`), named starts applied over it below.
            None if ones => {
                let (mut lower, mut upper) = (lower.clone(), upper.clone());
                for (name, (l, u)) in named_bounds.iter().flatten() {
                    if let Some(k) = compiled.params().iter().position(|p| p == name) {
                        (lower[k], upper[k]) = (*l, *u);
                    }
                }
                Some(lower.iter().zip(&upper).map(|(l, u)| scipy_start(*l, *u)).collect())
            }
            None => None,
        };
        let FitInputs { vars, y, sigma, loss, f_scale, method, absolute_sigma, max_nfev } = self;
        py.detach(|| {
            let mut data = jitfit::Data::new().y(y);
            for (name, values) in vars {
                data = data.var(&name, values);
            }
            if let Some(s) = sigma {
                data = data.sigma(s);
            }
            let configure = jitfit::fit_options(|mut fit| {
                fit = fit.bounds(&lower, &upper).absolute_sigma(absolute_sigma).method(method).loss(loss, f_scale);
                if let Some(p0) = &p0 {
                    fit = fit.p0(p0);
                }
                for (name, value) in named_p0.iter().flatten() {
                    fit = fit.initial(name, *value);
                }
                for (name, (lower, upper)) in named_bounds.iter().flatten() {
                    fit = fit.bound(name, *lower, *upper);
                }
                for (name, value) in &fixed {
                    fit = fit.fix(name, *value);
                }
                if let Some(n) = max_nfev {
                    fit = fit.max_nfev(n);
                }
                fit
            });
            // guess=True: the parameters without a start (no p0 array, not named in p0, not
            // fixed) start from the library's guess for its lineshapes, then the pre-search —
            // what `jitfit fit --guess` does.
            let mut guessed = Guessed::default();
            if let Starts::Guess(seed) = starts {
                let given: Vec<&str> = match p0 {
                    Some(_) => compiled.params().iter().map(String::as_str).collect(),
                    None => named_p0.iter().flatten().chain(&fixed).map(|(n, _)| n.as_str()).collect(),
                };
                let found = compiled.guess_starts(&data, configure, &given, true, true, seed)?;
                if found.shaped.is_empty() && found.search.is_none() {
                    // Said, as `jitfit fit --guess` says it: the option had nothing to act on.
                    guessed
                        .notes
                        .push("guess=True: every parameter has a start already (p0, fix); nothing guessed".into());
                } else {
                    guessed.notes = found.shape_notes;
                    guessed.notes.extend(found.search.into_iter().flat_map(|search| search.notes));
                    guessed.values = found.shaped;
                    guessed.values.extend(found.searched);
                }
            }
            let fit = guessed.values.iter().fold(configure(compiled.fit(&data)), |fit, (n, v)| fit.initial(n, *v));
            fit.run().map(|fit| (fit, guessed))
        })
        .map_err(value_error)
    }
}

/// Where the parameters without p0 start.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Starts {
    /// scipy's `curve_fit` start (`curve_fit`).
    Scipy,
    /// jitfit's: 1, or inside bounds that exclude 1.
    Default,
    /// From the data (`guess=True`), the pre-search's points from the seed.
    Guess(u64),
}

impl Starts {
    /// `guess` and `seed` as `fit` takes them: a seed without `guess=True` has nothing to seed.
    fn of(guess: bool, seed: Option<i64>) -> PyResult<Starts> {
        match (guess, seed) {
            (true, Some(seed)) if seed < 0 => Err(value_error(format!("seed: expected an integer ≥ 0, got {seed}"))),
            (true, seed) => Ok(Starts::Guess(seed.unwrap_or(0) as u64)),
            (false, None) => Ok(Starts::Default),
            (false, Some(_)) => Err(value_error("seed: only guess=True's pre-search has a seed; pass guess=True too")),
        }
    }
}

/// The starts `guess=True` found, and what the guessers said.
#[derive(Default)]
struct Guessed {
    values: Vec<(String, f64)>,
    notes: Vec<String>,
}

/// `popt, pcov = curve_fit(model, xdata, ydata, p0=None, sigma=None, absolute_sigma=False,
/// bounds=(-inf, inf), method=None, loss="linear", f_scale=1.0, max_nfev=None)` as
/// `scipy.optimize.curve_fit` (whose `loss`, `f_scale` and `max_nfev` go to `least_squares`;
/// not converging raises `RuntimeError`), the model as text; `popt` in the order of
/// `parameters(model)`. `method`: None (jitfit's TRF), "trf" or "lm".
#[pyfunction]
#[pyo3(signature = (model, xdata, ydata, p0=None, sigma=None, absolute_sigma=false, bounds=None, method=None, loss="linear", f_scale=1.0, max_nfev=None))]
#[allow(clippy::too_many_arguments)]
fn curve_fit<'py>(
    py: Python<'py>,
    model: &str,
    xdata: &Bound<'py, PyAny>,
    ydata: &Bound<'py, PyAny>,
    p0: Option<&Bound<'py, PyAny>>,
    sigma: Option<&Bound<'py, PyAny>>,
    absolute_sigma: bool,
    bounds: Option<&Bound<'py, PyAny>>,
    method: Option<&str>,
    loss: &str,
    f_scale: f64,
    max_nfev: Option<usize>,
) -> PyResult<Bound<'py, PyTuple>> {
    let inputs = FitInputs::read(py, xdata, ydata, sigma, absolute_sigma, method, loss, f_scale, max_nfev)?;
    let (source, names) = (model.to_owned(), inputs.names());
    let compiled = py.detach(|| jitfit::compile_with_vars(&source, &names)).map_err(value_error)?;
    let (fit, _) = inputs.run(py, &compiled, p0, Starts::Scipy, bounds, None)?;
    // As scipy: a fit that did not converge raises, never returns its last parameters as popt.
    if !fit.status.converged() {
        return Err(PyRuntimeError::new_err(format!(
            "Optimal parameters not found: {} (status {})",
            fit.status.message(),
            fit.status.code()
        )));
    }
    let n = fit.values.len();
    let popt = PyArray1::from_vec(py, fit.values.clone());
    let pcov = PyArray1::from_vec(py, fit.covariance.clone()).reshape([n, n])?;
    PyTuple::new(py, [popt.into_any(), pcov.into_any()])
}

/// A compiled model: `jitfit.compile(model, variables=None)` (variables: `["x"]` unless
/// given), for fitting many data sets without compiling again. `parameters` and `variables`
/// name them in the order of the values; `fit(xdata, ydata, …)` as `jitfit.fit`.
#[pyclass(frozen, module = "jitfit")]
struct Model {
    compiled: Arc<jitfit::CompiledModel>,
}

#[pymethods]
impl Model {
    #[getter]
    fn parameters(&self) -> Vec<String> {
        self.compiled.params().to_vec()
    }

    #[getter]
    fn variables(&self) -> Vec<String> {
        self.compiled.vars().to_vec()
    }

    #[getter]
    fn source(&self) -> String {
        self.compiled.source().to_owned()
    }

    /// As `jitfit.fit(model, …)` with this model; `xdata` a 1-D array for a model of one
    /// variable, or a dict naming each variable.
    #[pyo3(signature = (xdata, ydata, p0=None, sigma=None, absolute_sigma=false, bounds=None, method=None, loss="linear", f_scale=1.0, max_nfev=None, fix=None, guess=false, seed=None))]
    #[allow(clippy::too_many_arguments)]
    fn fit(
        &self,
        py: Python<'_>,
        xdata: &Bound<'_, PyAny>,
        ydata: &Bound<'_, PyAny>,
        p0: Option<&Bound<'_, PyAny>>,
        sigma: Option<&Bound<'_, PyAny>>,
        absolute_sigma: bool,
        bounds: Option<&Bound<'_, PyAny>>,
        method: Option<&str>,
        loss: &str,
        f_scale: f64,
        max_nfev: Option<usize>,
        fix: Option<&Bound<'_, PyAny>>,
        guess: bool,
        seed: Option<i64>,
    ) -> PyResult<FitResult> {
        let mut inputs = FitInputs::read(py, xdata, ydata, sigma, absolute_sigma, method, loss, f_scale, max_nfev)?;
        inputs.vars = model_variables(py, &self.compiled, xdata)?;
        let sigma = inputs.sigma.is_some();
        let starts = Starts::of(guess, seed)?;
        let (fit, guessed) = inputs.run(py, &self.compiled, p0, starts, bounds, fix)?;
        Ok(FitResult::new(Arc::clone(&self.compiled), fit, sigma, guessed))
    }

    fn __repr__(&self) -> String {
        format!("jitfit.compile({:?}, variables={:?})", self.compiled.source(), self.compiled.vars())
    }
}

/// `jitfit.compile(model, variables=None)`: the model compiled once (see `Model`).
#[pyfunction]
#[pyo3(signature = (model, variables=None))]
fn compile(py: Python<'_>, model: &str, variables: Option<Vec<String>>) -> PyResult<Model> {
    let (model, vars) = (model.to_owned(), variables.unwrap_or_else(|| vec!["x".to_owned()]));
    let compiled = py.detach(|| jitfit::compile_with_vars(&model, &vars)).map_err(value_error)?;
    Ok(Model { compiled })
}

/// `result = fit(model, xdata, ydata, p0=None, sigma=None, absolute_sigma=False, bounds=None,
/// method=None, loss="linear", f_scale=1.0, max_nfev=None, fix=None)`: the arguments of
/// `curve_fit` — `p0` and `bounds` also by name (`p0={"b": 0.5}`, `bounds={"b": (0, inf)}`)
/// — and `fix={"c": 0}` holding parameters at values ("(fixed)" in the report),
/// and returns the whole fit as a `FitResult` — which is returned whether or not it converged (look at
/// `success`, as in lmfit), with `report()` and `to_json()`. Without p0 a parameter starts at
/// 1, or inside bounds that exclude 1 (said in the report: "init = …, by default"); with
/// `guess=True` from the data, as `jitfit fit --guess` (the library's lineshapes by their shape,
/// the others by the pre-search; "init = …, guessed", the notes in [[Data]]); `seed` (an
/// integer ≥ 0, default 0) moves the pre-search's points, as `--seed`.
#[pyfunction]
#[pyo3(signature = (model, xdata, ydata, p0=None, sigma=None, absolute_sigma=false, bounds=None, method=None, loss="linear", f_scale=1.0, max_nfev=None, fix=None, guess=false, seed=None))]
#[allow(clippy::too_many_arguments)]
fn fit(
    py: Python<'_>,
    model: &str,
    xdata: &Bound<'_, PyAny>,
    ydata: &Bound<'_, PyAny>,
    p0: Option<&Bound<'_, PyAny>>,
    sigma: Option<&Bound<'_, PyAny>>,
    absolute_sigma: bool,
    bounds: Option<&Bound<'_, PyAny>>,
    method: Option<&str>,
    loss: &str,
    f_scale: f64,
    max_nfev: Option<usize>,
    fix: Option<&Bound<'_, PyAny>>,
    guess: bool,
    seed: Option<i64>,
) -> PyResult<FitResult> {
    let starts = Starts::of(guess, seed)?;
    let inputs = FitInputs::read(py, xdata, ydata, sigma, absolute_sigma, method, loss, f_scale, max_nfev)?;
    let (source, names) = (model.to_owned(), inputs.names());
    let compiled = py.detach(|| jitfit::compile_with_vars(&source, &names)).map_err(value_error)?;
    let sigma = inputs.sigma.is_some();
    let (fit, guessed) = inputs.run(py, &compiled, p0, starts, bounds, fix)?;
    Ok(FitResult::new(compiled, fit, sigma, guessed))
}

/// A fit: its values and standard errors (inf where the data do not determine one, as
/// scipy's `pcov`; the report says "not determined" and why), the
/// covariance, the statistics (lmfit's names: `chisqr`, `redchi`, `aic`, `bic`, `rsquared`,
/// `ndata`, `nfree`, `nfev`), whether it converged (`success`, `status`, `message`), the
/// report `jitfit fit` prints (`report()`) and its JSON (`to_json()`).
#[pyclass(frozen, module = "jitfit")]
struct FitResult {
    fit: jitfit::Fit,
    /// The model (its text and variables for the report, its kernels for `eval`).
    compiled: Arc<jitfit::CompiledModel>,
    sigma: bool,
    /// The parameters whose starts `guess=True` found, and what the guessers said.
    guessed: Guessed,
}

impl FitResult {
    fn new(compiled: Arc<jitfit::CompiledModel>, fit: jitfit::Fit, sigma: bool, guessed: Guessed) -> FitResult {
        FitResult { fit, compiled, sigma, guessed }
    }

    fn guessed_names(&self) -> Vec<String> {
        self.guessed.values.iter().map(|(n, _)| n.clone()).collect()
    }

    /// (value, confidence half-width, prediction half-width or why there is none) at `xdata`.
    #[allow(clippy::type_complexity)]
    fn band_arrays(
        &self,
        py: Python<'_>,
        xdata: &Bound<'_, PyAny>,
        level: f64,
        sigma: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Vec<f64>, Vec<f64>, Result<Vec<f64>, String>)> {
        let level = if level >= 1.0 { jitfit::Level::Sigma(level) } else { jitfit::Level::Probability(level) };
        let data = self.points(py, xdata, sigma)?;
        let bands = py.detach(|| self.fit.bands(&data, level)).map_err(value_error)?;
        let prediction = bands.prediction.ok_or_else(|| bands.prediction_note.unwrap_or_default());
        Ok((bands.value, bands.confidence, prediction))
    }

    /// The points `xdata` (and σ there, for a prediction band) as the model's data.
    fn points(
        &self,
        py: Python<'_>,
        xdata: &Bound<'_, PyAny>,
        sigma: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<jitfit::Data> {
        let mut data = jitfit::Data::new();
        for (name, values) in model_variables(py, &self.compiled, xdata)? {
            data = data.var(&name, values);
        }
        if let Some(s) = sigma {
            data = data.sigma(column(py, s, "sigma", "a 1-D array of standard deviations")?);
        }
        Ok(data)
    }

    /// What the report's [[Data]] says besides the counts: `e` as Euler's number, and how
    /// `guess=True` found its starts.
    fn notes(&self) -> Vec<String> {
        let uses_e = jitfit::syntax::parse(self.compiled.source()).is_ok_and(|ast| ast.uses_constant("e"));
        let mut notes = Vec::new();
        if uses_e && !self.compiled.vars().iter().any(|v| v == "e") {
            notes.push(jitfit::report::EULER_NOTE.to_owned());
        }
        notes.extend(self.guessed.notes.iter().cloned());
        if !self.guessed.values.is_empty() {
            let list: Vec<String> =
                self.guessed.values.iter().map(|(n, v)| format!("{n} = {}", jitfit::report::num(*v))).collect();
            notes.push(format!("starts guessed from the data (guess=True): {}", list.join(", ")));
        }
        notes
    }

    fn matrix<'py>(&self, py: Python<'py>, m: &[f64]) -> PyResult<Bound<'py, PyAny>> {
        let n = self.fit.values.len();
        Ok(PyArray1::from_vec(py, m.to_vec()).reshape([n, n])?.into_any())
    }
}

#[pymethods]
impl FitResult {
    /// The parameters' names, in the order of `values`.
    #[getter]
    fn names(&self) -> Vec<String> {
        self.fit.param_names.clone()
    }

    /// {name: value}.
    #[getter]
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (name, value) in self.fit.param_names.iter().zip(&self.fit.values) {
            d.set_item(name, value)?;
        }
        Ok(d)
    }

    #[getter]
    fn values<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_vec(py, self.fit.values.clone())
    }

    /// Standard errors: inf where the covariance does not give one (never 0 for an
    /// undetermined parameter).
    #[getter]
    fn stderr<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_vec(py, self.fit.std_errors.clone())
    }

    #[getter]
    fn covariance<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.matrix(py, &self.fit.covariance)
    }

    #[getter]
    fn correlation<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.matrix(py, &self.fit.correlation)
    }

    #[getter]
    fn chisqr(&self) -> f64 {
        self.fit.chi2
    }

    #[getter]
    fn redchi(&self) -> f64 {
        self.fit.reduced_chi2
    }

    #[getter]
    fn aic(&self) -> f64 {
        self.fit.aic
    }

    #[getter]
    fn bic(&self) -> f64 {
        self.fit.bic
    }

    /// R² weighted like χ²: 1 − χ²/Σ(y − ȳ)²/σ², ȳ the σ⁻²-weighted mean (lmfit's ignores
    /// σ); NaN where it does not apply (a Poisson deviance).
    #[getter]
    fn rsquared(&self) -> f64 {
        self.fit.r_squared
    }

    #[getter]
    fn ndata(&self) -> usize {
        self.fit.n_points
    }

    /// Degrees of freedom: points − free parameters.
    #[getter]
    fn nfree(&self) -> usize {
        self.fit.dof
    }

    #[getter]
    fn nvarys(&self) -> usize {
        self.fit.n_free
    }

    #[getter]
    fn nfev(&self) -> usize {
        self.fit.nfev
    }

    #[getter]
    fn njev(&self) -> usize {
        self.fit.njev
    }

    #[getter]
    fn success(&self) -> bool {
        self.fit.status.converged()
    }

    /// scipy's `least_squares` status code (1–4 converged, 0 max_nfev, −1 failed…).
    #[getter]
    fn status(&self) -> i32 {
        self.fit.status.code()
    }

    #[getter]
    fn message(&self) -> String {
        self.fit.message.clone()
    }

    /// The model at the fitted values at the points `xdata` (lmfit's `eval`; on the model's
    /// scale: t(y) for a left side like `log(y) = …`).
    fn eval<'py>(&self, py: Python<'py>, xdata: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let data = self.points(py, xdata, None)?;
        let values = py.detach(|| self.compiled.predict(&data, &self.fit.values)).map_err(value_error)?;
        Ok(PyArray1::from_vec(py, values))
    }

    /// The confidence band's half-width at `xdata` (lmfit's `eval_uncertainty`): `sigma` ≥ 1
    /// a σ multiple, below 1 a probability; Student's t quantile when σ was estimated from the
    /// residuals, as lmfit's.
    #[pyo3(signature = (xdata, sigma=1.0))]
    fn eval_uncertainty<'py>(
        &self,
        py: Python<'py>,
        xdata: &Bound<'py, PyAny>,
        sigma: f64,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let (_, confidence, _) = self.band_arrays(py, xdata, sigma, None)?;
        Ok(PyArray1::from_vec(py, confidence))
    }

    /// `value, confidence, prediction = bands(xdata, level=1.0, sigma=None)`: the curve and
    /// the half-widths of its confidence band and of the prediction band (a new observation's)
    /// at `xdata`; `level` as `eval_uncertainty`'s `sigma`. A fit weighted by σ needs σ at these
    /// points (`sigma`) for the prediction band, which is otherwise None (a warning says why).
    #[pyo3(signature = (xdata, level=1.0, sigma=None))]
    fn bands<'py>(
        &self,
        py: Python<'py>,
        xdata: &Bound<'py, PyAny>,
        level: f64,
        sigma: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let (value, confidence, prediction) = self.band_arrays(py, xdata, level, sigma)?;
        let prediction = match prediction {
            Ok(p) => PyArray1::from_vec(py, p).into_any(),
            Err(note) => {
                let warnings = py.import("warnings")?;
                warnings.call_method1("warn", (format!("no prediction band: {note}"),))?;
                py.None().into_bound(py)
            }
        };
        PyTuple::new(
            py,
            [PyArray1::from_vec(py, value).into_any(), PyArray1::from_vec(py, confidence).into_any(), prediction],
        )
    }

    /// The report `jitfit fit` prints: [[Model]], [[Data]], [[Fit Statistics]],
    /// [[Variables]], [[Correlations]] (those of at least `min_correl`), [[Status]].
    #[pyo3(signature = (min_correl=0.1))]
    fn report(&self, min_correl: f64) -> String {
        let mut out = format!("[[Model]]\n    {}\n[[Data]]\n", self.compiled.source().trim().replace('\n', "\n    "));
        out += &format!(
            "    {} points; variables {}; {}\n",
            self.fit.n_points,
            self.compiled.vars().join(", "),
            if self.sigma { "sigma given" } else { "no sigma (unit weights)" }
        );
        for note in self.notes() {
            out += &format!("    {note}\n");
        }
        out + &jitfit::report::sections(&self.fit, &self.guessed_names(), min_correl, false)
    }

    /// The report as JSON (`jitfit.fit/1`, as `jitfit fit --json` writes it): `data.path` is
    /// null (arrays, not a file), `data.response` "ydata", `data.sigma` "sigma" when given;
    /// `timing` has `solve_seconds` only (docs/json.md).
    fn to_json(&self) -> PyResult<String> {
        use serde_json::{Value, json};
        let mut report = serde_json::Map::new();
        report.insert("schema".into(), json!("jitfit.fit/1"));
        report.insert("model".into(), json!(self.compiled.source()));
        report.insert(
            "data".into(),
            json!({
                "path": Value::Null,
                "points": self.fit.n_points,
                "variables": self.compiled.vars().iter().map(|v| json!({"name": v, "column": v})).collect::<Vec<_>>(),
                "response": "ydata",
                "sigma": if self.sigma { Some("sigma") } else { None },
                "weights": Value::Null,
                "sigma_expression": Value::Null,
                "reweighting": Value::Null,
                "sigma_x": [],
                "notes": self.notes(),
            }),
        );
        report.extend(jitfit::report::fit_json(&self.fit, &self.guessed_names()));
        report.insert("timing".into(), json!({"solve_seconds": self.fit.solve_time.as_secs_f64()}));
        serde_json::to_string_pretty(&Value::Object(report)).map_err(value_error)
    }

    fn __repr__(&self) -> String {
        let values: Vec<String> = self
            .fit
            .param_names
            .iter()
            .zip(&self.fit.values)
            .map(|(n, v)| format!("{n}={}", jitfit::report::num(*v)))
            .collect();
        format!(
            "<FitResult {}: {}; chisqr={}>",
            if self.success() { "converged" } else { "NOT converged" },
            values.join(", "),
            jitfit::report::num(self.fit.chi2)
        )
    }
}

/// One batch variable: the same values for every fit (1-D, `points` long) or a value per
/// point of every fit (2-D, fits × points).
enum BatchColumn {
    Shared(Vec<f64>),
    PerPoint(Vec<f64>),
}

fn batch_column(values: Vec<f64>, shape: &[usize], fits: usize, points: usize, what: &str) -> PyResult<BatchColumn> {
    match shape {
        [p] if *p == points => Ok(BatchColumn::Shared(values)),
        [f, p] if *f == fits && *p == points => Ok(BatchColumn::PerPoint(values)),
        _ => Err(value_error(format!(
            "{what}: expected shape ({points},) or ({fits}, {points}) for {fits} fits of {points} points, got {shape:?}"
        ))),
    }
}

/// `popt, perr, chi2, status = fit_many(model, xdata, ydata, p0=None, sigma=None,
/// absolute_sigma=False, bounds=None, solver="exact", max_nfev=None, max_iterations=None)`: one fit per row
/// of `ydata` (fits × points), in parallel. `xdata` is 1-D (the same x for every fit) or 2-D
/// like `ydata`, or a dict of such arrays by variable name; `p0` one start for all (n) or one
/// per fit (fits × n); `sigma` like `xdata`. `solver`: "exact" (TRF per fit, as `curve_fit`;
/// the CLI's default; `max_nfev` as there) or "compact" (Gpufit's Levenberg–Marquardt on the
/// normal equations: faster, for small well-posed fits; `max_iterations`, 100). Returns arrays popt and perr (fits × n, NaN where a
/// fit could not run), chi2 (fits) and the list of statuses: "converged", or why not —
/// a fit that did not converge keeps its last parameters, so look at `status`.
#[pyfunction]
#[pyo3(signature = (model, xdata, ydata, p0=None, sigma=None, absolute_sigma=false, bounds=None, solver="exact", max_nfev=None, max_iterations=None))]
#[allow(clippy::too_many_arguments)]
fn fit_many<'py>(
    py: Python<'py>,
    model: &str,
    xdata: &Bound<'py, PyAny>,
    ydata: &Bound<'py, PyAny>,
    p0: Option<&Bound<'py, PyAny>>,
    sigma: Option<&Bound<'py, PyAny>>,
    absolute_sigma: bool,
    bounds: Option<&Bound<'py, PyAny>>,
    solver: &str,
    max_nfev: Option<usize>,
    max_iterations: Option<usize>,
) -> PyResult<Bound<'py, PyTuple>> {
    let exact = match solver {
        "exact" => true,
        "compact" => false,
        other => return Err(value_error(format!("solver: `{other}` is not one of 'exact', 'compact'"))),
    };
    if exact && max_iterations.is_some() {
        return Err(value_error("max_iterations is the compact solver's; the exact solver takes max_nfev"));
    }
    if !exact && max_nfev.is_some() {
        return Err(value_error("max_nfev is the exact solver's; the compact solver takes max_iterations"));
    }
    let (y, shape) = array(py, ydata, "ydata")?;
    let [fits, points] = shape[..] else {
        return Err(value_error(format!("ydata: expected a 2-D array (fits × points), got shape {shape:?}")));
    };
    let mut vars = Vec::new();
    if let Ok(dict) = xdata.cast::<PyDict>() {
        if dict.is_empty() {
            return Err(value_error("xdata: the dict names no variable"));
        }
        for (name, values) in dict.iter() {
            let name: String = name.extract().map_err(|_| value_error("xdata: the dict's keys must be names"))?;
            let what = format!("xdata[{name:?}]");
            let (v, shape) = array(py, &values, &what)?;
            vars.push((name, batch_column(v, &shape, fits, points, &what)?));
        }
    } else {
        let (v, shape) = array(py, xdata, "xdata")?;
        vars.push(("x".to_owned(), batch_column(v, &shape, fits, points, "xdata")?));
    }
    let sigma = match sigma {
        Some(s) => {
            let (s, shape) = array(py, s, "sigma")?;
            // Both solvers take the same σ: positive and finite (the compact one would weight
            // by 1/σ unchecked).
            if let Some(bad) = s.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
                return Err(value_error(format!("sigma: every value must be positive and finite, found {bad}")));
            }
            Some(match batch_column(s, &shape, fits, points, "sigma")? {
                BatchColumn::Shared(s) => s.repeat(fits),
                BatchColumn::PerPoint(s) => s,
            })
        }
        None => None,
    };
    let names: Vec<String> = vars.iter().map(|(n, _)| n.clone()).collect();
    let source = model.to_owned();
    let compiled = py.detach(|| jitfit::compile_with_vars(&source, &names)).map_err(value_error)?;
    let n = compiled.params().len();
    let starts: Vec<f64> = match p0 {
        Some(p) => {
            let (p, shape) = array(py, p, "p0")?;
            match shape[..] {
                [k] if k == n => p.repeat(fits),
                [f, k] if f == fits && k == n => p,
                _ => {
                    let names = compiled.params().join("', '");
                    return Err(value_error(format!(
                        "p0: expected shape ({n},) or ({fits}, {n}) for the parameters ['{names}'], got {shape:?}"
                    )));
                }
            }
        }
        None => Vec::new(),
    };
    let (lower, upper) = bounds_pair(py, bounds, n)?;
    // No p0: every fit starts where a single fit would (1, or inside bounds that exclude 1).
    let starts = if starts.is_empty() {
        let one: Vec<f64> = (0..n).map(|k| jitfit::default_start(lower[k], upper[k])).collect();
        one.repeat(fits)
    } else {
        starts
    };
    let (values, errors, chi2, status) = py
        .detach(|| -> Result<_, String> {
            if exact {
                // Every fit's own columns (views would tie the data to the arrays' lifetime).
                let datasets: Vec<jitfit::Data> = (0..fits)
                    .map(|k| {
                        let rows = k * points..(k + 1) * points;
                        let mut data = jitfit::Data::new().y(y[rows.clone()].to_vec());
                        for (name, column) in &vars {
                            data = data.var(
                                name,
                                match column {
                                    BatchColumn::Shared(v) => v.clone(),
                                    BatchColumn::PerPoint(v) => v[rows.clone()].to_vec(),
                                },
                            );
                        }
                        if let Some(s) = &sigma {
                            data = data.sigma(s[rows].to_vec());
                        }
                        data
                    })
                    .collect();
                // Each fit is reduced to what is returned as it finishes (not every Fit held).
                let keep = |_: usize, fit: Result<jitfit::Fit, jitfit::FitError>| match fit {
                    Ok(fit) => {
                        let status = if fit.status.converged() {
                            "converged".to_owned()
                        } else {
                            format!("not converged: {} (status {})", fit.status.message(), fit.status.code())
                        };
                        (fit.values, fit.std_errors, fit.chi2, status)
                    }
                    Err(e) => (vec![f64::NAN; n], vec![f64::NAN; n], f64::NAN, format!("error: {e}")),
                };
                let (kept, _) = compiled.fit_batch_map(
                    &datasets,
                    |k, fit| {
                        let fit =
                            fit.p0(&starts[k * n..(k + 1) * n]).bounds(&lower, &upper).absolute_sigma(absolute_sigma);
                        match max_nfev {
                            Some(m) => fit.max_nfev(m),
                            None => fit,
                        }
                    },
                    keep,
                );
                let (mut values, mut errors) = (Vec::with_capacity(fits * n), Vec::with_capacity(fits * n));
                let (mut chi2, mut status) = (Vec::with_capacity(fits), Vec::with_capacity(fits));
                for (v, e, c, s) in kept {
                    values.extend(v);
                    errors.extend(e);
                    chi2.push(c);
                    status.push(s);
                }
                Ok((values, errors, chi2, status))
            } else {
                let mut data = jitfit::BatchData::uniform(&y, points);
                for (name, column) in &vars {
                    data = match column {
                        BatchColumn::Shared(v) => data.shared_var(name, v),
                        BatchColumn::PerPoint(v) => data.var(name, v),
                    };
                }
                let weights: Option<Vec<f64>> = sigma.as_ref().map(|s| s.iter().map(|s| 1.0 / s).collect());
                if let Some(w) = &weights {
                    data = data.weights(w);
                }
                let mut options = jitfit::BatchOptions::new(&starts).bounds(&lower, &upper);
                options.absolute_sigma = absolute_sigma;
                options.backend = jitfit::backend::Backend::Cpu;
                if let Some(m) = max_iterations {
                    options = options.max_iterations(m);
                }
                let results = Arc::clone(&compiled).fit_many(&data, &options).map_err(|e| e.to_string())?;
                let status = results.status.iter().map(|s| s.name().to_owned()).collect();
                Ok((results.values, results.std_errors, results.chi2, status))
            }
        })
        .map_err(value_error)?;
    let popt = PyArray1::from_vec(py, values).reshape([fits, n])?;
    let perr = PyArray1::from_vec(py, errors).reshape([fits, n])?;
    let chi2 = PyArray1::from_vec(py, chi2);
    let status = pyo3::types::PyList::new(py, status)?;
    PyTuple::new(py, [popt.into_any(), perr.into_any(), chi2.into_any(), status.into_any()])
}

#[pymodule]
fn _jitfit(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(curve_fit, m)?)?;
    m.add_function(wrap_pyfunction!(parameters, m)?)?;
    m.add_function(wrap_pyfunction!(fit_many, m)?)?;
    m.add_function(wrap_pyfunction!(fit, m)?)?;
    m.add_function(wrap_pyfunction!(compile, m)?)?;
    m.add_class::<Model>()?;
    m.add_class::<FitResult>()?;
    Ok(())
}
