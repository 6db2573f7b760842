"""Built-in feature maps."""

from kernelops.plugins.hookspecs import Register, hookimpl


@hookimpl
def register_feature_maps(register: Register) -> None:
    register("rff", "kernelops.features.rff:RandomFourierFeatures",
             description="random Fourier features of the Gaussian (RBF) or Laplace kernel")
    register("linear", "kernelops.features.linear:LinearFeatures",
             description="identity features phi(x) = x, optionally with a constant")
    register("indicator", "kernelops.operators.discrete:IndicatorFeatures",
             description="one-hot features of integer states (finite-state Markov chains and HMMs)")
    register("spectral_mlp", "kernelops.features.spectral_mlp:SpectralMLP",
             description="time- and operator-conditioned complex MLP features (spectral mean flow)")
