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
//!
//! The points are taken several pairs at a time, as `f64x2` values whose instructions are
//! emitted interleaved so that their dependency chains overlap (`exp`, `ln`, `sin` and `cos`
//! inline, see `math`; the other transcendental functions called lane by lane), then one at a
//! time for the points left over (fewer than a step takes). Lanes are exact copies of the
//! scalar computation, and sums follow `solve::Partials` — point i of a call into partial sum
//! i mod 4, combined once at the end — as the interpreter's do, so results do not depend on
//! where the pairs fall.

use super::math::{self, Lanes, Values, each};
use super::runtime;
use crate::ir::{Inst, VerifiedKernel};
use crate::ops::{BinaryOp, UnaryOp};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    AbiParam, BlockArg, FuncRef, Function, InstBuilder, MemFlagsData, Signature, StackSlotData, StackSlotKind, Value,
    types,
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

/// What one generated kernel is: its kind, its vector loop's pairs per step (0: scalar only),
/// and whether it reads weights (else every weight is taken as 1: ×1 is exact, so the results
/// are those of the weighted kernel with w = 1, bit for bit).
#[derive(Clone, Copy, Debug)]
pub struct KernelShape {
    pub kind: KernelKind,
    pub copies: usize,
    pub weighted: bool,
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
    // Cranelift's own error type, on a cold path: boxing it would only move the allocation.
    #[allow(clippy::result_large_err)]
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

/// Builds the body of one kernel into `func`; `copies`: how many `f64x2` values the vector
/// loop computes per step (0: no vector loop).
// Cranelift's own error type, on a cold path (see `Imports::get`).
#[allow(clippy::result_large_err)]
pub fn build_kernel(
    module: &mut JITModule,
    imports: &mut Imports,
    func: &mut Function,
    builder_context: &mut FunctionBuilderContext,
    kernel: &VerifiedKernel,
    shape: KernelShape,
) -> Result<(), ModuleError> {
    let KernelShape { kind, copies, weighted } = shape;
    let ptr = module.target_config().pointer_type();
    let live = live_set(kernel, kind);
    let uniform = uniform_set(kernel);

    // Declare the shims this kernel calls before borrowing the function.
    let mut callee_ids: HashMap<usize, FuncId> = HashMap::new();
    for (i, inst) in kernel.insts.iter().enumerate() {
        if !live[i] {
            continue;
        }
        let symbol = match *inst {
            Inst::Unary(UnaryOp::Exp | UnaryOp::Ln, _) => None,
            Inst::Unary(op, _) => runtime::unary_symbol(op).map(|(name, _)| (name, 1)),
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
    let mut refs: HashMap<FuncId, FuncRef> = HashMap::new();
    for id in callee_ids.values() {
        if !refs.contains_key(id) {
            let fref = module.declare_func_in_func(*id, b.func);
            refs.insert(*id, fref);
        }
    }
    let callees: HashMap<usize, FuncRef> = callee_ids.iter().map(|(i, id)| (*i, refs[id])).collect();

    let entry = b.create_block();
    let exit = b.create_block();
    b.append_block_params_for_function_params(entry);
    // Accumulating kernels add point i of the call into partial sum i mod 4 of each slot
    // (`solve::Partials`): in the vector loop the four partials are the lanes of two
    // loop-carried `f64x2` values per slot, pair c of a step (points 2c, 2c + 1) added into the
    // slot's pair c mod 2, in point order (`copies` is even); after it
    // they are kept in `partials` (slot k's at 32·k), where the scalar loop adds its points;
    // at the exit each slot's (s₀ + s₁) + (s₂ + s₃) is added to `out_a[slot]`, once.
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
    let accumulating = !slots.is_empty();
    assert!(!accumulating || copies % 2 == 0, "four partial sums are two pairs");
    let partials = accumulating.then(|| {
        b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, (slots.len() * 32) as u32, 4))
    });

    b.switch_to_block(entry);
    let args = b.block_params(entry).to_vec();
    let ctx = Context {
        kernel,
        kind,
        flags: MemFlagsData::trusted(),
        n: args[0],
        var_bases: (0..kernel.n_vars())
            .map(|k| b.ins().load(ptr, MemFlagsData::trusted(), args[1], (k * 8) as i32))
            .collect(),
        y_ptr: args[2],
        w_ptr: args[3],
        w_stride: args[4],
        weighted,
        params_ptr: args[5],
        out_a: args[6],
        out_b: args[7],
        callees,
        loss_refs,
        // A robust kernel's loss: `out_b` = [code, f_scale²], read once.
        loss_params: kind.robust().then(|| {
            let flags = MemFlagsData::trusted();
            (b.ins().load(types::F64, flags, args[7], 0), b.ins().load(types::F64, flags, args[7], 8))
        }),
    };

    // Loop-invariant values, once per call (and in both lanes for the vector loop).
    let mut scalar: Vec<Option<Values>> = vec![None; kernel.insts.len()];
    for i in 0..kernel.insts.len() {
        if live[i] && uniform[i] {
            scalar[i] = Some(ctx.emit(&mut b, Lanes::SCALAR, 1, &scalar, i, None));
        }
    }
    let mut pair: Vec<Option<Values>> = vec![None; kernel.insts.len()];
    if copies > 0 {
        for i in 0..kernel.insts.len() {
            if let Some(v) = &scalar[i] {
                pair[i] = Some(vec![b.ins().splat(types::F64X2, v[0])]);
            }
        }
    }
    let zero = b.ins().iconst(ptr, 0);

    // The loops: `copies` pairs of points at a time while enough remain, then one at a time.
    let scalar_header = b.create_block();
    b.append_block_param(scalar_header, ptr);
    if copies > 0 {
        let header = b.create_block();
        let done = b.create_block();
        let body = b.create_block();
        b.append_block_param(header, ptr);
        for _ in 0..slots.len() * 2 {
            b.append_block_param(header, types::F64X2);
        }
        let mut entry_args = vec![BlockArg::Value(zero)];
        let zeros = Lanes::PAIR.f(&mut b, 0.0);
        entry_args.extend((0..slots.len() * 2).map(|_| BlockArg::Value(zeros)));
        b.ins().jump(header, &entry_args);

        b.switch_to_block(header);
        let i_param = b.block_params(header)[0];
        let acc: Vec<Value> = b.block_params(header)[1..].to_vec();
        let end = b.ins().iadd_imm_u(i_param, 2 * copies as i64);
        let more = b.ins().icmp(IntCC::UnsignedLessThanOrEqual, end, ctx.n);
        b.ins().brif(more, body, &[], done, &[]);

        // Out of the vector loop: the partials to memory, for the scalar loop and the exit.
        b.switch_to_block(done);
        if let Some(partials) = partials {
            let base = b.ins().stack_addr(ptr, partials, 0);
            for (k, v) in acc.iter().enumerate() {
                b.ins().store(ctx.flags_for(Lanes::PAIR), *v, base, (k * 16) as i32);
            }
        }
        b.ins().jump(scalar_header, &[BlockArg::Value(i_param)]);

        b.switch_to_block(body);
        let offset = b.ins().ishl_imm_u(i_param, 3);
        for i in 0..kernel.insts.len() {
            if live[i] && !uniform[i] {
                pair[i] = Some(ctx.emit(&mut b, Lanes::PAIR, copies, &pair, i, Some(offset)));
            }
        }
        let terms = ctx.outputs(&mut b, Lanes::PAIR, copies, &pair, i_param, offset);
        let next = b.ins().iadd_imm_u(i_param, 2 * copies as i64);
        let mut loop_args = vec![BlockArg::Value(next)];
        // Pair c of the step holds points 2c and 2c + 1: partials (2c mod 4, 2c + 1 mod 4),
        // the slot's pair c mod 2, added in point order.
        for (k, term) in terms.iter().enumerate() {
            let mut sums = [acc[k * 2], acc[k * 2 + 1]];
            for c in 0..copies {
                sums[c % 2] = b.ins().fadd(sums[c % 2], at(term, c));
            }
            loop_args.extend(sums.map(BlockArg::Value));
        }
        b.ins().jump(header, &loop_args);
    } else {
        if let Some(partials) = partials {
            let base = b.ins().stack_addr(ptr, partials, 0);
            let zero_f = b.ins().f64const(0.0);
            for k in 0..slots.len() * 4 {
                b.ins().store(ctx.flags, zero_f, base, (k * 8) as i32);
            }
        }
        b.ins().jump(scalar_header, &[BlockArg::Value(zero)]);
    }

    b.switch_to_block(scalar_header);
    let i_param = b.block_params(scalar_header)[0];
    let body = b.create_block();
    let more = b.ins().icmp(IntCC::UnsignedLessThan, i_param, ctx.n);
    b.ins().brif(more, body, &[], exit, &[]);
    b.switch_to_block(body);
    let offset = b.ins().ishl_imm_u(i_param, 3);
    for i in 0..kernel.insts.len() {
        if live[i] && !uniform[i] {
            scalar[i] = Some(ctx.emit(&mut b, Lanes::SCALAR, 1, &scalar, i, Some(offset)));
        }
    }
    let terms = ctx.outputs(&mut b, Lanes::SCALAR, 1, &scalar, i_param, offset);
    if let Some(partials) = partials {
        // Point i into partial i mod 4 of each slot.
        let base = b.ins().stack_addr(ptr, partials, 0);
        let lane = b.ins().band_imm_u(i_param, 3);
        let lane_offset = b.ins().ishl_imm_u(lane, 3);
        let addr = b.ins().iadd(base, lane_offset);
        for (k, term) in terms.iter().enumerate() {
            let sum = b.ins().load(types::F64, ctx.flags, addr, (k * 32) as i32);
            let sum = b.ins().fadd(sum, term[0]);
            b.ins().store(ctx.flags, sum, addr, (k * 32) as i32);
        }
    }
    let next = b.ins().iadd_imm_u(i_param, 1);
    b.ins().jump(scalar_header, &[BlockArg::Value(next)]);

    b.switch_to_block(exit);
    if let Some(partials) = partials {
        let base = b.ins().stack_addr(ptr, partials, 0);
        for (k, slot) in slots.iter().enumerate() {
            let s: Vec<Value> =
                (0..4).map(|j| b.ins().load(types::F64, ctx.flags, base, (k * 32 + j * 8) as i32)).collect();
            let low = b.ins().fadd(s[0], s[1]);
            let high = b.ins().fadd(s[2], s[3]);
            let total = b.ins().fadd(low, high);
            let initial = b.ins().load(types::F64, ctx.flags, ctx.out_a, (slot * 8) as i32);
            let sum = b.ins().fadd(initial, total);
            b.ins().store(ctx.flags, sum, ctx.out_a, (slot * 8) as i32);
        }
    }
    b.ins().return_(&[]);
    b.seal_all_blocks();
    b.finalize(module.target_config());
    Ok(())
}

/// Copy `c` of a value computed once per copy, or shared by all copies.
fn at(v: &[Value], c: usize) -> Value {
    v[c.min(v.len() - 1)]
}

/// What the instructions of one kernel's loops share: the function's arguments and callees.
struct Context<'k> {
    kernel: &'k VerifiedKernel,
    kind: KernelKind,
    flags: MemFlagsData,
    n: Value,
    var_bases: Vec<Value>,
    y_ptr: Value,
    w_ptr: Value,
    w_stride: Value,
    /// Whether the weights are read (else all are 1 and no product by them is emitted).
    weighted: bool,
    params_ptr: Value,
    out_a: Value,
    out_b: Value,
    /// The shim each calling instruction calls.
    callees: HashMap<usize, FuncRef>,
    loss_refs: Vec<FuncRef>,
    loss_params: Option<(Value, Value)>,
}

