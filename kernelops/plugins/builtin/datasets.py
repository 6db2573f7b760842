"""Built-in datasets: Sines is generated; the real ones read files shipped in kernelops/data/files."""

from kernelops.plugins.hookspecs import hookimpl


@hookimpl
def register_datasets(register):
    register("sines", "kernelops.data.sines:Sines",
             description="5-channel sines with random frequency and phase (TimeGAN protocol)")
    # Table 1 (24-step windows, per-feature min-max over the whole series, Diffusion-TS reading)
    register("stocks", "kernelops.data.real:Stocks",
             description="Google daily stock prices, 6 features (TimeGAN stock_data.csv)")
    register("etth", "kernelops.data.real:ETTh", aliases=("etth1",),
             description="electricity transformer temperature ETTh1, hourly, 7 features (CC BY-ND 4.0)")
    register("energy", "kernelops.data.real:Energy",
             description="UCI appliances energy use, 10-minute steps, 28 features")
    register("fmri", "kernelops.data.real:FMRI",
             description="NetSim sim4 BOLD signals, 50 nodes, 10 000 steps")
    register("mujoco", "kernelops.data.real:MuJoCo",
             description="passive MuJoCo hopper trajectories, 14 features (generated, dm_control)")
    # Table 3 (long univariate series, each z-scored; seq_len=None gives full-length sequences)
    register("fred_md", "kernelops.data.real:FredMD",
             description="FRED-MD monthly macro series (Monash), 107 x 728, long-series protocol")
    register("nn5_daily", "kernelops.data.real:NN5Daily",
             description="NN5 daily ATM withdrawals (Monash), 111 x 791, long-series protocol")
