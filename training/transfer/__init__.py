"""What fine-tuning does to an encoder: per-layer vectors (the feature cache), before/after maps,
probes, feature extraction, learning curves and crosslingual scores."""