impl Context<'_> {
    /// Calls a scalar shim on every lane of `args`.
    fn call(&self, b: &mut FunctionBuilder<'_>, lanes: Lanes, fref: FuncRef, args: &[Value]) -> Value {
        if lanes == Lanes::SCALAR {
            let call = b.ins().call(fref, args);
            return b.inst_results(call)[0];
        }
        let mut results = Vec::with_capacity(2);
        for lane in 0..2u8 {
            let scalars: Vec<Value> = args.iter().map(|a| b.ins().extractlane(*a, lane)).collect();
            let call = b.ins().call(fref, &scalars);
            results.push(b.inst_results(call)[0]);
        }
        join(b, &results)
    }

    /// `fast` where every lane of `a` is below `TRIG_LIMIT` in magnitude (NaN is not), else
    /// the shim on every lane (which is `ops::math::sin` or `cos`: for the lanes below the
    /// limit, the same bits as `fast`). A branch, not a selection: the shim is rarely needed.
    fn below_trig_limit_or_call(
        &self,
        b: &mut FunctionBuilder<'_>,
        lanes: Lanes,
        a: &[Value],
        fast: Values,
        fref: FuncRef,
    ) -> Values {
        let limit = lanes.f(b, crate::ops::math::consts::TRIG_LIMIT);
        let mut all: Option<Value> = None;
        for v in a {
            let magnitude = b.ins().fabs(*v);
            let below = b.ins().fcmp(FloatCC::LessThan, magnitude, limit);
            let below = if lanes.vector() { b.ins().vall_true(below) } else { below };
            all = Some(match all {
                None => below,
                Some(previous) => b.ins().band(previous, below),
            });
        }
        let all = all.expect("at least one value");
        let slow = b.create_block();
        let merge = b.create_block();
        for _ in &fast {
            b.append_block_param(merge, lanes.0);
        }
        let fast_args: Vec<BlockArg> = fast.iter().map(|v| BlockArg::Value(*v)).collect();
        b.ins().brif(all, merge, &fast_args, slow, &[]);
        b.switch_to_block(slow);
        let called: Vec<BlockArg> = a.iter().map(|v| BlockArg::Value(self.call(b, lanes, fref, &[*v]))).collect();
        b.ins().jump(merge, &called);
        b.switch_to_block(merge);
        b.block_params(merge).to_vec()
    }

    /// Memory flags for values of `lanes`: a pair of f64 is only 8-byte aligned in a column
    /// (and SSE folds a load marked aligned into instructions that fault when it is not).
    fn flags_for(&self, lanes: Lanes) -> MemFlagsData {
        if lanes == Lanes::SCALAR { self.flags } else { MemFlagsData::new().with_notrap() }
    }

    /// Loads a column's values at `offset` from `base`, one per copy.
    fn load(&self, b: &mut FunctionBuilder<'_>, lanes: Lanes, copies: usize, base: Value, offset: Value) -> Values {
        let addr = b.ins().iadd(base, offset);
        let flags = self.flags_for(lanes);
        (0..copies).map(|c| b.ins().load(lanes.0, flags, addr, (c * 16) as i32)).collect()
    }

    /// One instruction, for one point or `copies` pairs.
    fn emit(
        &self,
        b: &mut FunctionBuilder<'_>,
        lanes: Lanes,
        copies: usize,
        values: &[Option<Values>],
        i: usize,
        offset: Option<Value>,
    ) -> Values {
        let get = |v: &crate::ir::ValueId| values[v.index()].clone().expect("operands come first");
        let map = |b: &mut FunctionBuilder<'_>, a: &[Value], f: &dyn Fn(&mut FunctionBuilder<'_>, Value) -> Value| {
            a.iter().map(|v| f(b, *v)).collect::<Values>()
        };
        match self.kernel.insts[i] {
            Inst::Const(c) => vec![lanes.f(b, c)],
            Inst::Param(p) => {
                let v = b.ins().load(types::F64, self.flags, self.params_ptr, (p.index() * 8) as i32);
                vec![if lanes == Lanes::SCALAR { v } else { b.ins().splat(types::F64X2, v) }]
            }
            Inst::Var(v) => self.load(b, lanes, copies, self.var_bases[v.index()], offset.expect("in the loop")),
            Inst::Response => self.load(b, lanes, copies, self.y_ptr, offset.expect("in the loop")),
            Inst::Unary(op, a) => {
                let a = get(&a);
                match op {
                    UnaryOp::Neg => map(b, &a, &|b, v| b.ins().fneg(v)),
                    UnaryOp::Abs => map(b, &a, &|b, v| b.ins().fabs(v)),
                    UnaryOp::Sqrt => map(b, &a, &|b, v| b.ins().sqrt(v)),
                    UnaryOp::Exp => math::exp(b, lanes, &a),
                    UnaryOp::Ln => math::ln(b, lanes, &a),
                    UnaryOp::Sin => {
                        let fast = math::sin_reduced(b, lanes, &a);
                        self.below_trig_limit_or_call(b, lanes, &a, fast, self.callees[&i])
                    }
                    UnaryOp::Cos => {
                        let fast = math::cos_reduced(b, lanes, &a);
                        self.below_trig_limit_or_call(b, lanes, &a, fast, self.callees[&i])
                    }
                    UnaryOp::Sign => {
                        let zero = [lanes.f(b, 0.0)];
                        let one = [lanes.f(b, 1.0)];
                        let minus_one = [lanes.f(b, -1.0)];
                        let neg_or_self = lanes.choose(b, FloatCC::LessThan, &a, &zero, &minus_one, &a);
                        lanes.choose(b, FloatCC::GreaterThan, &a, &zero, &one, &neg_or_self)
                    }
                    _ => map(b, &a, &|b, v| self.call(b, lanes, self.callees[&i], &[v])),
                }
            }
            Inst::Binary(op, a, c) => {
                let (a, c) = (get(&a), get(&c));
                match op {
                    BinaryOp::Add => each(b, &a, &c, |b, x, y| b.ins().fadd(x, y)),
                    BinaryOp::Sub => each(b, &a, &c, |b, x, y| b.ins().fsub(x, y)),
                    BinaryOp::Mul => each(b, &a, &c, |b, x, y| b.ins().fmul(x, y)),
                    BinaryOp::Div => each(b, &a, &c, |b, x, y| b.ins().fdiv(x, y)),
                    BinaryOp::Min => each(b, &a, &c, |b, x, y| b.ins().fmin(x, y)),
                    BinaryOp::Max => each(b, &a, &c, |b, x, y| b.ins().fmax(x, y)),
                    BinaryOp::Less => {
                        let one = [lanes.f(b, 1.0)];
                        let zero = [lanes.f(b, 0.0)];
                        lanes.choose(b, FloatCC::LessThan, &a, &c, &one, &zero)
                    }
                    BinaryOp::XLogY => {
                        // a·ln(b), and 0 where a == 0 (ln is computed either way).
                        let ln = math::ln(b, lanes, &c);
                        let product = each(b, &a, &ln, |b, x, y| b.ins().fmul(x, y));
                        let zero = [lanes.f(b, 0.0)];
                        lanes.choose(b, FloatCC::Equal, &a, &zero, &zero, &product)
                    }
                    BinaryOp::Pow
                    | BinaryOp::Atan2
                    | BinaryOp::FaddeevaRe
                    | BinaryOp::FaddeevaIm
                    | BinaryOp::Polygamma => each(b, &a, &c, |b, x, y| self.call(b, lanes, self.callees[&i], &[x, y])),
                }
            }
        }
    }

    /// What one step of the loop writes, for one point or `copies` pairs; for an accumulating
    /// kernel, the terms it adds: one value per copy (or one shared) for each slot, in slot order.
    #[allow(clippy::too_many_arguments)]
    fn outputs(
        &self,
        b: &mut FunctionBuilder<'_>,
        lanes: Lanes,
        copies: usize,
        values: &[Option<Values>],
        i_param: Value,
        offset: Value,
    ) -> Vec<Values> {
        let (kernel, flags) = (self.kernel, self.flags);
        let p = kernel.n_params();
        let f = values[kernel.outputs.value.index()].clone().expect("f is live");
        let vector = lanes != Lanes::SCALAR;
        // w_i and r_i = w_i·(f − t(y_i)): the same instructions in every residual kernel.
        let weight_and_residual = |b: &mut FunctionBuilder<'_>| {
            let target = match kernel.outputs.response {
                Some(t) => values[t.index()].clone().expect("t(y) is live"),
                None => self.load(b, lanes, copies, self.y_ptr, offset),
            };
            let diff = each(b, &f, &target, |b, x, y| b.ins().fsub(x, y));
            if !self.weighted {
                return (None, diff);
            }
            let w_offset = b.ins().imul(i_param, self.w_stride);
            let w_addr = b.ins().iadd(self.w_ptr, w_offset);
            let w: Values = if !vector {
                vec![b.ins().load(types::F64, flags, w_addr, 0)]
            } else {
                let mut addr = w_addr;
                (0..copies)
                    .map(|_| {
                        let first = b.ins().load(types::F64, flags, addr, 0);
                        addr = b.ins().iadd(addr, self.w_stride);
                        let second = b.ins().load(types::F64, flags, addr, 0);
                        addr = b.ins().iadd(addr, self.w_stride);
                        join(b, &[first, second])
                    })
                    .collect()
            };
            let r = each(b, &w, &diff, |b, x, y| b.ins().fmul(x, y));
            (Some(w), r)
        };
        // Stores one value per copy at `base + offset`.
        let store = |b: &mut FunctionBuilder<'_>, base: Value, v: &[Value]| {
            let addr = b.ins().iadd(base, offset);
            for c in 0..copies {
                b.ins().store(self.flags_for(lanes), at(v, c), addr, (c * 16) as i32);
            }
        };
        let mut terms: Vec<Values> = Vec::new();
        match self.kind {
            KernelKind::Predict => store(b, self.out_a, &f),
            KernelKind::Residuals => {
                let (_, r) = weight_and_residual(b);
                store(b, self.out_a, &r);
            }
            KernelKind::SumOfSquares => {
                let (_, r) = weight_and_residual(b);
                terms.push(each(b, &r, &r, |b, x, y| b.ins().fmul(x, y)));
            }
            KernelKind::RobustCost => {
                let (_, r) = weight_and_residual(b);
                let (code, c2) = self.loss_params.expect("robust kernels load their loss");
                let (code, c2) = (splat_like(b, lanes, code), splat_like(b, lanes, c2));
                terms.push(r.iter().map(|r| self.call(b, lanes, self.loss_refs[0], &[code, c2, *r])).collect());
            }
            KernelKind::ResidualJacobian | KernelKind::NormalEquations | KernelKind::RobustNormalEquations => {
                let (w, r) = weight_and_residual(b);
                let row: Vec<Values> = kernel
                    .outputs
                    .derivatives
                    .iter()
                    .map(|d| {
                        let d = values[d.index()].clone().expect("derivatives are live");
                        match &w {
                            Some(w) => each(b, w, &d, |b, x, y| b.ins().fmul(x, y)),
                            None => d,
                        }
                    })
                    .collect();
                if self.kind == KernelKind::ResidualJacobian {
                    store(b, self.out_a, &r);
                    let row_offset = b.ins().imul_imm_u(i_param, (p * 8) as i64);
                    let row_addr = b.ins().iadd(self.out_b, row_offset);
                    let lane_count = if vector { 2 } else { 1 };
                    for c in 0..copies {
                        for lane in 0..lane_count {
                            let point = c * lane_count + lane;
                            for (k, v) in row.iter().enumerate() {
                                let v = at(v, c);
                                let v = if vector { b.ins().extractlane(v, lane as u8) } else { v };
                                b.ins().store(flags, v, row_addr, ((point * p + k) * 8) as i32);
                            }
                        }
                    }
                } else {
                    // Under a robust loss: rows × row scale, the scaled residual, and the cost
                    // term in the last slot (PointSums::add_point_with_cost's order).
                    let (row, r, last) = match self.loss_params {
                        Some((code, c2)) => {
                            let (code, c2) = (splat_like(b, lanes, code), splat_like(b, lanes, c2));
                            let mut call = |k: usize| -> Values {
                                r.iter().map(|r| self.call(b, lanes, self.loss_refs[k], &[code, c2, *r])).collect()
                            };
                            let (cost, scaled, row_scale) = (call(0), call(1), call(2));
                            let row: Vec<Values> =
                                row.iter().map(|v| each(b, v, &row_scale, |b, x, y| b.ins().fmul(x, y))).collect();
                            (row, scaled, Some(cost))
                        }
                        None => (row, r, None),
                    };
                    // [JᵀJ (upper) | Jᵀr | Σr²], each sum in PointSums::add_point's order.
                    let mut accumulate = |b: &mut FunctionBuilder<'_>, x: &[Value], y: &[Value]| {
                        terms.push(each(b, x, y, |b, x, y| b.ins().fmul(x, y)));
                    };
                    for a in 0..p {
                        for c in a..p {
                            accumulate(b, &row[a], &row[c]);
                        }
                        accumulate(b, &row[a], &r);
                    }
                    match last {
                        Some(cost) => terms.push(cost),
                        None => accumulate(b, &r, &r),
                    }
                }
            }
        }
        terms
    }
}

/// Two scalars as the lanes of one `f64x2`.
fn join(b: &mut FunctionBuilder<'_>, lanes: &[Value]) -> Value {
    let v = b.ins().scalar_to_vector(types::F64X2, lanes[0]);
    b.ins().insertlane(v, lanes[1], 1)
}

/// A scalar in the lanes of `lanes`.
fn splat_like(b: &mut FunctionBuilder<'_>, lanes: Lanes, v: Value) -> Value {
    if lanes == Lanes::SCALAR { v } else { b.ins().splat(types::F64X2, v) }
}
