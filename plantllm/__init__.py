"""plantllm: plant DNA language models from genome to breeding decisions.

Data flows one way: species -> datasets -> model -> training -> applications.
"""

__version__ = "0.1.0"
