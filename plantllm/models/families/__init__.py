"""Published model families implemented natively (no remote code); importing this package registers
them with the Hugging Face Auto classes."""

from plantllm.models.families import caduceus  # Caduceus / PlantCaduceus v1
from plantllm.models.families import gpn

#: model_type values implemented here (a family module adds its own)
MODEL_TYPES = {*gpn.MODEL_TYPES, *caduceus.MODEL_TYPES}
