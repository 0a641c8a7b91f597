"""What a training run is made of on disk and on devices: checkpoints and restore (the one way to
load a run), the workdir lock, paths (local or gs://), event files, metric writers, the runtime
(mesh, shardings, RNG streams), mixed precision and the loop's lifecycle helpers."""
