//! The model library: lineshapes and curves written in the model language, callable from any
//! model without being defined (`gaussian(x, A1, c1, s1) + gaussian(x, A2, c2, s2) + b`).
//! Parameters follow lmfit's conventions (`lmfit.lineshapes`): the variable first, then lmfit's
//! parameters in lmfit's order, `amplitude` the area under a peak. A function the model
//! defines with the same name takes precedence. Bodies use only their arguments, constants
//! and the language's functions (and earlier library functions), so a call adds no
//! parameter of its own.

use super::ast::Ast;
use std::sync::LazyLock;

/// One function of the library.
pub struct LibraryFunction {
    pub name: &'static str,
    pub args: &'static [&'static str],
    pub body: &'static str,
    /// What it is, in one line (for `jitfit models`).
    pub doc: &'static str,
}

/// The library, in the order `jitfit models` lists it.
pub const LIBRARY: &[LibraryFunction] = &[
    LibraryFunction {
        name: "gaussian",
        args: &["x", "amplitude", "center", "sigma"],
        body: "amplitude/(sigma*sqrt(2*pi))*exp(-(x - center)^2/(2*sigma^2))",
        doc: "Gaussian peak of area `amplitude` (lmfit GaussianModel); FWHM = 2.3548·sigma",
    },
    LibraryFunction {
        name: "lorentzian",
        args: &["x", "amplitude", "center", "sigma"],
        body: "amplitude/(pi*sigma)/(1 + ((x - center)/sigma)^2)",
        doc: "Lorentzian (Cauchy) peak of area `amplitude`, half width `sigma` (lmfit LorentzianModel)",
    },
    LibraryFunction {
        name: "pseudo_voigt",
        args: &["x", "amplitude", "center", "sigma", "fraction"],
        body: "(1 - fraction)*gaussian(x, amplitude, center, sigma/sqrt(2*log(2))) \
               + fraction*lorentzian(x, amplitude, center, sigma)",
        doc: "Lorentzian fraction `fraction` plus Gaussian of the same FWHM 2·sigma (lmfit PseudoVoigtModel)",
    },
    LibraryFunction {
        name: "voigt",
        args: &["x", "amplitude", "center", "sigma", "gamma"],
        body: "amplitude*faddeeva_re((x - center)/(sigma*sqrt(2)), gamma/(sigma*sqrt(2)))/(sigma*sqrt(2*pi))",
        doc: "Voigt peak of area `amplitude`: Gaussian `sigma` convolved with Lorentzian `gamma`, exact \
              (the Faddeeva function; lmfit VoigtModel with gamma free, scipy voigt_profile)",
    },
    LibraryFunction {
        name: "pearson7",
        args: &["x", "amplitude", "center", "sigma", "expon"],
        body: "amplitude*exp(lgamma(expon) - lgamma(expon - 0.5))/(sqrt(pi)*sigma)*(1 + ((x - center)/sigma)^2)^(-expon)",
        doc: "Pearson VII peak of area `amplitude`, shape exponent `expon` > 1/2 (1: Lorentzian; \
              large: Gaussian) (lmfit Pearson7Model)",
    },
    LibraryFunction {
        name: "digamma",
        args: &["x"],
        body: "polygamma(0, x)",
        doc: "digamma function ψ(x) = d ln Γ(x)/dx (scipy.special.digamma)",
    },
    LibraryFunction {
        name: "erfcx",
        args: &["x"],
        body: "faddeeva_re(0, x)",
        doc: "scaled complementary error function exp(x²)·erfc(x), without overflow for large x",
    },
    LibraryFunction {
        name: "expgaussian",
        args: &["x", "amplitude", "center", "sigma", "gamma"],
        // B = (center + γσ² − x)/(√2σ). For B ≥ 0: exp(−(x − center)²/(2σ²))·erfcx(B); for
        // B < 0: lmfit's exp(γ(center − x + γσ²/2))·erfc(B), whose exponent is then negative.
        // Each form is evaluated only where it cannot overflow (max, min), and weighted by
        // (1 ± sign(B))/2 — they agree at B = 0.
        body: "amplitude*gamma/2*((1 + sign(center + gamma*sigma^2 - x))/2*exp(-(x - center)^2/(2*sigma^2))\
               *erfcx(max((center + gamma*sigma^2 - x)/(sqrt(2)*sigma), 0)) \
               + (1 - sign(center + gamma*sigma^2 - x))/2*exp(min(gamma*(center - x + gamma*sigma^2/2), 0))\
               *erfc(min((center + gamma*sigma^2 - x)/(sqrt(2)*sigma), 0)))",
        doc: "exponentially modified Gaussian of area `amplitude`, decay rate `gamma` (lmfit \
              ExponentialGaussianModel), computed without overflow in either tail",
    },
    LibraryFunction {
        name: "gaussian2d",
        args: &["x", "y", "amplitude", "centerx", "centery", "sigmax", "sigmay"],
        body: "amplitude/(2*pi*sigmax*sigmay)*exp(-(x - centerx)^2/(2*sigmax^2) - (y - centery)^2/(2*sigmay^2))",
        doc: "2-D Gaussian of volume `amplitude`, axis-aligned (lmfit Gaussian2dModel)",
    },
    LibraryFunction {
        name: "gaussian2d_rotated",
        args: &["x", "y", "amplitude", "centerx", "centery", "sigmax", "sigmay", "rotation"],
        body: "amplitude/(2*pi*sigmax*sigmay)*exp(-((x - centerx)*cos(rotation) + (y - centery)*sin(rotation))^2/(2*sigmax^2) \
               - ((y - centery)*cos(rotation) - (x - centerx)*sin(rotation))^2/(2*sigmay^2))",
        doc: "2-D Gaussian of volume `amplitude`, its sigmax axis at angle `rotation` (radians) from x",
    },
    LibraryFunction {
        name: "damped_oscillator",
        args: &["x", "amplitude", "center", "sigma"],
        body: "amplitude/sqrt((1 - (x/center)^2)^2 + (2*sigma*x/center)^2)",
        doc: "amplitude of a driven damped harmonic oscillator (lmfit DampedOscillatorModel)",
    },
    LibraryFunction {
        name: "exponential",
        args: &["x", "amplitude", "decay"],
        body: "amplitude*exp(-x/decay)",
        doc: "exponential decay with time constant `decay` (lmfit ExponentialModel)",
    },
    LibraryFunction {
        name: "stretched_exponential",
        args: &["x", "amplitude", "tau", "beta"],
        body: "amplitude*exp(-(x/tau)^beta)",
        doc: "Kohlrausch stretched exponential, 0 < beta ≤ 1 for x ≥ 0",
    },
    LibraryFunction {
        name: "powerlaw",
        args: &["x", "amplitude", "exponent"],
        body: "amplitude*x^exponent",
        doc: "power law (lmfit PowerLawModel)",
    },
    LibraryFunction {
        name: "linear",
        args: &["x", "slope", "intercept"],
        body: "slope*x + intercept",
        doc: "straight line (lmfit LinearModel)",
    },
    LibraryFunction {
        name: "quadratic",
        args: &["x", "a", "b", "c"],
        body: "a*x^2 + b*x + c",
        doc: "parabola (lmfit QuadraticModel)",
    },
    LibraryFunction {
        name: "polynomial2",
        args: &["x", "c0", "c1", "c2"],
        body: "c0 + x*(c1 + x*(c2))",
        doc: "polynomial of degree 2, c0 + c1·x + … (lmfit PolynomialModel(degree=2)), by Horner's rule",
    },
    LibraryFunction {
        name: "polynomial3",
        args: &["x", "c0", "c1", "c2", "c3"],
        body: "c0 + x*(c1 + x*(c2 + x*(c3)))",
        doc: "polynomial of degree 3, c0 + c1·x + … (lmfit PolynomialModel(degree=3)), by Horner's rule",
    },
    LibraryFunction {
        name: "polynomial4",
        args: &["x", "c0", "c1", "c2", "c3", "c4"],
        body: "c0 + x*(c1 + x*(c2 + x*(c3 + x*(c4))))",
        doc: "polynomial of degree 4, c0 + c1·x + … (lmfit PolynomialModel(degree=4)), by Horner's rule",
    },
    LibraryFunction {
        name: "polynomial5",
        args: &["x", "c0", "c1", "c2", "c3", "c4", "c5"],
        body: "c0 + x*(c1 + x*(c2 + x*(c3 + x*(c4 + x*(c5)))))",
        doc: "polynomial of degree 5, c0 + c1·x + … (lmfit PolynomialModel(degree=5)), by Horner's rule",
    },
    LibraryFunction {
        name: "polynomial6",
        args: &["x", "c0", "c1", "c2", "c3", "c4", "c5", "c6"],
        body: "c0 + x*(c1 + x*(c2 + x*(c3 + x*(c4 + x*(c5 + x*(c6))))))",
        doc: "polynomial of degree 6, c0 + c1·x + … (lmfit PolynomialModel(degree=6)), by Horner's rule",
    },
    LibraryFunction {
        name: "polynomial7",
        args: &["x", "c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"],
        body: "c0 + x*(c1 + x*(c2 + x*(c3 + x*(c4 + x*(c5 + x*(c6 + x*(c7)))))))",
        doc: "polynomial of degree 7, c0 + c1·x + … (lmfit PolynomialModel(degree=7)), by Horner's rule",
    },
    LibraryFunction {
        name: "step_erf",
        args: &["x", "amplitude", "center", "sigma"],
        body: "amplitude*(1 + erf((x - center)/sigma))/2",
        doc: "error-function step from 0 to `amplitude` (lmfit StepModel, form='erf')",
    },
    LibraryFunction {
        name: "step_logistic",
        args: &["x", "amplitude", "center", "sigma"],
        body: "amplitude*(1 - 1/(1 + exp((x - center)/sigma)))",
        doc: "logistic step from 0 to `amplitude` (lmfit StepModel, form='logistic')",
    },
    LibraryFunction {
        name: "step_atan",
        args: &["x", "amplitude", "center", "sigma"],
        body: "amplitude*(1/2 + atan((x - center)/sigma)/pi)",
        doc: "arctangent step from 0 to `amplitude` (lmfit StepModel, form='atan')",
    },
    LibraryFunction {
        name: "hill",
        args: &["x", "bottom", "top", "ec50", "n"],
        body: "bottom + (top - bottom)*x^n/(ec50^n + x^n)",
        doc: "Hill equation / four-parameter logistic (4PL) dose response, x ≥ 0",
    },
    LibraryFunction {
        name: "michaelis_menten",
        args: &["x", "vmax", "km"],
        body: "vmax*x/(km + x)",
        doc: "Michaelis–Menten rate at substrate concentration x",
    },
    LibraryFunction {
        name: "sine",
        args: &["x", "amplitude", "frequency", "shift"],
        body: "amplitude*sin(frequency*x + shift)",
        doc: "sine wave, `frequency` in radians per unit of x (lmfit SineModel)",
    },
];

/// A library function with its body parsed.
pub struct Parsed {
    pub function: &'static LibraryFunction,
    pub ast: Ast,
}

static PARSED: LazyLock<Vec<Parsed>> = LazyLock::new(|| {
    LIBRARY
        .iter()
        .map(|function| Parsed {
            function,
            ast: super::parse(function.body).unwrap_or_else(|e| panic!("library `{}`: {e}", function.name)),
        })
        .collect()
});

/// The library function called `name`, parsed.
pub fn lookup(name: &str) -> Option<&'static Parsed> {
    if !LIBRARY.iter().any(|f| f.name == name) {
        return None;
    }
    PARSED.iter().find(|p| p.function.name == name)
}
