"""Built-in probability paths (t = 0 source noise, t = 1 data)."""

from kernelops.plugins.hookspecs import Register, hookimpl


@hookimpl
def register_paths(register: Register) -> None:
    register("ot", "kernelops.paths.affine:OTPath", aliases=("cond_ot",),
             description="conditional optimal transport: x_t = t x1 + (1 - (1 - sigma_min) t) x0")
    register("vp", "kernelops.paths.affine:VPPath",
             description="variance preserving, beta linear from 0.1 to 20")
    register("ve", "kernelops.paths.affine:VEPath",
             description="variance exploding, sigma geometric from sigma_min to sigma_max")
