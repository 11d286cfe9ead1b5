//! IR → Cranelift IR: one function per kernel, looping over the points of a chunk.
//!
//! Every kernel has the same signature (unused arguments are ignored):
//!
//! ```text
//! fn(n, vars: *const *const f64, y: *const f64, w: *const f64, w_stride: usize,
//!    params: *const f64, out_a: *mut f64, out_b: *mut f64)
//! ```
//!
//! Only the instructions a kernel needs are emitted (`predict` drops every derivative), and
//! the ones that depend on parameters and constants alone are hoisted out of the loop.

use super::runtime;
use crate::ir::{Inst, VerifiedKernel};
use crate::ops::{BinaryOp, UnaryOp};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    AbiParam, BlockArg, FuncRef, Function, InstBuilder, MemFlagsData, Signature, Value, types,
};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::JITModule;
use cranelift_module::{FuncId, Linkage, Module, ModuleError};
use std::collections::HashMap;

/// Which kernel to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelKind {
    Predict,
    /// r_i = w_i·(f(x_i) − t(y_i)) into `out_a`, no derivatives (the cost of a trial step).
    Residuals,
    ResidualJacobian,
    NormalEquations,
    /// Adds Σ r_i² to `out_a[0]`: the cost of a trial step, nothing stored per point.
    SumOfSquares,
    /// `NormalEquations` under a robust loss; `out_b` points to `[loss code, f_scale²]`.
    RobustNormalEquations,
    /// Σ f_scale²·ρ(z_i) into `out_a[0]`; `out_b` points to `[loss code, f_scale²]`.
    RobustCost,
}

impl KernelKind {
    fn uses_derivatives(self) -> bool {
        matches!(self, KernelKind::ResidualJacobian | KernelKind::NormalEquations | KernelKind::RobustNormalEquations)
    }

    fn robust(self) -> bool {
        matches!(self, KernelKind::RobustNormalEquations | KernelKind::RobustCost)
    }
}

/// The Rust type of every generated kernel.
pub type KernelFn = unsafe extern "C" fn(
    n: usize,
    vars: *const *const f64,
    y: *const f64,
    w: *const f64,
    w_stride: usize,
    params: *const f64,
    out_a: *mut f64,
    out_b: *mut f64,
);

/// The signature of [`KernelFn`].
pub fn kernel_signature(module: &JITModule) -> Signature {
    let ptr = module.target_config().pointer_type();
    let mut sig = module.make_signature();
    for _ in 0..8 {
        sig.params.push(AbiParam::new(ptr));
    }
    sig
}

/// Declared imports of the runtime shims, shared by a module's functions.
#[derive(Default)]
pub struct Imports {
    ids: HashMap<&'static str, FuncId>,
}

impl Imports {
    fn get(&mut self, module: &mut JITModule, name: &'static str, arity: usize) -> Result<FuncId, ModuleError> {
        if let Some(id) = self.ids.get(name) {
            return Ok(*id);
        }
        let mut sig = module.make_signature();
        for _ in 0..arity {
            sig.params.push(AbiParam::new(types::F64));
        }
        sig.returns.push(AbiParam::new(types::F64));
        let id = module.declare_function(name, Linkage::Import, &sig)?;
        self.ids.insert(name, id);
        Ok(id)
    }
}

/// Which instructions a kernel needs (a backward sweep from its outputs).
fn live_set(kernel: &VerifiedKernel, kind: KernelKind) -> Vec<bool> {
    kernel.live(kind.uses_derivatives(), kind != KernelKind::Predict)
}

/// Which instructions depend on parameters and constants only (the same for every point).
fn uniform_set(kernel: &VerifiedKernel) -> Vec<bool> {
    kernel.per_point().into_iter().map(|varies| !varies).collect()
}

