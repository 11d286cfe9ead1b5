//! The batch fit kernel on the device: the whole Levenberg–Marquardt loop of
//! [`crate::batch`] in one dispatch, one thread per fit ([`write_batch_shader`]).

use super::device::{GpuDevice, GpuError};
use super::upload::Uploader;
use crate::backend::wgsl::Precision;
use crate::backend::wgsl::{WORKGROUP_SIZE, batch_outputs, write_batch_shader};
use crate::ir::VerifiedKernel;

/// A model's compiled batch pipeline.
pub struct GpuBatchKernel {
    layout: wgpu::BindGroupLayout,
    pipeline: wgpu::ComputePipeline,
    n_params: usize,
}

/// A batch, laid out for the shader (which reads f32: the f64 values are converted on their
/// way to the device).
pub struct BatchInput<'a> {
    /// The variables' columns, back to back on the device; variable k starts at `meta[2k]`.
    pub vars: &'a [&'a [f64]],
    /// Per variable (start in `vars`, 1 if shared by all fits), then the fits' offsets into `y`.
    pub meta: &'a [u32],
    pub y: &'a [f64],
    pub weights: Option<&'a [f64]>,
    /// Initial values, fits × n.
    pub params: &'a [f64],
    /// n lower then n upper bounds (finite: ±f32::MAX for none), or `None`.
    pub bounds: Option<&'a [f32]>,
    pub fits: usize,
    pub max_iterations: u32,
    pub tolerance: f32,
    pub absolute_sigma: bool,
}

/// What the shader wrote: the parameters (fits × n) and per fit the standard errors, χ²,
/// iterations and status code.
pub struct BatchOutput {
    pub params: Vec<f32>,
    pub out: Vec<f32>,
}

impl GpuBatchKernel {
    pub fn new(device: &GpuDevice, kernel: &VerifiedKernel) -> Result<Self, GpuError> {
        device.check()?;
        // vars, y, w, meta: read; params, out: written; bounds: read; info: uniform.
        let read = Some(true);
        let layout =
            device.buffer_layout("jitfit batch", &[read, read, read, read, Some(false), Some(false), read, None])?;
        let pipeline = device.compute_pipeline("jitfit batch", &layout, write_batch_shader(kernel))?;
        Ok(GpuBatchKernel { layout, pipeline, n_params: kernel.n_params() })
    }

    /// Uploads the batch, runs every fit and reads the results back.
    pub fn run(&self, device: &GpuDevice, input: &BatchInput<'_>) -> Result<BatchOutput, GpuError> {
        use wgpu::util::DeviceExt;
        device.check()?;
        let n = self.n_params;
        let outputs = batch_outputs(n);
        let largest = device.limits.max_storage_buffer_binding_size.min(device.limits.max_buffer_size) as usize;
        let vars_len: usize = input.vars.iter().map(|v| v.len()).sum();
        let biggest =
            [vars_len, input.y.len(), input.fits * outputs, input.meta.len()].into_iter().max().unwrap_or(0) * 4;
        if biggest > largest {
            return Err(GpuError::OutOfMemory(format!(
                "a buffer of {biggest} bytes exceeds the device's largest ({largest}); split the batch"
            )));
        }
        let info: [u32; 8] = [
            input.fits as u32,
            input.max_iterations,
            input.tolerance.to_bits(),
            u32::from(input.absolute_sigma),
            u32::from(input.weights.is_some()),
            u32::from(input.bounds.is_some()),
            0,
            0,
        ];
        let storage = wgpu::BufferUsages::STORAGE;
        let result_usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
        let read_usage = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
        let params_bytes = (4 * input.params.len().max(1)) as u64;
        let out_bytes = (4 * (input.fits * outputs).max(1)) as u64;
        let mut up = Uploader::new(device, biggest)?;
        let f32 = Precision::F32;
        let buffers = device.scoped(|d| -> Result<[wgpu::Buffer; 10], GpuError> {
            let plain = |label, size, usage| {
                d.create_buffer(&wgpu::BufferDescriptor { label: Some(label), size, usage, mapped_at_creation: false })
            };
            Ok([
                up.columns(d, "vars", input.vars, f32, storage)?,
                up.columns(d, "y", &[input.y], f32, storage)?,
                up.columns(d, "w", &[input.weights.unwrap_or(&[])], f32, storage)?,
                up.bytes(d, "meta", bytemuck::cast_slice(input.meta), storage)?,
                up.columns(d, "params", &[input.params], f32, result_usage)?,
                plain("out", out_bytes, result_usage),
                up.bytes(d, "bounds", bytemuck::cast_slice(input.bounds.unwrap_or(&[])), storage)?,
                d.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("info"),
                    contents: bytemuck::cast_slice(&info),
                    usage: wgpu::BufferUsages::UNIFORM,
                }),
                plain("params readback", params_bytes, read_usage),
                plain("out readback", out_bytes, read_usage),
            ])
        })??;
        let bound: Vec<&wgpu::Buffer> = buffers[..8].iter().collect();
        let bind_group = device.scoped(|d| super::device::bind_buffers(d, "jitfit batch", &self.layout, &bound))?;
        let needed = input.fits.div_ceil(WORKGROUP_SIZE as usize).max(1);
        let max_x = device.limits.max_compute_workgroups_per_dimension.max(1) as usize;
        let x = needed.min(max_x);
        let mut encoder =
            device.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("jitfit batch") });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(x as u32, needed.div_ceil(x) as u32, 1);
        }
        encoder.copy_buffer_to_buffer(&buffers[4], 0, &buffers[8], 0, None);
        encoder.copy_buffer_to_buffer(&buffers[5], 0, &buffers[9], 0, None);
        device.queue.submit([encoder.finish()]);
        let bytes = device.read_back(&[&buffers[8], &buffers[9]])?;
        let floats = |k: usize, len: usize| -> Vec<f32> {
            let mut values: Vec<f32> = bytemuck::pod_collect_to_vec(&bytes[k]);
            values.truncate(len);
            values
        };
        Ok(BatchOutput { params: floats(0, input.params.len()), out: floats(1, input.fits * outputs) })
    }
}
