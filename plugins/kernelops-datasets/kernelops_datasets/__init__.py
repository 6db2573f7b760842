"""kernelops-datasets: the real benchmark datasets of kernelops, as a plugin.

kernelops finds this module through the entry point ``[project.entry-points.kernelops]
datasets = "kernelops_datasets"`` and calls :func:`register_datasets`, exactly as for any
third-party plugin. The factories are lazy ``"module:Object"`` strings, so discovering the
plugin reads no file and imports neither numpy nor scipy; a dataset's file is read when the
dataset is built.

Modules: :mod:`kernelops_datasets.loaders` (one factory per dataset, returning a
:class:`kernelops.data.WindowDataset`), :mod:`kernelops_datasets.locate` (where the files are,
``$KERNELOPS_DATA_DIR``), :mod:`kernelops_datasets.tsf` (the Monash ``.tsf`` reader). The files
and their licence notes are in ``kernelops_datasets/files``.
"""

from __future__ import annotations

import kernelops
from kernelops.plugins.hookspecs import Register

__version__ = "0.1.0"


@kernelops.hookimpl
def register_datasets(register: Register) -> None:
    """Register the seven real datasets (Table 1 short windows, Table 3 long series)."""
    loaders = "kernelops_datasets.loaders"
    # Table 1 (24-step windows, per-feature min-max over the whole series, Diffusion-TS reading)
    register("stocks", f"{loaders}:Stocks",
             description="Google daily stock prices, 6 features (TimeGAN stock_data.csv)")
    register("etth", f"{loaders}:ETTh", aliases=("etth1",),
             description="electricity transformer temperature ETTh1, hourly, 7 features (CC BY-ND 4.0)")
    register("energy", f"{loaders}:Energy",
             description="UCI appliances energy use, 10-minute steps, 28 features")
    register("fmri", f"{loaders}:FMRI",
             description="NetSim sim4 BOLD signals, 50 nodes, 10 000 steps")
    register("mujoco", f"{loaders}:MuJoCo",
             description="passive MuJoCo hopper trajectories, 14 features (generated, dm_control)")
    # Table 3 (long univariate series, each z-scored; seq_len=None gives full-length sequences)
    register("fred_md", f"{loaders}:FredMD",
             description="FRED-MD monthly macro series (Monash), 107 x 728, long-series protocol")
    register("nn5_daily", f"{loaders}:NN5Daily",
             description="NN5 daily ATM withdrawals (Monash), 111 x 791, long-series protocol")
