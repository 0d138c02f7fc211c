"""synthembed: train decoder LLMs into text embedders the E5-mistral way (Wang et al., 2024)."""

__version__ = "0.1.0"
