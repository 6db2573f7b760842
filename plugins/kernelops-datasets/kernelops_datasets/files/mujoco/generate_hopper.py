"""Regenerate ``hopper.npz``: passive MuJoCo hopper trajectories (Diffusion-TS "mujoco" recipe).

Not imported by kernelops (it needs ``dm-control`` and ``mujoco``, which kernelops does not
depend on); it records exactly how the shipped array was made. Run it in a scratch
environment::

    python -m venv /tmp/mj && /tmp/mj/bin/pip install dm-control==1.0.50 mujoco==3.17.0
    MUJOCO_GL=disable /tmp/mj/bin/python generate_hopper.py hopper.npz
    MUJOCO_GL=disable /tmp/mj/bin/python generate_hopper.py hopper100.npz 100   # 100-step trajectories

Recipe (docs/datasets.md, "MuJoCo"): ``dm_control.suite.load("hopper", "stand")``, only its physics;
numpy's global generator seeded with 123; for each trajectory, inside ``reset_context``,
qpos[:2] ~ U(0, 0.5) (root x and z), qpos[2:] ~ U(-2, 2), qvel ~ U(-5, 5); then 24 times:
record (qpos, qvel) and advance one physics step (no actions, zero controls). The result is
(10000, 24, 14) raw values, simulated in float64 and stored as float32 (rounding error
below 4e-6, far under what the metrics resolve; it halves the file); scaling happens in the
loader. The test set of the
reference protocol (1000 trajectories, same seed) equals the first 1000 rows. A second argument
sets the trajectory length (the imputation benchmark uses 100): the random draws come before the
steps, so the first 24 steps of every 100-step trajectory equal the shipped array's.
"""

from __future__ import annotations

import sys

import numpy as np


def generate(num: int = 10_000, seq_len: int = 24, seed: int = 123) -> np.ndarray:
    from dm_control import suite

    physics = suite.load("hopper", "stand").physics
    nq, nv = physics.data.qpos.shape[0], physics.data.qvel.shape[0]
    out = np.empty((num, seq_len, nq + nv), dtype=np.float64)
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        for i in range(num):
            with physics.reset_context():
                physics.data.qpos[:2] = np.random.uniform(0, 0.5, size=2)
                physics.data.qpos[2:] = np.random.uniform(-2, 2, size=nq - 2)
                physics.data.qvel[:] = np.random.uniform(-5, 5, size=nv)
            for t in range(seq_len):
                out[i, t, :nq] = physics.data.qpos
                out[i, t, nq:] = physics.data.qvel
                physics.step()
    finally:
        np.random.set_state(saved)
    return out


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


def main(path: str, seq_len: int = 24) -> None:
    import mujoco

    data = generate(seq_len=seq_len)
    names = [f"qpos{i}" for i in range(7)] + [f"qvel{i}" for i in range(7)]
    np.savez_compressed(
        path,
        trajectories=data.astype(np.float32),
        feature_names=np.array(names),
        versions=np.array([f"mujoco {mujoco.__version__}", f"dm_control {_version('dm-control')}", f"numpy {np.__version__}"]),
        seed=np.array(123),
    )
    print(path, data.shape, float(data.min()), float(data.max()))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "hopper.npz", int(sys.argv[2]) if len(sys.argv) > 2 else 24)
