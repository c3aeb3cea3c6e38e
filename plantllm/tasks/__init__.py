"""Task dataset builders: promoter, motif and variant datasets (see also ``plantllm.windows``)."""
