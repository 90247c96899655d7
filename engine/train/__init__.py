"""Training: data windows from a corpus, a generic Accelerate loop, and one trainer per model."""
