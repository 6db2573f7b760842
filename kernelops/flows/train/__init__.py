"""Training a velocity field: the loop (:mod:`.loop`), its state — EMA, learning-rate schedule,
random streams (:mod:`.state`) — and data-parallel training (:mod:`.ddp`)."""