/// Builds the body of one kernel into `func`.
pub fn build_kernel(
    module: &mut JITModule,
    imports: &mut Imports,
    func: &mut Function,
    builder_context: &mut FunctionBuilderContext,
    kernel: &VerifiedKernel,
    kind: KernelKind,
) -> Result<(), ModuleError> {
    let ptr = module.target_config().pointer_type();
    let live = live_set(kernel, kind);
    let uniform = uniform_set(kernel);
    let flags = MemFlagsData::trusted();

    // Declare the shims this kernel calls before borrowing the function.
    let mut callee_ids: HashMap<usize, FuncId> = HashMap::new();
    for (i, inst) in kernel.insts.iter().enumerate() {
        if !live[i] {
            continue;
        }
        let symbol = match *inst {
            Inst::Unary(op, _) => runtime::unary_symbol(op).map(|(name, _)| (name, 1)),
            Inst::Binary(BinaryOp::XLogY, _, _) => runtime::unary_symbol(UnaryOp::Ln).map(|(name, _)| (name, 1)),
            Inst::Binary(op, _, _) => runtime::binary_symbol(op).map(|(name, _)| (name, 2)),
            _ => None,
        };
        if let Some((name, arity)) = symbol {
            callee_ids.insert(i, imports.get(module, name, arity)?);
        }
    }

    let mut loss_ids: Vec<FuncId> = Vec::new();
    if kind.robust() {
        for name in runtime::LOSS_SYMBOLS {
            loss_ids.push(imports.get(module, name, 3)?);
        }
    }

    let mut b = FunctionBuilder::new(func, builder_context);
    let loss_refs: Vec<FuncRef> = loss_ids.iter().map(|id| module.declare_func_in_func(*id, b.func)).collect();
    let mut callees: HashMap<FuncId, FuncRef> = HashMap::new();
    for id in callee_ids.values() {
        if !callees.contains_key(id) {
            let fref = module.declare_func_in_func(*id, b.func);
            callees.insert(*id, fref);
        }
    }

    let entry = b.create_block();
    let header = b.create_block();
    let body = b.create_block();
    let exit = b.create_block();
    b.append_block_params_for_function_params(entry);
    let i_param = b.append_block_param(header, ptr);
    // Accumulating kernels keep their sums in registers across iterations (loop-carried block
    // parameters) and store them once at the end: `out_a[slot]` for each slot.
    let p = kernel.n_params();
    let slots: Vec<usize> = match kind {
        KernelKind::NormalEquations | KernelKind::RobustNormalEquations => {
            let mut slots = Vec::new();
            for a in 0..p {
                slots.extend((a..p).map(|c| a * p + c));
                slots.push(p * p + a);
            }
            slots.push(p * p + p);
            slots
        }
        KernelKind::SumOfSquares | KernelKind::RobustCost => vec![0],
        _ => Vec::new(),
    };
    let acc_params: Vec<Value> = slots.iter().map(|_| b.append_block_param(header, types::F64)).collect();
    let exit_params: Vec<Value> = slots.iter().map(|_| b.append_block_param(exit, types::F64)).collect();

    b.switch_to_block(entry);
    let args = b.block_params(entry).to_vec();
    let (n, vars_ptr, y_ptr, w_ptr, w_stride, params_ptr, out_a, out_b) =
        (args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7]);
    let var_bases: Vec<Value> =
        (0..kernel.n_vars()).map(|k| b.ins().load(ptr, flags, vars_ptr, (k * 8) as i32)).collect();

    // A robust kernel's loss: `out_b` = [code, f_scale²], read once.
    let loss_params =
        kind.robust().then(|| (b.ins().load(types::F64, flags, out_b, 0), b.ins().load(types::F64, flags, out_b, 8)));
    let mut values: Vec<Option<Value>> = vec![None; kernel.insts.len()];
    let emit = |b: &mut FunctionBuilder<'_>, values: &[Option<Value>], i: usize, offset: Option<Value>| -> Value {
        let get = |v: &crate::ir::ValueId| values[v.index()].expect("operands come first");
        match kernel.insts[i] {
            Inst::Const(c) => b.ins().f64const(c),
            Inst::Param(p) => b.ins().load(types::F64, flags, params_ptr, (p.index() * 8) as i32),
            Inst::Var(v) => {
                let addr = b.ins().iadd(var_bases[v.index()], offset.expect("in the loop"));
                b.ins().load(types::F64, flags, addr, 0)
            }
            Inst::Response => {
                let addr = b.ins().iadd(y_ptr, offset.expect("in the loop"));
                b.ins().load(types::F64, flags, addr, 0)
            }
            Inst::Unary(op, a) => {
                let a = get(&a);
                match op {
                    UnaryOp::Neg => b.ins().fneg(a),
                    UnaryOp::Abs => b.ins().fabs(a),
                    UnaryOp::Sqrt => b.ins().sqrt(a),
                    UnaryOp::Sign => {
                        let zero = b.ins().f64const(0.0);
                        let one = b.ins().f64const(1.0);
                        let minus_one = b.ins().f64const(-1.0);
                        let gt = b.ins().fcmp(FloatCC::GreaterThan, a, zero);
                        let lt = b.ins().fcmp(FloatCC::LessThan, a, zero);
                        let neg_or_self = b.ins().select(lt, minus_one, a);
                        b.ins().select(gt, one, neg_or_self)
                    }
                    _ => {
                        let fref = callees[&callee_ids[&i]];
                        let call = b.ins().call(fref, &[a]);
                        b.inst_results(call)[0]
                    }
                }
            }
            Inst::Binary(op, a, c) => {
                let (a, c) = (get(&a), get(&c));
                match op {
                    BinaryOp::Add => b.ins().fadd(a, c),
                    BinaryOp::Sub => b.ins().fsub(a, c),
                    BinaryOp::Mul => b.ins().fmul(a, c),
                    BinaryOp::Div => b.ins().fdiv(a, c),
                    BinaryOp::Min => b.ins().fmin(a, c),
                    BinaryOp::Max => b.ins().fmax(a, c),
                    BinaryOp::Less => {
                        let lt = b.ins().fcmp(FloatCC::LessThan, a, c);
                        let one = b.ins().f64const(1.0);
                        let zero = b.ins().f64const(0.0);
                        b.ins().select(lt, one, zero)
                    }
                    BinaryOp::XLogY => {
                        // a·ln(b), and 0 where a == 0 (the ln call is made either way).
                        let fref = callees[&callee_ids[&i]];
                        let call = b.ins().call(fref, &[c]);
                        let ln = b.inst_results(call)[0];
                        let product = b.ins().fmul(a, ln);
                        let zero = b.ins().f64const(0.0);
                        let is_zero = b.ins().fcmp(FloatCC::Equal, a, zero);
                        b.ins().select(is_zero, zero, product)
                    }
                    BinaryOp::Pow | BinaryOp::Atan2 => {
                        let fref = callees[&callee_ids[&i]];
                        let call = b.ins().call(fref, &[a, c]);
                        b.inst_results(call)[0]
                    }
                }
            }
        }
    };

    // Loop-invariant values, once per call.
    for i in 0..kernel.insts.len() {
        if live[i] && uniform[i] {
            values[i] = Some(emit(&mut b, &values, i, None));
        }
    }
    let zero = b.ins().iconst(ptr, 0);
    let mut entry_args = vec![BlockArg::Value(zero)];
    for slot in &slots {
        let initial = b.ins().load(types::F64, flags, out_a, (slot * 8) as i32);
        entry_args.push(BlockArg::Value(initial));
    }
    b.ins().jump(header, &entry_args);

    b.switch_to_block(header);
    let more = b.ins().icmp(IntCC::UnsignedLessThan, i_param, n);
    let exit_args: Vec<BlockArg> = acc_params.iter().map(|v| BlockArg::Value(*v)).collect();
    b.ins().brif(more, body, &[], exit, &exit_args);

    b.switch_to_block(body);
    let offset = b.ins().ishl_imm_u(i_param, 3);
    for i in 0..kernel.insts.len() {
        if live[i] && !uniform[i] {
            values[i] = Some(emit(&mut b, &values, i, Some(offset)));
        }
    }
    let f = values[kernel.outputs.value.index()].expect("f is live");
    let mut new_acc: Vec<Value> = Vec::with_capacity(slots.len());
    // w_i and r_i = w_i·(f − t(y_i)): the same instructions in every residual kernel.
    let weight_and_residual = |b: &mut FunctionBuilder<'_>, values: &[Option<Value>], f: Value| {
        let w_offset = b.ins().imul(i_param, w_stride);
        let w_addr = b.ins().iadd(w_ptr, w_offset);
        let w = b.ins().load(types::F64, flags, w_addr, 0);
        let target = match kernel.outputs.response {
            Some(t) => values[t.index()].expect("t(y) is live"),
            None => {
                let addr = b.ins().iadd(y_ptr, offset);
                b.ins().load(types::F64, flags, addr, 0)
            }
        };
        let diff = b.ins().fsub(f, target);
        (w, b.ins().fmul(w, diff))
    };
    match kind {
        KernelKind::Predict => {
            let addr = b.ins().iadd(out_a, offset);
            b.ins().store(flags, f, addr, 0);
        }
        KernelKind::Residuals => {
            let (_, r) = weight_and_residual(&mut b, &values, f);
            let addr = b.ins().iadd(out_a, offset);
            b.ins().store(flags, r, addr, 0);
        }
        KernelKind::SumOfSquares => {
            let (_, r) = weight_and_residual(&mut b, &values, f);
            let square = b.ins().fmul(r, r);
            new_acc.push(b.ins().fadd(acc_params[0], square));
        }
        KernelKind::RobustCost => {
            let (_, r) = weight_and_residual(&mut b, &values, f);
            let (code, c2) = loss_params.expect("robust kernels load their loss");
            let call = b.ins().call(loss_refs[0], &[code, c2, r]);
            let term = b.inst_results(call)[0];
            new_acc.push(b.ins().fadd(acc_params[0], term));
        }
        KernelKind::ResidualJacobian | KernelKind::NormalEquations | KernelKind::RobustNormalEquations => {
            let (w, r) = weight_and_residual(&mut b, &values, f);
            let row: Vec<Value> = kernel
                .outputs
                .derivatives
                .iter()
                .map(|d| {
                    let d = values[d.index()].expect("derivatives are live");
                    b.ins().fmul(w, d)
                })
                .collect();
            if kind == KernelKind::ResidualJacobian {
                let r_addr = b.ins().iadd(out_a, offset);
                b.ins().store(flags, r, r_addr, 0);
                let row_offset = b.ins().imul_imm_u(i_param, (p * 8) as i64);
                let row_addr = b.ins().iadd(out_b, row_offset);
                for (k, v) in row.iter().enumerate() {
                    b.ins().store(flags, *v, row_addr, (k * 8) as i32);
                }
            } else {
                // Under a robust loss: rows × row scale, the scaled residual, and the cost term
                // in the last slot (NormalEquations::add_point_with_cost's order).
                let (row, r, last) = match loss_params {
                    Some((code, c2)) => {
                        let call = |b: &mut FunctionBuilder<'_>, k: usize| {
                            let inst = b.ins().call(loss_refs[k], &[code, c2, r]);
                            b.inst_results(inst)[0]
                        };
                        let (cost, scaled, row_scale) = (call(&mut b, 0), call(&mut b, 1), call(&mut b, 2));
                        let row: Vec<Value> = row.iter().map(|v| b.ins().fmul(*v, row_scale)).collect();
                        (row, scaled, Some(cost))
                    }
                    None => (row, r, None),
                };
                // [JᵀJ (upper) | Jᵀr | Σr²], each sum in NormalEquations::add_point's order.
                let mut accumulate = |b: &mut FunctionBuilder<'_>, x: Value, y: Value| {
                    let prod = b.ins().fmul(x, y);
                    let k = new_acc.len();
                    new_acc.push(b.ins().fadd(acc_params[k], prod));
                };
                for a in 0..p {
                    for c in a..p {
                        accumulate(&mut b, row[a], row[c]);
                    }
                    accumulate(&mut b, row[a], r);
                }
                match last {
                    Some(cost) => {
                        let k = new_acc.len();
                        new_acc.push(b.ins().fadd(acc_params[k], cost));
                    }
                    None => accumulate(&mut b, r, r),
                }
            }
        }
    }
    let next = b.ins().iadd_imm_u(i_param, 1);
    let mut loop_args = vec![BlockArg::Value(next)];
    loop_args.extend(new_acc.iter().map(|v| BlockArg::Value(*v)));
    b.ins().jump(header, &loop_args);

    b.switch_to_block(exit);
    for (slot, value) in slots.iter().zip(&exit_params) {
        b.ins().store(flags, *value, out_a, (slot * 8) as i32);
    }
    b.ins().return_(&[]);
    b.seal_all_blocks();
    b.finalize(module.target_config());
    Ok(())
}
