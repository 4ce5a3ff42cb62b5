"""Semantic masks for photostyle: palettes, label maps, mask pyramids and automatic segmentation."""
