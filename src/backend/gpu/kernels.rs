//! A model's compute pipelines: the four WGSL kernels written from its IR, compiled by the
//! device's driver once per process (the model keeps them; see
//! [`CompiledModel::gpu_kernels`](crate::CompiledModel::gpu_kernels)).

use super::device::{GpuDevice, GpuError};
use crate::backend::wgsl::{WgslKernel, write_shader};
use crate::ir::Kernel;

/// The bindings every shader declares (see [`crate::backend::wgsl`]).
const STORAGE_READ: [u32; 4] = [0, 1, 2, 3];
const RESULT: u32 = 4;
const INFO: u32 = 5;

/// Compiled pipelines of one model on one device.
pub struct GpuKernels {
    pub(crate) n_vars: usize,
    pub(crate) n_params: usize,
    pub(crate) layout: wgpu::BindGroupLayout,
    /// In the order of [`WgslKernel::ALL`] (the enum's own order).
    pipelines: Vec<wgpu::ComputePipeline>,
}

impl GpuKernels {
    /// Writes and compiles the model's shaders. A shader the device refuses is a bug in the
    /// WGSL writer (naga validates them all in the tests) and comes back as an error.
    pub fn new(device: &GpuDevice, kernel: &Kernel) -> Result<Self, GpuError> {
        device.check()?;
        let entry = |binding, ty| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty,
            count: None,
        };
        let storage = |read_only| wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        };
        let mut entries: Vec<_> = STORAGE_READ.iter().map(|b| entry(*b, storage(true))).collect();
        entries.push(entry(RESULT, storage(false)));
        entries.push(entry(
            INFO,
            wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
        ));
        let (layout, pipelines) = device.scoped(|d| {
            let layout = d.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("jitfit"),
                entries: &entries,
            });
            let pipeline_layout = d.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("jitfit"),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
            let pipelines: Vec<_> = WgslKernel::ALL
                .iter()
                .map(|which| {
                    let source = write_shader(kernel, *which);
                    let module = d.create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some("jitfit kernel"),
                        source: wgpu::ShaderSource::Wgsl(source.into()),
                    });
                    let pipeline = d.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                        label: Some("jitfit kernel"),
                        layout: Some(&pipeline_layout),
                        module: &module,
                        entry_point: Some("main"),
                        compilation_options: Default::default(),
                        cache: None,
                    });
                    pipeline
                })
                .collect();
            (layout, pipelines)
        })?;
        Ok(GpuKernels { n_vars: kernel.n_vars(), n_params: kernel.n_params(), layout, pipelines })
    }

    pub(crate) fn pipeline(&self, which: WgslKernel) -> &wgpu::ComputePipeline {
        &self.pipelines[which as usize]
    }
}
