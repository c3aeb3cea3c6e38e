"""apps layer."""

#: the module a launcher starts for each rank of an inference job (see ``inference.engine.Job.execute``)
WORKER = "plantllm.apps.worker"
