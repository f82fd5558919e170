"""The colorizer's networks: architectures, the named presets, and the pretrained store (loading, export)."""
