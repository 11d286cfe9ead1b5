//! Data resident on the device: uploaded once (as f32), split into chunks that respect the
//! device's largest buffer and dispatch, and reused by every call — only the parameters change
//! between calls. Reductions come back as one row of partial sums per workgroup, added on the
//! host in f64 in a fixed order (chunk by chunk, workgroup by workgroup): the same data and
//! parameters give the same sums, bit for bit, run after run.

use super::device::{GpuDevice, GpuError};
use super::kernels::GpuKernels;
use super::upload::Uploader;
use crate::backend::NormalEquations;
use crate::backend::wgsl::{Precision, WgslKernel};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One chunk's buffers on the device, in one precision.
struct DeviceChunk {
    n: usize,
    precision: Precision,
    vars: wgpu::Buffer,
    y: wgpu::Buffer,
    weights: wgpu::Buffer,
    info: wgpu::Buffer,
    /// The device's most workgroups per dispatch dimension.
    max_x: usize,
}

impl DeviceChunk {
    /// Workgroups to dispatch for a kernel: x within the device's per-dimension limit, x·y ≥
    /// the groups needed (the surplus ones find no points).
    fn groups(&self, which: WgslKernel) -> (u32, u32) {
        let needed = self.n.div_ceil(which.points_per_workgroup()).max(1);
        let x = needed.min(self.max_x);
        (x as u32, needed.div_ceil(x) as u32)
    }
}

/// A kernel's output buffers for one chunk, kept for the next call.
struct Output {
    result: wgpu::Buffer,
    readback: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    values: usize,
}

/// A data set on the device, ready for a model's kernels: in f32, and also in f64 when the
/// device and the model's kernels have an f64 form (same chunk boundaries).
pub struct GpuData {
    device: &'static GpuDevice,
    kernels: Arc<GpuKernels>,
    chunks: Vec<DeviceChunk>,
    params: wgpu::Buffer,
    chunks_f64: Vec<DeviceChunk>,
    params_f64: Option<wgpu::Buffer>,
    outputs: Mutex<HashMap<(WgslKernel, Precision), Vec<Output>>>,
    m: usize,
}

/// Values in a precision, as the bytes the device reads.
fn encode(values: impl Iterator<Item = f64>, precision: Precision) -> Vec<u8> {
    match precision {
        Precision::F32 => values.flat_map(|v| (v as f32).to_ne_bytes()).collect(),
        Precision::F64 => values.flat_map(|v| v.to_ne_bytes()).collect(),
    }
}

impl GpuData {
    /// Uploads the columns (in the kernel's variable order), the response and the weights
    /// (1/σ; `None` for ones). Lengths must agree.
    pub fn upload(
        device: &'static GpuDevice,
        kernels: Arc<GpuKernels>,
        vars: &[&[f64]],
        y: &[f64],
        weights: Option<&[f64]>,
    ) -> Result<Self, GpuError> {
        Self::upload_with(device, kernels, vars, y, weights, true, usize::MAX)
    }

    /// [`GpuData::upload`] in f32 only (a third of the memory), for work that stays in f32.
    pub fn upload_f32(
        device: &'static GpuDevice,
        kernels: Arc<GpuKernels>,
        vars: &[&[f64]],
        y: &[f64],
        weights: Option<&[f64]>,
    ) -> Result<Self, GpuError> {
        Self::upload_with(device, kernels, vars, y, weights, false, usize::MAX)
    }

    /// [`GpuData::upload`] with at most `max_chunk` points per chunk (rounded down to whole
    /// workgroups of the reductions); the device's limits may make chunks smaller still.
    pub fn upload_in_chunks(
        device: &'static GpuDevice,
        kernels: Arc<GpuKernels>,
        vars: &[&[f64]],
        y: &[f64],
        weights: Option<&[f64]>,
        max_chunk: usize,
    ) -> Result<Self, GpuError> {
        Self::upload_with(device, kernels, vars, y, weights, true, max_chunk)
    }

