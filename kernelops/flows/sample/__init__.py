"""Sampling a velocity field: the seeded ODE draw (:mod:`.ode`), its split across processes
(:mod:`.shard`) and conditional sampling given observed entries (:mod:`.conditional`)."""
