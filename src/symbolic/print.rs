//! Infix text of DAG nodes, for `jitfit explain` and error messages. Shared subexpressions are
//! written out where used; each text is capped so a deeply shared DAG cannot blow up.

use super::graph::{Graph, Node, NodeId};
use crate::ops::{BinaryOp, UnaryOp};

const MAX_TEXT: usize = 2000;
/// Expressions of more nodes are not written out at all.
const MAX_SHOWN_NODES: usize = 20_000;

/// Precedence of the text's top operator, for parenthesization.
#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Prec {
    Add,
    Mul,
    Neg,
    Pow,
    Atom,
}

impl Graph {
    /// Writes `root` as infix text, naming variables, parameters and the response.
    pub fn to_text(&self, root: NodeId, vars: &[String], params: &[String], response: &str) -> String {
        let live = self.reachable([root]);
        // Each node's text is kept until the root's is built: capped at MAX_TEXT each, a huge
        // DAG would still hold hundreds of MB of text nobody reads.
        let n_live = live.iter().filter(|l| **l).count();
        if n_live > MAX_SHOWN_NODES {
            return format!("… (an expression of {n_live} nodes: too large to show)");
        }
        let mut text: Vec<(String, Prec)> = vec![(String::new(), Prec::Atom); root.index() + 1];
        for i in 0..=root.index() {
            if !live[i] {
                continue;
            }
            let wrap = |t: &(String, Prec), min: Prec| {
                if t.1 < min { format!("({})", t.0) } else { t.0.clone() }
            };
            let entry = match self.nodes()[i] {
                Node::Const(bits) => {
                    let v = f64::from_bits(bits);
                    let s = format!("{v}");
                    (s, if v < 0.0 { Prec::Neg } else { Prec::Atom })
                }
                Node::Var(v) => (vars.get(v.index()).cloned().unwrap_or_else(|| format!("x{}", v.0)), Prec::Atom),
                Node::Param(p) => (params.get(p.index()).cloned().unwrap_or_else(|| format!("p{}", p.0)), Prec::Atom),
                Node::Response => (response.to_owned(), Prec::Atom),
                Node::Unary(UnaryOp::Neg, a) => (format!("-{}", wrap(&text[a.index()], Prec::Pow)), Prec::Neg),
                Node::Unary(op, a) => (format!("{}({})", op.name(), text[a.index()].0), Prec::Atom),
                Node::Binary(op, a, b) => {
                    let (ta, tb) = (&text[a.index()], &text[b.index()]);
                    match op {
                        BinaryOp::Add => (format!("{} + {}", ta.0, wrap(tb, Prec::Mul)), Prec::Add),
                        BinaryOp::Sub => (format!("{} - {}", ta.0, wrap(tb, Prec::Mul)), Prec::Add),
                        BinaryOp::Mul => (format!("{}*{}", wrap(ta, Prec::Mul), wrap(tb, Prec::Neg)), Prec::Mul),
                        BinaryOp::Div => (format!("{}/{}", wrap(ta, Prec::Mul), wrap(tb, Prec::Pow)), Prec::Mul),
                        BinaryOp::Pow => (format!("{}^{}", wrap(ta, Prec::Atom), wrap(tb, Prec::Pow)), Prec::Pow),
                        _ => (format!("{}({}, {})", op.name(), ta.0, tb.0), Prec::Atom),
                    }
                }
            };
            let mut entry = entry;
            if entry.0.len() > MAX_TEXT {
                let mut cut = MAX_TEXT;
                while !entry.0.is_char_boundary(cut) {
                    cut -= 1;
                }
                entry.0.truncate(cut);
                entry.0.push('…');
            }
            text[i] = entry;
        }
        std::mem::take(&mut text[root.index()].0)
    }
}
