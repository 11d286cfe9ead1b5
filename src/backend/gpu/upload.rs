//! Data on their way to the device: through two staging buffers used in turn, one filled
//! while the device copies from the other, so that the same host memory serves a whole upload.
//! wgpu's own paths (`mapped_at_creation`, `write_buffer`) take fresh staging memory for every
//! write and zero-fill it for the former: on an H200's host that ran at ~2.5 GB/s, most of a
//! large GPU fit; through the pair, ~7 GB/s.

use super::device::{GpuDevice, GpuError};
use crate::backend::wgsl::Precision;

/// Bytes of each of the two staging buffers.
const STAGING_BYTES: usize = 1 << 25;

/// A staging buffer's mapping for writing, asked for once the copy out of it was submitted.
type Remap = (wgpu::SubmissionIndex, std::sync::mpsc::Receiver<Result<(), wgpu::BufferAsyncError>>);

pub(crate) struct Uploader<'d> {
    ring: Ring<'d>,
    /// The f32 form of one staging buffer's worth of values.
    narrow: Vec<f32>,
}

/// The two staging buffers and whose turn it is.
struct Ring<'d> {
    device: &'d GpuDevice,
    staging: [wgpu::Buffer; 2],
    /// Bytes of each staging buffer.
    size: usize,
    /// Per staging buffer, its mapping under way (after a copy from it was submitted).
    mapping: [Option<Remap>; 2],
    next: usize,
}

impl<'d> Uploader<'d> {
    /// Staging for an upload whose largest single buffer has `largest` bytes: the staging
    /// buffers are no larger than that (wgpu zero-fills them once, which small uploads felt).
    pub(crate) fn new(device: &'d GpuDevice, largest: usize) -> Result<Self, GpuError> {
        let size = largest.clamp(8, STAGING_BYTES).next_multiple_of(8);
        let staging = device.scoped(|d| {
            [0, 1].map(|_| {
                d.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("jitfit staging"),
                    size: size as u64,
                    usage: wgpu::BufferUsages::MAP_WRITE | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: true,
                })
            })
        })?;
        Ok(Uploader { ring: Ring { device, staging, size, mapping: [None, None], next: 0 }, narrow: Vec::new() })
    }

    /// A buffer of `usage` (and `COPY_DST`) holding `columns` back to back in `precision`:
    /// f64 values as they are, f32 ones converted on the thread pool, block by block.
    pub(crate) fn columns(
        &mut self,
        device: &wgpu::Device,
        label: &str,
        columns: &[&[f64]],
        precision: Precision,
        usage: wgpu::BufferUsages,
    ) -> Result<wgpu::Buffer, GpuError> {
        use rayon::prelude::*;
        let size = precision.size();
        let total = columns.iter().map(|c| c.len()).sum::<usize>();
        let buffer = buffer(device, label, total * size, usage);
        let (mut offset, per_staging) = (0, self.ring.size / size);
        for values in columns.iter().flat_map(|c| c.chunks(per_staging)) {
            let narrow = &mut self.narrow;
            let fill = |view: &mut wgpu::BufferViewMut| match precision {
                Precision::F64 => view.copy_from_slice(bytemuck::cast_slice(values)),
                Precision::F32 => {
                    narrow.resize(values.len(), 0.0);
                    narrow.par_chunks_mut(1 << 14).zip(values.par_chunks(1 << 14)).for_each(|(n, v)| {
                        n.iter_mut().zip(v).for_each(|(n, v)| *n = *v as f32);
                    });
                    view.copy_from_slice(bytemuck::cast_slice(narrow));
                }
            };
            offset = self.ring.stage(device, label, &buffer, offset, values.len() * size, fill)?;
        }
        Ok(buffer)
    }

    /// A buffer of `usage` (and `COPY_DST`) holding `bytes` (a multiple of 4).
    pub(crate) fn bytes(
        &mut self,
        device: &wgpu::Device,
        label: &str,
        bytes: &[u8],
        usage: wgpu::BufferUsages,
    ) -> Result<wgpu::Buffer, GpuError> {
        let buffer = buffer(device, label, bytes.len(), usage);
        let (mut offset, per_staging) = (0, self.ring.size);
        for piece in bytes.chunks(per_staging) {
            let fill = |view: &mut wgpu::BufferViewMut| view.copy_from_slice(piece);
            offset = self.ring.stage(device, label, &buffer, offset, piece.len(), fill)?;
        }
        Ok(buffer)
    }
}

impl Ring<'_> {
    /// Fills the next staging buffer (waiting for the device to release it) and copies its
    /// first `bytes` to `target` at `offset`; returns the offset after them.
    fn stage(
        &mut self,
        device: &wgpu::Device,
        label: &str,
        target: &wgpu::Buffer,
        offset: u64,
        bytes: usize,
        fill: impl FnOnce(&mut wgpu::BufferViewMut),
    ) -> Result<u64, GpuError> {
        let refused = |e: String| GpuError::Internal(format!("staging {label} for the device: {e}"));
        let k = self.next;
        self.next ^= 1;
        let staging = &self.staging[k];
        if let Some((submission, mapped)) = self.mapping[k].take() {
            let wait = wgpu::PollType::Wait { submission_index: Some(submission), timeout: None };
            self.device.device.poll(wait).map_err(|e| GpuError::DeviceLost(e.to_string()))?;
            // The wait ran the mapping's callback (wgpu invokes a finished submission's callbacks
            // before it returns): a missing answer is an error, never a wait that cannot end.
            mapped.try_recv().map_err(|e| refused(e.to_string()))?.map_err(|e| refused(e.to_string()))?;
        }
        {
            let mut view = staging.slice(..bytes as u64).get_mapped_range_mut().map_err(|e| refused(e.to_string()))?;
            fill(&mut view);
        }
        staging.unmap();
        let mut encoder =
            device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("jitfit upload") });
        encoder.copy_buffer_to_buffer(staging, 0, target, offset, Some(bytes as u64));
        let submission = self.device.queue.submit([encoder.finish()]);
        let (sender, receiver) = std::sync::mpsc::channel();
        staging.slice(..).map_async(wgpu::MapMode::Write, move |result| {
            let _ = sender.send(result);
        });
        self.mapping[k] = Some((submission, receiver));
        Ok(offset + bytes as u64)
    }
}

/// A buffer of `bytes` (at least 8: bindings may not be empty, and an empty one — a model
/// without variables — holds one zero wide enough for an f64) for `usage` and copies into it.
fn buffer(device: &wgpu::Device, label: &str, bytes: usize, usage: wgpu::BufferUsages) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(8) as u64,
        usage: usage | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}