    fn upload_with(
        device: &'static GpuDevice,
        kernels: Arc<GpuKernels>,
        vars: &[&[f64]],
        y: &[f64],
        weights: Option<&[f64]>,
        with_f64: bool,
        max_chunk: usize,
    ) -> Result<Self, GpuError> {
        device.check()?;
        let m = y.len();
        let shape_error =
            |what: &str, found: usize| Err(GpuError::Internal(format!("{what}: expected {m} values, got {found}")));
        if vars.len() != kernels.n_vars {
            return Err(GpuError::Internal(format!(
                "expected {} variable columns, got {}",
                kernels.n_vars,
                vars.len()
            )));
        }
        if let Some(column) = vars.iter().find(|c| c.len() != m) {
            return shape_error("a variable column", column.len());
        }
        if let Some(w) = weights
            && w.len() != m
        {
            return shape_error("weights", w.len());
        }
        let limits = &device.limits;
        let largest_binding = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size) as usize;
        // The widest per-point binding (the variables, or residual + Jacobian row), in f64:
        // both precisions share chunk boundaries.
        let per_point = 8 * kernels.n_vars.max(kernels.n_params + 1);
        // Chunks hold whole workgroups of the reductions, so splitting does not change sums.
        let group = WgslKernel::NormalEquations.points_per_workgroup();
        // Shader indices are u32: no binding of a chunk may hold more than 2^32 − 1 elements.
        let widest = kernels.n_vars.max(kernels.n_params + 1).max(1);
        let index_limit = u32::MAX as usize / widest;
        let chunk_points = (largest_binding / per_point).min(max_chunk).min(index_limit) / group * group;
        if chunk_points == 0 {
            return Err(GpuError::OutOfMemory(format!(
                "the device's largest buffer ({largest_binding} bytes) cannot hold one workgroup's data"
            )));
        }
        let max_x = limits.max_compute_workgroups_per_dimension.max(1) as usize;
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let f64_too = with_f64 && kernels.has_f64();
        // The largest buffer: a chunk's variables, in f64 where they go up in f64.
        let largest = chunk_points.min(m) * kernels.n_vars.max(1) * if f64_too { 8 } else { 4 };
        let mut up = Uploader::new(device, largest)?;
        let mut resident = |precision: Precision| -> Result<(Vec<DeviceChunk>, wgpu::Buffer), GpuError> {
            let mut chunks = Vec::new();
            let mut start = 0;
            while start < m || (m == 0 && chunks.is_empty()) {
                let end = (start + chunk_points).min(m);
                let n = end - start;
                let columns: Vec<&[f64]> = vars.iter().map(|c| &c[start..end]).collect();
                let chunk = device.scoped(|d| -> Result<DeviceChunk, GpuError> {
                    Ok(DeviceChunk {
                        n,
                        precision,
                        vars: up.columns(d, "vars", &columns, precision, wgpu::BufferUsages::STORAGE)?,
                        y: up.columns(d, "y", &[&y[start..end]], precision, wgpu::BufferUsages::STORAGE)?,
                        weights: up.columns(
                            d,
                            "weights",
                            &[weights.map_or(&[1.0][..], |w| &w[start..end])],
                            precision,
                            wgpu::BufferUsages::STORAGE,
                        )?,
                        info: upload(
                            d,
                            "info",
                            bytemuck::cast_slice::<u32, u8>(&[n as u32, u32::from(weights.is_some()), 0, 0]),
                            wgpu::BufferUsages::UNIFORM,
                        ),
                        max_x,
                    })
                })??;
                chunks.push(chunk);
                start = end;
            }
            let params = device.scoped(|d| {
                d.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("params"),
                    size: (precision.size() * kernels.n_params.max(1)) as u64,
                    usage: storage,
                    mapped_at_creation: false,
                })
            })?;
            Ok((chunks, params))
        };
        let (chunks, params) = resident(Precision::F32)?;
        let (chunks_f64, params_f64) = if f64_too {
            let (chunks, params) = resident(Precision::F64)?;
            (chunks, Some(params))
        } else {
            (Vec::new(), None)
        };
        Ok(GpuData { device, kernels, chunks, params, chunks_f64, params_f64, outputs: Mutex::new(HashMap::new()), m })
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.m
    }

    pub fn is_empty(&self) -> bool {
        self.m == 0
    }

    /// Number of chunks the data were split into.
    pub fn n_chunks(&self) -> usize {
        self.chunks.len()
    }

    /// True when the f64 kernels can run (the device has `SHADER_F64` and the model's
    /// functions have f64 forms).
    pub fn has_f64(&self) -> bool {
        self.params_f64.is_some()
    }

    fn resident(&self, precision: Precision) -> Result<(&[DeviceChunk], &wgpu::Buffer), GpuError> {
        match (precision, &self.params_f64) {
            (Precision::F32, _) => Ok((&self.chunks, &self.params)),
            (Precision::F64, Some(params)) => Ok((&self.chunks_f64, params)),
            (Precision::F64, None) => Err(GpuError::Internal("no f64 kernels on this device for this model".into())),
        }
    }

    /// Runs one kernel over every chunk at `params` and reads back each chunk's output.
    fn run(&self, which: WgslKernel, precision: Precision, params: &[f64]) -> Result<Vec<Vec<f64>>, GpuError> {
        let p = self.kernels.n_params;
        if params.len() != p {
            return Err(GpuError::Internal(format!("expected {p} parameters, got {}", params.len())));
        }
        self.device.check()?;
        let (chunks, params_buffer) = self.resident(precision)?;
        let mut outputs = self.outputs.lock().map_err(|_| GpuError::Internal("poisoned output buffers".into()))?;
        let outputs: &Vec<Output> = match outputs.entry((which, precision)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(self.create_outputs(which, chunks, params_buffer)?)
            }
        };
        let device = self.device;
        device.queue.write_buffer(params_buffer, 0, &encode(params.iter().copied(), precision));
        let mut encoder =
            device.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("jitfit") });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            pass.set_pipeline(self.kernels.pipeline(which, precision)?);
            for (chunk, output) in chunks.iter().zip(outputs) {
                pass.set_bind_group(0, &output.bind_group, &[]);
                let (x, y) = chunk.groups(which);
                pass.dispatch_workgroups(x, y, 1);
            }
        }
        for output in outputs {
            encoder.copy_buffer_to_buffer(&output.result, 0, &output.readback, 0, None);
        }
        device.queue.submit([encoder.finish()]);
        let readbacks: Vec<&wgpu::Buffer> = outputs.iter().map(|o| &o.readback).collect();
        let mut values = Vec::with_capacity(outputs.len());
        for (bytes, output) in device.read_back(&readbacks)?.iter().zip(outputs) {
            let mut row: Vec<f64> = match precision {
                Precision::F32 => bytemuck::pod_collect_to_vec::<u8, f32>(bytes).into_iter().map(f64::from).collect(),
                Precision::F64 => bytemuck::pod_collect_to_vec::<u8, f64>(bytes),
            };
            row.truncate(output.values);
            values.push(row);
        }
        Ok(values)
    }

    fn create_outputs(
        &self,
        which: WgslKernel,
        chunks: &[DeviceChunk],
        params: &wgpu::Buffer,
    ) -> Result<Vec<Output>, GpuError> {
        let per = which.outputs(self.kernels.n_params);
        self.device.scoped(|d| {
            chunks
                .iter()
                .map(|chunk| {
                    let rows = if which.is_reduction() {
                        let (x, y) = chunk.groups(which);
                        x as usize * y as usize
                    } else {
                        chunk.n.max(1)
                    };
                    let size = (chunk.precision.size() * rows * per) as u64;
                    let result = d.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("result"),
                        size,
                        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
                        mapped_at_creation: false,
                    });
                    let readback = d.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("readback"),
                        size,
                        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    });
                    let buffers = [&chunk.vars, &chunk.y, &chunk.weights, params, &result, &chunk.info];
                    let bind_group = super::device::bind_buffers(d, "jitfit", &self.kernels.layout, &buffers);
                    let values = if which.is_reduction() { rows * per } else { chunk.n * per };
                    Output { result, readback, bind_group, values }
                })
                .collect()
        })
    }

    /// f(x_i), computed in `precision`.
    pub fn predict(&self, precision: Precision, params: &[f64]) -> Result<Vec<f64>, GpuError> {
        Ok(self.run(WgslKernel::Predict, precision, params)?.concat())
    }

    /// Residuals (length m) and the Jacobian (m × p, row-major), computed in `precision`.
    pub fn residual_jacobian(&self, precision: Precision, params: &[f64]) -> Result<(Vec<f64>, Vec<f64>), GpuError> {
        let p = self.kernels.n_params;
        let rows = self.run(WgslKernel::ResidualJacobian, precision, params)?.concat();
        let mut residuals = Vec::with_capacity(self.m);
        let mut jacobian = Vec::with_capacity(self.m * p);
        for row in rows.chunks_exact(p + 1) {
            residuals.push(row[0]);
            jacobian.extend_from_slice(&row[1..]);
        }
        Ok((residuals, jacobian))
    }

    /// JᵀJ (upper triangle), Jᵀr and Σr²: in `precision` within each workgroup, f64 across
    /// them.
    pub fn normal_equations(&self, precision: Precision, params: &[f64]) -> Result<NormalEquations, GpuError> {
        let p = self.kernels.n_params;
        let slots = WgslKernel::NormalEquations.outputs(p);
        let mut acc = NormalEquations::zeros(p);
        for chunk in self.run(WgslKernel::NormalEquations, precision, params)? {
            for row in chunk.chunks_exact(slots) {
                let mut slot = 0;
                for a in 0..p {
                    for b in a..p {
                        acc.jtj[a * p + b] += row[slot];
                        slot += 1;
                    }
                    acc.jtr[a] += row[slot];
                    slot += 1;
                }
                acc.rss += row[slot];
            }
        }
        Ok(acc)
    }

    /// Σr²: in `precision` within each workgroup, f64 across them.
    pub fn sum_of_squares(&self, precision: Precision, params: &[f64]) -> Result<f64, GpuError> {
        let chunks = self.run(WgslKernel::SumOfSquares, precision, params)?;
        Ok(chunks.iter().flatten().sum())
    }
}

/// A buffer initialised with `values`.
fn upload<T: bytemuck::Pod>(
    device: &wgpu::Device,
    label: &str,
    values: &[T],
    usage: wgpu::BufferUsages,
) -> wgpu::Buffer {
    use wgpu::util::DeviceExt;
    let bytes: &[u8] = bytemuck::cast_slice(values);
    // Bindings may not be empty: an empty one (a model without variables) gets one zero, wide
    // enough for an f64.
    let padded;
    let contents = if bytes.is_empty() {
        padded = [0u8; 8];
        &padded[..]
    } else {
        bytes
    };
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: Some(label), contents, usage })
}
