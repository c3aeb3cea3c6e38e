"""inference layer: the engine every application runs its models through."""
