"""Training dynamics at infinite width: neural-tangents' ``predict`` API in PyTorch.

Same names, arguments and conventions as ``neural_tangents.predict`` (time in units of the
learning rate; MSE = ½·mean over all entries of y; ``diag_reg`` relative to the mean diagonal;
eigenvalues clipped at 0; ``t=None`` is t → ∞), so code ports by changing the import::

    from occamlab import kernels as K
    from occamlab.kernels import predict

    arch = K.mlp(3, "relu", w_std=2**.5)
    fn = predict.gradient_descent_mse_ensemble(arch, x_train, y_train, diag_reg=1e-4)
    mean, cov = fn(t=[0, 10, 100, float("inf")], x_test=x_test, get="ntk",
                   compute_cov=True)

Lee et al. 2019 (arXiv 1902.06720) §2.3–2.4 for the equations.
"""

from occamlab.kernels._predict import (
    Gaussian,
    gp_inference,
    gradient_descent_mse,
    gradient_descent_mse_ensemble,
    max_learning_rate,
)
from occamlab.kernels._predict_ode import gradient_descent

__all__ = ["Gaussian", "gp_inference", "gradient_descent", "gradient_descent_mse",
           "gradient_descent_mse_ensemble", "max_learning_rate"]
